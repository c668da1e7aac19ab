r"""Runners: where the PUBs of a :class:`~qsa.hardware.programs.Program` are executed.

A runner compiles a measured template once (:meth:`Runner.compile`: transpile to its ISA) and runs
a list of PUBs ``(compiled, parameter array)`` as **one job** (:meth:`Runner.submit`), returning
per PUB the *cell* probabilities ``P(index = j, zero wires = 0)``, shape ``(B, 2^n_index)``.

* :class:`SamplerRunner` -- any Qiskit V2 sampler (``BaseSamplerV2``): ``qiskit_aer``'s
  ``SamplerV2``, ``qiskit_ibm_runtime``'s server-side ``SamplerV2`` (deprecated in 0.50) or the
  client-side ``qiskit_ibm_runtime.executor_sampler.Sampler``, in local testing mode or on a device.
  Real multinomial samples; cells are frequencies of ``shots`` shots.
* :class:`ExactRunner` -- Aer statevector probabilities of the same templates: the exact mode the
  gradients are checked in against the analytic tier; with ``shots``, multinomial counts drawn
  from those probabilities by numpy (ideal sampling, an order of magnitude faster than
  SamplerV2, whose per-shot bitstrings dominate a large parameter-shift job).
* :class:`NoisyAerRunner` -- a V2 ``SamplerV2`` of Aer with the noise of an IBM (fake) backend on
  the physical qubits the transpiled circuits use (see :mod:`qsa.hardware.noise`).

The exported templates (:func:`qsa.circuits.to_qiskit.to_qiskit`) carry parameters only in
single-qubit rotations, and the runners compile them to :data:`qsa.circuits.to_qiskit.SAFE_BASIS`
or to a device ISA: Aer 0.18 drops the bound values of parameterised *controlled* gates
(qiskit-aer #2323/#2391/#2403), so a pass manager that brings them back is refused
(:func:`check_bindable`).

**Random streams.** A runner with a ``seed`` samples every job from its own stream,
``qsa.random.stream(seed, key)``, and every PUB of the job (the ``mu``, ``zeta``, ``nu`` circuits)
from an independent child of it (:func:`qsa.random.stream_seeds`). The key is the one
:class:`~qsa.hardware.HardwareEvaluator` passes (``(purpose, step, call)`` in training, so a resumed
run samples as the uninterrupted one), or, when none is given, the runner's own job count.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from qiskit import QuantumCircuit

from qsa import backends as _backends
from qsa.circuits.to_qiskit import unsafe_instructions
from qsa.hardware import noise
from qsa.hardware.estimators import zero_cells
from qsa.random import stream_seeds

__all__ = [
    "Compiled",
    "Pub",
    "Runner",
    "RunJob",
    "SamplerRunner",
    "ExactRunner",
    "NoisyAerRunner",
    "AerSamplerRunner",
    "aer_sampler_runner",
    "LazyPassManager",
    "check_bindable",
    "decode_sampler_result",
    "isa_compile",
]

logger = logging.getLogger(__name__)

CREG = "meas"  # the classical register the Qiskit exporter measures into


@dataclass(frozen=True, eq=False)
class Compiled:
    """A template compiled for a runner.

    Attributes:
        circuit: the circuit the runner executes (ISA; for exact mode without measurements).
        columns: for each parameter of ``circuit``, its column in the template's parameter array
            (a transpiler may drop a parameter whose gate it removed).
        n_index, n_zero: the readout (see :class:`qsa.circuits.QSACircuit`).
        logical_qubits: width of the template before transpiling.
        isa: the full-device ISA circuit (what is submitted to hardware), if different from ``circuit``.
        physical_qubits: device qubits ``circuit``'s qubits stand for (restricted simulation), if any.
    """

    circuit: QuantumCircuit
    columns: np.ndarray
    n_index: int
    n_zero: int
    logical_qubits: int
    isa: QuantumCircuit | None = None
    physical_qubits: tuple[int, ...] | None = None

    def values(self, template_values: np.ndarray) -> np.ndarray:
        """The compiled circuit's parameter array from the template's ``(B, P)`` array."""
        return np.ascontiguousarray(np.asarray(template_values)[:, self.columns])


@dataclass(frozen=True)
class Pub:
    compiled: Compiled
    values: np.ndarray  # template columns, (B, P)


def _columns(template: QuantumCircuit, compiled: QuantumCircuit) -> np.ndarray:
    position = {p.name: i for i, p in enumerate(template.parameters)}
    try:
        return np.array([position[p.name] for p in compiled.parameters], dtype=np.int64)
    except KeyError as exc:  # pragma: no cover - transpilers do not invent parameters
        raise RuntimeError(f"compiled circuit has a parameter the template lacks: {exc}") from None


def check_bindable(circuit: QuantumCircuit) -> None:
    """Refuse a compiled circuit whose parameter arrays some V2 primitive would bind wrongly.

    Raises:
        ValueError: if ``circuit`` has parameterised controlled gates (named in the message).
    """
    bad = unsafe_instructions(circuit)
    if bad:
        raise ValueError(
            "the pass manager must leave no parameterised controlled gates (Aer's V2 primitives bind parameter "
            f"arrays into them wrongly, qiskit-aer #2323/#2391/#2403); got {', '.join(bad)} in {circuit.name!r}. "
            "Use a pass manager onto a device target (qsa.hardware.noise.isa_pass_manager), one without a target, "
            "or pass_manager=None"
        )


def isa_compile(template: QuantumCircuit, pass_manager: Any, *, n_index: int, n_zero: int) -> Compiled:
    """``template`` transpiled by ``pass_manager`` (to a device ISA), with its parameter columns."""
    isa = pass_manager.run(template)
    return Compiled(isa, _columns(template, isa), n_index, n_zero, template.num_qubits, isa=isa)


@dataclass
class RunJob:
    """A submitted job: its id, and its cell probabilities once done."""

    job: Any
    pubs: tuple[Pub, ...]
    decode: Any
    shots: int | None
    _cells: list[np.ndarray] | None = field(default=None, repr=False)

    def job_id(self) -> str:
        return str(self.job.job_id())

    def cells(self) -> list[np.ndarray]:
        """Per PUB, ``(B, 2^n_index)`` cell probabilities (waits for the job)."""
        if self._cells is None:
            self._cells = self.decode(self.job.result(), self.pubs)
        return self._cells


class LazyPassManager:
    """A pass manager built on first use by ``factory(*args, **kwargs)`` (a module-level function).

    Qiskit's preset pass managers hold local lambdas and cannot be pickled or deep-copied; this
    holds the recipe instead, so a runner (and the model around it) copies, and the copy rebuilds
    the same pass manager (same factory, arguments and ``seed_transpiler``) when it first runs.
    Wrap your own factory the same way to make a :class:`SamplerRunner` copyable.
    """

    def __init__(self, factory: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.factory, self.args, self.kwargs = factory, args, kwargs
        self._built: Any = None

    @property
    def built(self) -> Any:
        """The pass manager itself."""
        if self._built is None:
            self._built = self.factory(*self.args, **self.kwargs)
        return self._built

    def run(self, circuits: Any, **kwargs: Any) -> Any:
        return self.built.run(circuits, **kwargs)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_built": None}

    def __repr__(self) -> str:
        return f"LazyPassManager({getattr(self.factory, '__qualname__', self.factory)})"


class Runner(ABC):
    """Compiles measured templates once and runs lists of PUBs as one job.

    Runners copy (``copy.deepcopy``, ``pickle``): what they build -- simulators, samplers per
    qubit set, pass managers (:class:`LazyPassManager`) -- is rebuilt lazily by the copy; seeds and
    random-generator states are copied, so a copy draws what the original would.
    """

    #: attributes built on first use: ``None`` in a copy, which builds them again
    _REBUILT: tuple[str, ...] = ()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, **dict.fromkeys(self._REBUILT)}

    #: shots per parameter set, ``None`` for exact probabilities
    shots: int | None
    #: root seed of the sampling streams (``None``: unseeded, or not controllable, e.g. hardware)
    seed: int | None = None
    _jobs: int = 0

    @abstractmethod
    def compile(self, template: QuantumCircuit, *, n_index: int, n_zero: int) -> Compiled:
        """Transpile a measured template (measurements in wire order into ``meas``) for this runner."""

    @abstractmethod
    def submit(self, pubs: Sequence[Pub], *, key: Sequence[int] | None = None) -> RunJob:
        """Run ``pubs`` as one job; ``key`` names its random stream (module docstring)."""

    def run(self, pubs: Sequence[Pub], *, key: Sequence[int] | None = None) -> list[np.ndarray]:
        """Cell probabilities per PUB (submit and wait)."""
        return self.submit(pubs, key=key).cells()

    def job_seeds(self, n_pubs: int, key: Sequence[int] | None = None) -> list[int | None]:
        """Integer seeds of the ``n_pubs`` independent streams of one job (all ``None`` without :attr:`seed`)."""
        if key is None:
            key = (self._jobs,)
            self._jobs += 1
        return stream_seeds(self.seed, n_pubs, key)

    def describe(self) -> dict[str, Any]:
        return {"runner": type(self).__name__, "shots": self.shots}


def decode_sampler_result(result: Any, pubs: Sequence[Pub], shots: int) -> list[np.ndarray]:
    """Cell frequencies per PUB from a V2 sampler's ``PrimitiveResult`` (register ``meas``)."""
    out = []
    for pub_result, pub in zip(result, pubs):
        bits = getattr(pub_result.data, CREG)
        if bits.num_shots != shots:
            raise RuntimeError(f"the sampler must return {shots} shots per parameter set; got {bits.num_shots}")
        out.append(zero_cells(bits, pub.compiled.n_index, pub.compiled.n_zero) / shots)
    return out


class SamplerRunner(Runner):
    """Any V2 sampler with a pass manager onto its ISA.

    Args:
        sampler: a ``BaseSamplerV2`` (Aer, ``qiskit.primitives.StatevectorSampler``, runtime
            server-side ``SamplerV2``, runtime ``executor_sampler.Sampler``; in local testing mode or not).
        shots: shots per parameter set.
        pass_manager: transpiles a template to the sampler's ISA (e.g.
            :func:`qsa.hardware.noise.isa_pass_manager` of the backend), or ``None`` to run the
            exported templates as they are (every V2 simulator takes them).
        backend: the device, if any (its width bounds the circuits, checked before any job).

    Any pass manager is accepted whose output binds parameter arrays right on every primitive;
    one that leaves parameterised *controlled* gates (``cp``, ``crx``, ... -- e.g. a preset pass
    manager whose target lists them) is refused when a template is compiled, before any job, with
    the gates named (:func:`qsa.circuits.to_qiskit.unsafe_instructions`: Aer's V2 primitives bind
    parameter arrays into them wrongly). A pass manager without a target (``generate_preset_pass_manager(1)``)
    leaves the exported gates as they are, which is right.

    On an IBM device, for instance (the account saved with the runtime's own ``save_account``)::

        service = QiskitRuntimeService()
        backend = service.backend("ibm_torino")
        with Batch(backend=backend) as batch:
            runner = SamplerRunner(executor_sampler.Sampler(mode=batch), shots=4000,
                                   pass_manager=isa_pass_manager(backend), backend=backend)
            evaluator = HardwareEvaluator(runner, on_job=lambda job_id, info: journal.append("submitted", job_id=job_id))
    """

    def __init__(
        self, sampler: Any, *, shots: int, pass_manager: Any = None, backend: Any = None, seed: int | None = None
    ):
        _backends.check_shots(shots, seed)
        if shots is None:
            raise ValueError("shots must be a positive integer for a sampler; got None")
        if not hasattr(sampler, "run"):
            raise TypeError(f"sampler must be a V2 sampler primitive; got {type(sampler).__name__}")
        if pass_manager is not None and not hasattr(pass_manager, "run"):
            raise TypeError(f"pass_manager must be a Qiskit pass manager or None; got {type(pass_manager).__name__}")
        self.sampler = sampler
        self.shots = int(shots)
        self.pass_manager = pass_manager
        self.backend = backend
        self.seed = seed

    def compile(self, template: QuantumCircuit, *, n_index: int, n_zero: int) -> Compiled:
        if self.pass_manager is None:
            return Compiled(template, _columns(template, template), n_index, n_zero, template.num_qubits, isa=template)
        compiled = isa_compile(template, self.pass_manager, n_index=n_index, n_zero=n_zero)
        check_bindable(compiled.circuit)
        return compiled

    def _pubs(self, pubs: Sequence[Pub]) -> list[tuple]:
        out = []
        for pub in pubs:
            values = pub.compiled.values(pub.values)
            out.append((pub.compiled.circuit, values) if values.shape[1] else (pub.compiled.circuit,))
        return out

    def _seeded(self, seed: int | None) -> Any:
        """The sampler of one job: with a seed, the runtime's local-testing simulator seed is set to it."""
        simulator = getattr(getattr(self.sampler, "options", None), "simulator", None)
        if seed is not None and simulator is not None and hasattr(simulator, "seed_simulator"):
            simulator.seed_simulator = seed
        return self.sampler

    def submit(self, pubs: Sequence[Pub], *, key: Sequence[int] | None = None) -> RunJob:
        seed = self.job_seeds(1, key)[0]  # Aer gives each parameter set of a job its own seed (seed + i)
        job = self._seeded(seed).run(self._pubs(pubs), shots=self.shots)
        logger.info(
            "submitted job %s: %d PUBs, %d parameter sets", job.job_id(), len(pubs), sum(len(p.values) for p in pubs)
        )
        shots = self.shots
        return RunJob(job, tuple(pubs), lambda result, p: decode_sampler_result(result, p, shots), shots)

    def describe(self) -> dict[str, Any]:
        return {
            "runner": type(self).__name__,
            "sampler": type(self.sampler).__module__ + "." + type(self.sampler).__name__,
            "shots": self.shots,
        }


def check_aer_device(device: str) -> str:
    """``device`` (``"CPU"`` or ``"GPU"``) if this qiskit-aer build simulates there, else a :class:`~qsa.errors.UserError`."""
    from qiskit_aer import AerSimulator

    from qsa.errors import UserError

    if device not in ("CPU", "GPU"):
        raise ValueError(f"device must be 'CPU' or 'GPU'; got {device!r}")
    if device not in AerSimulator().available_devices():
        raise UserError(
            "model.device must be a device Aer can simulate on; got a CUDA device for backend 'aer', but this "
            'qiskit-aer build has no GPU support (pip install "qsa[gpu]" brings qiskit-aer-gpu)',
            key="model.device",
        )
    return device


class AerSamplerRunner(SamplerRunner):
    """Ideal Aer ``SamplerV2`` (statevector sampling) on templates compiled to the safe basis.

    Each job runs on a ``SamplerV2`` seeded from its own stream (module docstring); within a job Aer
    gives every parameter set of every PUB its own seed (``seed + i``).
    """

    _REBUILT = ("_simulator",)  # the AerSimulator, made at the first job

    def __init__(self, *, shots: int, seed: int | None = None, seed_transpiler: int = 0, device: str = "CPU"):
        from qsa.backends.aer import pass_manager

        _backends.check_shots(shots, seed)
        self.device = check_aer_device(device) if device != "CPU" else "CPU"
        self._simulator: Any = None
        super().__init__(
            _NoSampler(), shots=shots, pass_manager=LazyPassManager(pass_manager, seed_transpiler), seed=seed
        )

    def _seeded(self, seed: int | None) -> Any:
        from qiskit_aer import AerSimulator
        from qiskit_aer.primitives import SamplerV2

        if self._simulator is None:
            self._simulator = AerSimulator(method="statevector", device=self.device)
        return SamplerV2.from_backend(self._simulator, seed=seed)

    def describe(self) -> dict[str, Any]:
        return {"runner": type(self).__name__, "sampler": "qiskit_aer.primitives.SamplerV2", "shots": self.shots}


def aer_sampler_runner(
    *, shots: int, seed: int | None = None, seed_transpiler: int = 0, device: str = "CPU"
) -> SamplerRunner:
    """Ideal Aer ``SamplerV2`` (statevector sampling) on templates compiled to the safe basis (:class:`AerSamplerRunner`).

    ``device="GPU"`` simulates on Aer's GPU build (``qiskit-aer-gpu``; refused where it is missing).
    """
    return AerSamplerRunner(shots=shots, seed=seed, seed_transpiler=seed_transpiler, device=device)


class _DoneJob:
    """The job of a runner that computes in process (exact mode)."""

    def __init__(self, job_id: str, result: Any):
        self._id, self._result = job_id, result

    def job_id(self) -> str:
        return self._id

    def result(self) -> Any:
        return self._result


class ExactRunner(Runner):
    """Cell probabilities from Aer statevector simulation (one Aer job per PUB list), exact or sampled.

    Templates are compiled to :data:`qsa.circuits.to_qiskit.SAFE_BASIS`; final measurements become
    ``save_probabilities`` on the measured qubits (least significant first, as the bits read).

    Args:
        seed_transpiler: of the pass manager.
        shots: ``None`` (default) for exact probabilities; an integer draws, per parameter set,
            multinomial counts of the measured wires from the exact probabilities (numpy,
            ``seed``). For an ideal simulator with final measurements this is the distribution
            Aer's own sampling has (it samples the final statevector too), without building a
            bitstring per shot; it does not apply to noise models (see :class:`NoisyAerRunner`).
        seed: root seed of the sampling (shots only): every job and PUB draws from its own stream
            (module docstring).
        device: ``"CPU"`` or ``"GPU"`` (Aer's GPU build, ``qiskit-aer-gpu``; refused where it is missing).
    """

    def __init__(
        self, *, seed_transpiler: int = 0, shots: int | None = None, seed: int | None = None, device: str = "CPU"
    ):
        from qsa.backends.aer import pass_manager

        _backends.check_shots(shots, seed)
        self.device = check_aer_device(device) if device != "CPU" else "CPU"
        self.pass_manager = LazyPassManager(pass_manager, seed_transpiler)
        self.shots = None if shots is None else int(shots)
        self.seed = seed
        self._sim = None

    _REBUILT = ("_sim",)  # the AerSimulator, made at the first job

    def compile(self, template: QuantumCircuit, *, n_index: int, n_zero: int) -> Compiled:
        measured = {}  # clbit index -> qubit index
        for inst in template.data:
            if inst.operation.name == "measure":
                measured[template.find_bit(inst.clbits[0]).index] = template.find_bit(inst.qubits[0]).index
        qubits = [measured[c] for c in range(len(measured))]  # least significant bit first
        bare = template.remove_final_measurements(inplace=False)
        compiled = self.pass_manager.run(bare)
        compiled.save_probabilities(qubits)
        return Compiled(compiled, _columns(template, compiled), n_index, n_zero, template.num_qubits)

    def _cells(self, probs: np.ndarray, pub: Pub, seed: int | None) -> np.ndarray:
        if self.shots is not None:  # multinomial frequencies of the measured wires' outcomes
            probs = np.clip(probs, 0.0, None)
            rng = np.random.default_rng(seed)
            probs = rng.multinomial(self.shots, probs / probs.sum(-1, keepdims=True)) / self.shots
        return _backends.marginal_zero(probs, pub.compiled.n_index, pub.compiled.n_zero)

    def submit(self, pubs: Sequence[Pub], *, key: Sequence[int] | None = None) -> RunJob:
        from qiskit_aer import AerSimulator

        seeds = self.job_seeds(len(pubs), key) if self.shots is not None else [None] * len(pubs)

        if self._sim is None:
            self._sim = AerSimulator(
                method="statevector", max_parallel_experiments=0, statevector_parallel_threshold=16, device=self.device
            )
        circuits, binds = [], []
        for pub in pubs:
            values = pub.compiled.values(pub.values)
            circuits.append(pub.compiled.circuit)
            binds.append(
                {p: values[:, i] for i, p in enumerate(pub.compiled.circuit.parameters)} if values.shape[1] else {}
            )
        if all(binds):
            job = self._sim.run(circuits, parameter_binds=binds)
            result = job.result()
            out, e = [], 0
            for pub, seed in zip(pubs, seeds):
                n = len(pub.values)
                probs = np.stack([np.asarray(result.data(e + b)["probabilities"]) for b in range(n)])
                e += n
                out.append(self._cells(probs, pub, seed))
        else:  # pragma: no cover - every QSA template reads derived data angles
            out = []
            for pub, seed in zip(pubs, seeds):
                bound = [pub.compiled.circuit] * len(pub.values)
                result = self._sim.run(bound).result()
                probs = np.stack([np.asarray(result.data(b)["probabilities"]) for b in range(len(bound))])
                out.append(self._cells(probs, pub, seed))
            job = None
        job_id = job.job_id() if job is not None else "exact"
        return RunJob(_DoneJob(job_id, out), tuple(pubs), lambda result, p: result, self.shots)

    def describe(self) -> dict[str, Any]:
        return {"runner": type(self).__name__, "shots": self.shots, "seed": self.seed}


class NoisyAerRunner(SamplerRunner):
    """Aer ``SamplerV2`` with the noise of an IBM (fake) backend.

    Templates are transpiled to the full device's ISA (layout and routing on the real coupling
    map, fixed ``seed_transpiler``), then restricted to the physical qubits they use; each job runs
    on ``AerSimulator.from_backend`` of the device restricted to the union of those qubits.

    Args:
        backend: a fake backend instance or name (``"fake_torino"``, ``"fake_sherbrooke"``, ...).
        shots: shots per parameter set.
        seed: seed of the simulator (``None``: unseeded).
        optimization_level, seed_transpiler: of the ISA pass manager.
        method: Aer simulation method (``"automatic"`` picks density matrix for small noisy circuits).
    """

    def __init__(
        self,
        backend: Any,
        *,
        shots: int,
        seed: int | None = None,
        optimization_level: int = 1,
        seed_transpiler: int = 0,
        method: str = "automatic",
    ):
        _backends.check_shots(shots, seed)
        device = noise.fake_backend(backend) if isinstance(backend, str) else backend
        super().__init__(
            sampler=_NoSampler(),
            shots=shots,
            backend=device,
            pass_manager=LazyPassManager(
                noise.isa_pass_manager, device, optimization_level=optimization_level, seed_transpiler=seed_transpiler
            ),
        )
        self.seed = seed
        self.method = method
        self._simulators: dict[tuple[int, ...], Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "_simulators": {}}  # noisy simulators are rebuilt per qubit set

    def compile(self, template: QuantumCircuit, *, n_index: int, n_zero: int) -> Compiled:
        isa = self.pass_manager.run(template)
        qubits = noise.active_qubits(isa)
        small = noise.restrict_circuit(isa, qubits)
        return Compiled(
            small, _columns(template, small), n_index, n_zero, template.num_qubits, isa=isa, physical_qubits=qubits
        )

    def _sampler(self, union: tuple[int, ...], seed: int | None):
        from qiskit_aer.primitives import SamplerV2

        if union not in self._simulators:
            self._simulators[union] = noise.noisy_simulator(self.backend, union, method=self.method)
        return SamplerV2.from_backend(self._simulators[union], seed=seed)

    def submit(self, pubs: Sequence[Pub], *, key: Sequence[int] | None = None) -> RunJob:
        union = tuple(sorted(set().union(*(p.compiled.physical_qubits for p in pubs))))
        position = {q: i for i, q in enumerate(union)}
        prepared = []
        for pub in pubs:
            circuit = pub.compiled.circuit
            if pub.compiled.physical_qubits != union:
                wide = QuantumCircuit(len(union), global_phase=circuit.global_phase)
                for creg in circuit.cregs:
                    wide.add_register(creg)
                mapping = [position[q] for q in pub.compiled.physical_qubits]
                wide.compose(circuit, qubits=mapping, clbits=list(range(circuit.num_clbits)), inplace=True)
                circuit = wide
            values = pub.compiled.values(pub.values)
            prepared.append((circuit, values) if values.shape[1] else (circuit,))
        job = self._sampler(union, self.job_seeds(1, key)[0]).run(prepared, shots=self.shots)
        shots = self.shots
        return RunJob(job, tuple(pubs), lambda result, p: decode_sampler_result(result, p, shots), shots)

    def describe(self) -> dict[str, Any]:
        return {"runner": type(self).__name__, "backend": self.backend.name, "shots": self.shots, "seed": self.seed}


class _NoSampler:
    """Placeholder: :class:`NoisyAerRunner` builds its samplers per set of physical qubits."""

    def run(self, *args: Any, **kwargs: Any):  # pragma: no cover
        raise RuntimeError("NoisyAerRunner runs its own samplers")
