r"""``qsa submit`` and ``qsa jobs``: plan, guard, submit, journal, resume by job id, results.

The flow (the hardware path: build, transpile once, bind, one job per step, journal, fetch):

1. :class:`SubmitConfig` (a TOML file) names the circuit shape, the data, the parameters and the
   shots; :func:`make_plan` builds the templates, transpiles each **once** to the backend's ISA
   with a fixed ``seed_transpiler``, binds the parameter arrays (one PUB per circuit shape), and
   estimates shots and QPU time. Every check -- backend width, budget -- runs here, before
   anything is sent.
2. :func:`check_budget` refuses a plan over a shot or QPU-second budget.
3. :func:`submit` writes the plan and inputs to the run directory, then submits the PUBs (Batch
   by default) and appends each job id to ``journal.jsonl`` the moment the runtime returns it,
   before waiting.
4. :func:`fetch` finds every journaled job by id (in this process or after a crash), decodes the
   counts into cells (``jobs/<id>.npz``) and, once all are in, writes ``results.json``:
   observables with standard errors and, if asked, the parameter-shift gradient of ``L_B``.

QPU time is estimated as ``sum over parameter sets of shots * (circuit duration + rep_delay)``
plus :data:`JOB_OVERHEAD_SECONDS` per job (durations from the backend target along the critical
path; ``rep_delay`` the backend default, 250 us on current IBM devices). It is a planning figure;
the service reports the real usage per job.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qsa import _validate, runs
from qsa.circuits import Shape
from qsa.errors import UserError, renamed
from qsa.hardware import noise, programs
from qsa.hardware.estimators import FIELDS_A, FIELDS_B, cell_observables, estimate, p0_observables, zero_cells
from qsa.hardware.journal import Journal
from qsa.hardware.mitigation import NONE, Mitigation, cells_from_terms, z_terms
from qsa.hardware.providers import Provider, provider_from_record
from qsa.hardware.runners import CREG, Compiled, isa_compile

__all__ = [
    "SubmitConfig",
    "Plan",
    "make_plan",
    "check_budget",
    "submit",
    "fetch",
    "status",
    "recover",
    "adopt",
    "resubmit",
    "run_tags",
    "chunk_tag",
    "JOB_OVERHEAD_SECONDS",
    "DEFAULT_REP_DELAY",
]

logger = logging.getLogger(__name__)

#: Assumed fixed QPU time per job (loading, compilation on the control system) for the estimate.
JOB_OVERHEAD_SECONDS = 2.0
#: Repetition delay assumed when a backend does not state one (IBM's current default).
DEFAULT_REP_DELAY = 250e-6

#: ``"run"``: a trained model's tokens and angles, given to :func:`make_plan` (``qsa submit --run``).
DATA_SOURCES = ("random", "tfim", "run")


@dataclass(frozen=True)
class SubmitConfig:
    """What to run: circuit shape, data, parameters, shots. Read from TOML by :meth:`from_toml`.

    TOML layout (every key optional except ``circuit.T`` and ``circuit.d``)::

        [circuit]   name = "A"  T = 4  d = 2  k = 1  kernel = "mono"  beta = 1.4  layers = 1  phases = true
        [data]      source = "random"  sequences = 2  seed = 0        # or source = "tfim" (h = J = 1, dt = 0.35)
        [params]    seed = 1  scale = 1.0                              # or file = "params.npz" (theta_W, theta_V[, phi])
        [run]       shots = 1000  gradient = false  optimization_level = 1  seed_transpiler = 0
                    seed_simulator = 0  max_parameter_sets_per_job = 0  # 0: one job for everything
        [mitigation] dynamical_decoupling = "XY4"  twirl_gates = true  twirl_measure = true  trex = true
                                                                       # see qsa.hardware.mitigation.Mitigation

    ``circuit.w_layers`` / ``circuit.v_layers`` set the two ansatz depths apart (default ``layers``).
    """

    T: int
    d: int
    circuit: str = "A"
    k: int = 1
    kernel: str = "mono"
    beta: float | None = None
    layers: int = 1
    phases: bool = True
    w_layers: int | None = None
    v_layers: int | None = None
    data_source: str = "random"
    sequences: int = 2
    data_seed: int = 0
    params_seed: int = 1
    params_scale: float = 1.0
    params_file: str | None = None
    shots: int = 1000
    gradient: bool = False
    optimization_level: int = 1
    seed_transpiler: int = 0
    seed_simulator: int = 0
    max_parameter_sets_per_job: int = 0
    mitigation: Mitigation = NONE

    def __post_init__(self) -> None:
        _validate.integer(self.sequences, "data.sequences", minimum=1)
        _validate.integer(self.data_seed, "data.seed", minimum=0)
        _validate.integer(self.params_seed, "params.seed", minimum=0)
        _validate.real_number(self.params_scale, "params.scale", minimum=0)
        _validate.integer(self.shots, "run.shots", minimum=1)
        _validate.integer(self.seed_transpiler, "run.seed_transpiler", minimum=0)
        _validate.integer(self.seed_simulator, "run.seed_simulator", minimum=0)
        _validate.integer(self.max_parameter_sets_per_job, "run.max_parameter_sets_per_job", minimum=0)
        _validate.one_of(self.data_source, "data.source", DATA_SOURCES)
        if self.optimization_level not in (0, 1, 2, 3) or isinstance(self.optimization_level, bool):
            raise ValueError(f"run.optimization_level must be 0, 1, 2 or 3; got {self.optimization_level!r}")
        for name, key in (("gradient", "run.gradient"), ("phases", "circuit.phases")):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{key} must be true or false; got {getattr(self, name)!r}")
        if not isinstance(self.mitigation, Mitigation):
            raise TypeError(f"mitigation must be a qsa.hardware.mitigation.Mitigation; got {self.mitigation!r}")
        if self.mitigation.estimator and self.gradient:
            raise ValueError("run.gradient must be false with mitigation.trex (estimator cells); got true")
        with renamed({field: f"circuit.{key}" for key, field in self._SECTIONS["circuit"].items()}):
            self.shape  # validates the circuit keys  # noqa: B018

    @property
    def shape(self) -> Shape:
        return Shape(
            circuit=self.circuit,
            T=self.T,
            d=self.d,
            k=self.k,
            kernel=self.kernel,
            beta=self.beta,
            w_layers=self.layers if self.w_layers is None else self.w_layers,
            v_layers=self.layers if self.v_layers is None else self.v_layers,
            phases=self.phases,
        )

    _SECTIONS = {
        "circuit": {
            "name": "circuit",
            "family": "circuit",  # the name's old key, still read
            "T": "T",
            "d": "d",
            "k": "k",
            "kernel": "kernel",
            "beta": "beta",
            "layers": "layers",
            "w_layers": "w_layers",
            "v_layers": "v_layers",
            "phases": "phases",
        },
        "data": {"source": "data_source", "sequences": "sequences", "seed": "data_seed"},
        "params": {"seed": "params_seed", "scale": "params_scale", "file": "params_file"},
        "run": {
            "shots": "shots",
            "gradient": "gradient",
            "optimization_level": "optimization_level",
            "seed_transpiler": "seed_transpiler",
            "seed_simulator": "seed_simulator",
            "max_parameter_sets_per_job": "max_parameter_sets_per_job",
        },
    }

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], *, base: str | os.PathLike | None = None) -> SubmitConfig:
        """From the nested TOML table (unknown sections or keys are errors)."""
        kwargs: dict[str, Any] = {}
        for section, value in table.items():
            if section == "mitigation":
                kwargs["mitigation"] = Mitigation.from_dict(value)
                continue
            if section not in cls._SECTIONS:
                raise ValueError(
                    f"config sections must be among {sorted([*cls._SECTIONS, 'mitigation'])}; got [{section}]"
                )
            if not isinstance(value, Mapping):
                raise ValueError(f"{section} must be a table of keys ([{section}]); got {value!r}")
            for key, item in value.items():
                if key not in cls._SECTIONS[section]:
                    raise ValueError(f"[{section}] keys must be among {sorted(cls._SECTIONS[section])}; got {key!r}")
                kwargs[cls._SECTIONS[section][key]] = item
        for required in ("T", "d"):
            if required not in kwargs:
                raise ValueError(f"config must set circuit.{required}; got none")
        if kwargs.get("params_file") and base is not None and not os.path.isabs(kwargs["params_file"]):
            kwargs["params_file"] = str(Path(base) / kwargs["params_file"])
        return cls(**kwargs)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> SubmitConfig:
        path = Path(path)
        try:
            table = tomllib.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise ValueError(f"config must be an existing TOML file; got {str(path)!r}, which does not exist") from None
        except IsADirectoryError:
            raise ValueError(f"config must be an existing TOML file; got {str(path)!r}, a directory") from None
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"config must be a UTF-8 TOML file; got {str(path)!r}, with an undecodable byte at offset {exc.start}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config must be valid TOML; got {exc} in {path}") from None
        return cls.from_dict(table, base=path.parent)

    def replace(self, **changes: Any) -> SubmitConfig:
        return dataclasses.replace(self, **changes)

    def to_toml(self) -> str:
        """The config as TOML that :meth:`from_toml` reads back (defaults included)."""
        fields = dataclasses.asdict(self)
        lines = []
        for section, keys in self._SECTIONS.items():
            lines.append(f"[{section}]")
            for key, attr in keys.items():
                if key == "family" or fields[attr] is None:
                    continue
                lines.append(f"{key} = {_toml_value(fields[attr])}")
            lines.append("")
        lines.append("[mitigation]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in self.mitigation.as_dict().items()]
        return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def load_inputs(config: SubmitConfig) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The data ``X``, ``Y`` ``(S, T, d)`` and the parameters of ``config`` (numpy)."""
    shape = config.shape
    S, T, d = config.sequences, config.T, config.d
    if config.data_source == "run":
        raise ValueError(
            "data.source 'run' takes the tokens and angles of a training run: give them to make_plan(inputs=...) "
            "or use qsa submit --run RUN_DIR"
        )
    if config.data_source == "random":
        from qsa.random import random_states

        rng = np.random.default_rng(config.data_seed)
        X, Y = random_states(S, T, d, seed=rng), random_states(S, T, d, seed=rng)
    else:
        from qsa.data import tfim_sequences, transverse_ising

        seqs = tfim_sequences(
            transverse_ising(shape.n_qubits, h=1.0, J=1.0), dt=0.35, T=T, n_sequences=S, seed=config.data_seed
        )
        X, Y = seqs.X.numpy(), seqs.Y.numpy()
    shapes = shape.trainable_shapes()
    if config.params_file:
        try:
            with np.load(config.params_file) as f:
                params = {name: np.asarray(f[name], dtype=np.float64) for name in shapes}
        except FileNotFoundError:
            raise ValueError(f"params.file must exist; got {config.params_file!r}") from None
        except KeyError as exc:
            raise ValueError(f"params.file must hold arrays {sorted(shapes)}; got no {exc}") from None
        for name, want in shapes.items():
            got = params[name].shape
            if got != want and not (name == "phi" and got == (S, T)):
                raise ValueError(f"params.file {name} must have shape {want}; got {got}")
    else:
        rng = np.random.default_rng(config.params_seed)
        params = {name: config.params_scale * rng.normal(size=shapes[name]) for name in ("theta_W", "theta_V")}
        if "phi" in shapes:
            params["phi"] = rng.uniform(-math.pi, math.pi, size=shapes["phi"])
    return X.astype(np.complex128), Y.astype(np.complex128), params


@dataclass
class Plan:
    """Everything about a run that is known before submitting it."""

    config: SubmitConfig
    backend_name: str
    backend_qubits: int
    X: np.ndarray
    Y: np.ndarray
    params: dict[str, np.ndarray]
    bindings: dict[str, np.ndarray]
    compiled: dict[str, Compiled]
    reports: dict[str, noise.TranspileReport]
    chunks: list[list[tuple[str, int, int]]]
    rep_delay: float
    observables: dict[str, list[Any]] | None = None
    source: dict[str, Any] | None = None

    @property
    def estimator(self) -> bool:
        """Whether the cells run on a runtime Estimator (projector observables; TREX needs it)."""
        return self.observables is not None

    @property
    def shape(self) -> Shape:
        return self.config.shape

    @property
    def parameter_sets(self) -> int:
        return sum(len(b) for b in self.bindings.values())

    @property
    def total_shots(self) -> int:
        return self.parameter_sets * self.config.shots

    def qpu_seconds(self, variant: str | None = None) -> float:
        """Estimated QPU seconds (see the module docstring), of one variant or of the whole run."""
        variants = [variant] if variant else list(self.bindings)
        t = 0.0
        for v in variants:
            duration = self.reports[v].duration_seconds or 0.0
            t += len(self.bindings[v]) * self.config.shots * (duration + self.rep_delay)
        return t + (JOB_OVERHEAD_SECONDS * len(self.chunks) if variant is None else 0.0)

    def pubs(self, chunk: int) -> list[tuple]:
        """The PUBs of job ``chunk``: ``(isa circuit, parameter array)`` per variant slice.

        Estimator plans: ``(isa circuit, observables (K, 1), parameter array (B, P))``, one
        observable per Z-term of the measured wires (``evs`` of shape ``(K, B)``).
        """
        out: list[tuple[Any, ...]] = []
        for variant, start, stop in self.chunks[chunk]:
            compiled = self.compiled[variant]
            values = compiled.values(self.bindings[variant][start:stop])
            if self.observables is not None:
                cells = [[o] for o in self.observables[variant]]
                out.append((compiled.isa, cells, values) if values.shape[1] else (compiled.isa, cells))
            else:
                out.append((compiled.isa, values) if values.shape[1] else (compiled.isa,))
        return out

    def summary(self) -> dict[str, Any]:
        """The plan as JSON-able data (also what a dry run prints)."""
        return {
            "backend": self.backend_name,
            "backend_qubits": self.backend_qubits,
            "config": dataclasses.asdict(self.config),
            "shape": dataclasses.asdict(self.shape),
            "circuits": {
                v: {
                    **self.reports[v].as_dict(),
                    "parameter_sets": len(self.bindings[v]),
                    "n_index": self.compiled[v].n_index,
                    "n_zero": self.compiled[v].n_zero,
                    "rows_per_sequence": len(self.bindings[v]) // self.config.sequences,
                    "qpu_seconds": self.qpu_seconds(v),
                }
                for v in self.bindings
            },
            "chunks": [[list(c) for c in chunk] for chunk in self.chunks],
            "jobs": len(self.chunks),
            "parameter_sets": self.parameter_sets,
            "shots_per_parameter_set": self.config.shots,
            "total_shots": self.total_shots,
            "rep_delay": self.rep_delay,
            "job_overhead_seconds": JOB_OVERHEAD_SECONDS,
            "qpu_seconds": self.qpu_seconds(),
            "mitigation": self.config.mitigation.as_dict(),
            "estimator": self.estimator,
            "source": self.source,
        }


def _rep_delay(backend: Any) -> float:
    value = getattr(backend, "default_rep_delay", None)
    if value is None and hasattr(backend, "configuration"):
        try:
            value = getattr(backend.configuration(), "default_rep_delay", None)
        except Exception:  # noqa: BLE001 - backends without a configuration
            value = None
    return float(value) if value else DEFAULT_REP_DELAY


def _chunks(bindings: dict[str, np.ndarray], limit: int) -> list[list[tuple[str, int, int]]]:
    if not limit:
        return [[(v, 0, len(b)) for v, b in bindings.items()]]
    pieces = {v: [(v, a, min(a + limit, len(b))) for a in range(0, len(b), limit)] for v, b in bindings.items()}
    n = max(len(p) for p in pieces.values())
    return [[p[i] for p in pieces.values() if i < len(p)] for i in range(n)]


def make_plan(
    config: SubmitConfig,
    backend: Any,
    *,
    inputs: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None,
    source: dict[str, Any] | None = None,
) -> Plan:
    """Build, check and transpile (once per circuit shape) everything ``config`` asks for on ``backend``.

    Args:
        config: the submission.
        backend: the device (or fake backend).
        inputs: ``(X, Y, params)`` to run instead of ``config``'s data and parameters (e.g. a
            trained model's tokens and angles, :func:`qsa.hardware.trained.submission_inputs`):
            ``X``, ``Y`` ``(S, T, d)`` with ``S = config.sequences``, ``params`` as
            ``load_inputs(config)`` returns them.
        source: what the inputs are (recorded in ``plan.json``), e.g. the training run.

    With ``config.mitigation.trex`` the templates are compiled without measurements and each asks
    the runtime Estimator for the ``2^m`` Z-strings of its measured wires
    (:func:`qsa.hardware.mitigation.z_terms`, laid out on the ISA circuit), from which the cells and
    their covariance are assembled (:func:`qsa.hardware.mitigation.cells_from_terms`).

    Raises:
        ValueError: if a circuit is wider than the backend (before transpiling), or for bad config.
    """
    if not isinstance(config, SubmitConfig):
        raise TypeError(f"config must be a SubmitConfig; got {type(config).__name__}")
    shape = config.shape
    for variant in shape.variants:
        width = shape.build(variant).n_qubits
        if width > backend.num_qubits:
            raise ValueError(
                f"the circuit must fit the backend: {variant} of (T, d, k) = ({shape.T}, {shape.d}, {shape.k}) "
                f"has {width} qubits; {backend.name} has {backend.num_qubits}"
            )
    if inputs is None:
        X, Y, params = load_inputs(config)
    else:
        X, Y, params = inputs
        if X.shape != (config.sequences, shape.T, shape.d) or Y.shape != X.shape:
            raise ValueError(
                f"inputs X and Y must have shape ({config.sequences}, {shape.T}, {shape.d}); "
                f"got {X.shape} and {Y.shape}"
            )
    prog = programs.program(shape)
    bindings = prog.bindings(params, X, Y, gradient=config.gradient)
    pm = noise.isa_pass_manager(
        backend, optimization_level=config.optimization_level, seed_transpiler=config.seed_transpiler
    )
    estimator = config.mitigation.estimator
    compiled, reports, observables = {}, {}, {}
    for variant, tpl in prog.templates.items():
        template = tpl.qiskit.circuit.remove_final_measurements(inplace=False) if estimator else tpl.qiskit.circuit
        compiled[variant] = isa_compile(template, pm, n_index=tpl.n_index, n_zero=tpl.n_zero)
        reports[variant] = noise.transpile_report(
            compiled[variant].isa, backend, logical_qubits=tpl.qsa_circuit.n_qubits
        )
        if estimator:
            layout = (compiled[variant].isa or compiled[variant].circuit).layout
            observables[variant] = [term.apply_layout(layout) for term in z_terms(tpl.qsa_circuit)]
    return Plan(
        config=config,
        backend_name=backend.name,
        backend_qubits=backend.num_qubits,
        X=X,
        Y=Y,
        params=params,
        bindings=bindings,
        compiled=compiled,
        reports=reports,
        chunks=_chunks(bindings, config.max_parameter_sets_per_job),
        rep_delay=_rep_delay(backend),
        observables=observables if estimator else None,
        source=source,
    )


def check_budget(plan: Plan, *, max_shots: int | None, max_qpu_seconds: float | None) -> None:
    """Refuse a plan over budget (``ValueError``, before anything is sent)."""
    if max_shots is not None and plan.total_shots > max_shots:
        raise ValueError(
            f"the run must fit the shot budget of {max_shots:,}; got {plan.total_shots:,} shots "
            f"({plan.parameter_sets:,} parameter sets x {plan.config.shots:,}). Raise --max-shots or lower run.shots."
        )
    if max_qpu_seconds is not None and plan.qpu_seconds() > max_qpu_seconds:
        raise ValueError(
            f"the run must fit the QPU-time budget of {max_qpu_seconds:g} s; got an estimated {plan.qpu_seconds():.1f} s. "
            "Raise --max-qpu-seconds or lower run.shots."
        )


# --- submission ------------------------------------------------------------------------------------

JOURNAL = "journal.jsonl"
PLAN = "plan.json"
INPUTS = "inputs.npz"
ISA_CIRCUITS = "isa_circuits.qpy"


def _save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    runs.write_bytes(path, buffer.getvalue())


def run_tags(run_dir: Path, run_id: str) -> list[str]:
    """The tags every job of a run carries: ``qsa``, the run directory's name and ``qsa-run-<id>`` (unique)."""
    return ["qsa", run_dir.name, f"qsa-run-{run_id}"]


def chunk_tag(chunk: int) -> str:
    """The tag of the job of ``chunk``: how a job whose id never reached the journal is found again."""
    return f"qsa-chunk-{chunk}"


def submit(
    plan: Plan,
    provider: Provider,
    run_dir: str | os.PathLike[str],
    *,
    backend: Any,
    execution: str = "batch",
    primitive: str = "executor",
) -> list[str]:
    """Write the plan into ``run_dir``, submit its jobs, journal every id before waiting; the job ids.

    Everything needed to send a job again is written before the first is sent (``plan.json``,
    ``inputs.npz`` with each circuit's parameter columns, ``isa_circuits.qpy``), and each job
    carries the run's tags (:func:`run_tags`) and its chunk's (:func:`chunk_tag`): a job whose id
    was never journaled is found by :func:`recover`, one never sent is sent by :func:`resubmit`.
    """
    from qiskit import qpy

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with runs.RunLock(run_dir):
        summary = plan.summary()
        runs.write_json(run_dir / PLAN, {**summary, "environment": runs.environment()})
        arrays = {
            "X": plan.X,
            "Y": plan.Y,
            **{f"param_{k}": v for k, v in plan.params.items()},
            **{f"bindings_{k}": v for k, v in plan.bindings.items()},
            **{f"columns_{k}": plan.compiled[k].columns for k in plan.bindings},
            "variants": np.array(list(plan.bindings)),  # the order of the circuits in isa_circuits.qpy
        }
        _save_npz(run_dir / INPUTS, arrays)
        buffer = io.BytesIO()
        qpy.dump([plan.compiled[v].isa for v in plan.bindings], buffer)
        runs.write_bytes(run_dir / ISA_CIRCUITS, buffer.getvalue())
        record = provider.record()
        if record.get("kind") == "local":
            try:
                record["store"] = os.path.relpath(record["store"], run_dir)
            except ValueError:  # pragma: no cover - another drive
                pass
        journal = Journal(run_dir / JOURNAL)
        run_id = uuid.uuid4().hex[:16]
        journal.append(
            "run",
            provider=record,
            backend=plan.backend_name,
            execution=execution,
            primitive=primitive,
            shots=plan.config.shots,
            jobs=len(plan.chunks),
            run_id=run_id,
            estimator=plan.estimator,
            mitigation=plan.config.mitigation.as_dict(),
            source=plan.source,
        )
        chunks = list(range(len(plan.chunks)))
        return provider.submit(
            backend,
            [plan.pubs(c) for c in chunks],
            shots=plan.config.shots,
            execution=execution,
            primitive=primitive,
            seed_simulator=plan.config.seed_simulator,
            tags=run_tags(run_dir, run_id),
            chunk_tags=[[chunk_tag(c)] for c in chunks],
            chunk_ids=chunks,
            on_submitted=lambda chunk, job_id: journal.append("submitted", chunk=chunk, job_id=job_id),
            estimator=plan.estimator,
            mitigation=plan.config.mitigation,
        )


def _submitted(journal: Journal) -> dict[int, str]:
    """Chunk -> job id, the first journaled for each chunk."""
    out: dict[int, str] = {}
    for r in journal.events("submitted"):
        out.setdefault(int(r["chunk"]), str(r["job_id"]))
    return out


def _read_json(run_dir: Path, name: str, what: str) -> Any:
    path = run_dir / name
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"{name} must exist in the run directory {str(run_dir)!r} ({what}); got none", key=str(path)
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(
            f"{name} must be the JSON {what} in {str(run_dir)!r}; got a damaged file ({exc}); "
            "the run directory cannot be used without it",
            key=str(path),
        ) from None


def _open_run(run_dir: str | os.PathLike[str]) -> tuple[Path, Journal, dict[str, Any], dict[str, Any]]:
    """The run directory, its journal, the journal's run record and the plan, all checked."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "a file" if run_dir.exists() else "which does not exist"
        raise UserError(
            f"RUN_DIR must be a run directory written by qsa submit --submit; got {str(run_dir)!r}, {what}",
            key="RUN_DIR",
        )
    journal = Journal(run_dir / JOURNAL)
    header = _header(journal, run_dir)
    plan = _read_json(run_dir, PLAN, "plan qsa submit wrote")
    if not isinstance(plan, dict) or not {"jobs", "chunks", "circuits", "shots_per_parameter_set"} <= set(plan):
        raise UserError(
            f"{PLAN} must be the plan qsa submit wrote; got a record without its fields in {str(run_dir)!r}",
            key=str(run_dir / PLAN),
        )
    return run_dir, journal, header, plan


def _provider(header: dict[str, Any], run_dir: Path, provider: Provider | None) -> Provider:
    return provider or provider_from_record(header["provider"], base=run_dir)


def _tags(header: dict[str, Any], run_dir: Path) -> list[str]:
    """The tags that identify this run's jobs (``qsa-run-<id>``; the directory name for older runs)."""
    return [f"qsa-run-{header['run_id']}"] if header.get("run_id") else ["qsa", run_dir.name]


def _found_by_tag(provider: Provider, header: dict[str, Any], run_dir: Path, chunk: int) -> list[dict[str, Any]]:
    try:
        return provider.find_jobs([*_tags(header, run_dir), chunk_tag(chunk)])
    except NotImplementedError:
        return []


def status(run_dir: str | os.PathLike[str], *, provider: Provider | None = None) -> list[dict[str, Any]]:
    """One row per job of the run: chunk, job id, status, whether its result is saved.

    A chunk without a journaled id is looked up by its tags: ``"NOT JOURNALED"`` with the id found
    (:func:`recover` adopts it), or ``"NOT SUBMITTED"`` (:func:`resubmit` sends it).
    """
    run_dir, journal, header, plan = _open_run(run_dir)
    provider = _provider(header, run_dir, provider)
    done = {r["job_id"] for r in journal.events("result")}
    submitted = _submitted(journal)
    rows = []
    for chunk in range(plan["jobs"]):
        job_id = submitted.get(chunk)
        if job_id is None:
            found = _found_by_tag(provider, header, run_dir, chunk)
            if found:
                rows.append({"chunk": chunk, "job_id": found[0]["job_id"], "status": "NOT JOURNALED", "saved": False})
            else:
                rows.append({"chunk": chunk, "job_id": None, "status": "NOT SUBMITTED", "saved": False})
            continue
        state = "DONE" if job_id in done else str(_job_status(provider.job(job_id)))
        rows.append({"chunk": chunk, "job_id": job_id, "status": state, "saved": job_id in done})
    return rows


def _job_status(job: Any) -> str:
    s = job.status()
    return getattr(s, "name", str(s))


def _header(journal: Journal, run_dir: Path) -> dict[str, Any]:
    if not journal.path.exists():
        raise UserError(
            f"RUN_DIR must hold the {JOURNAL} qsa submit --submit writes; got none in {str(run_dir)!r}", key="RUN_DIR"
        )
    headers = [r for r in journal.records(quiet=True) if r.get("event") == "run"]
    if not headers:
        skipped = journal.skipped()
        raise UserError(
            f"{JOURNAL} must start with the run record qsa submit writes; got none in {str(journal.path)!r} "
            f"({f'{len(skipped)} damaged line(s): ' if skipped else ''}the journal is damaged or not a qsa journal)",
            key=str(journal.path),
        )
    return headers[-1]


def recover(run_dir: str | os.PathLike[str], *, provider: Provider | None = None) -> dict[int, str]:
    """Adopt every job of the run whose id never reached the journal, found by its tags; the adopted ids by chunk.

    A job submitted in the instant before a crash (its id returned by the runtime, the journal line
    not yet written) carries the run's and its chunk's tags (:func:`run_tags`, :func:`chunk_tag`);
    it is journaled here (``submitted`` with ``"found_by": "tag"``) and then fetched like any other.
    If several jobs carry one chunk's tags the oldest is adopted (the others are logged).
    """
    run_dir, journal, header, plan = _open_run(run_dir)
    provider = _provider(header, run_dir, provider)
    with runs.RunLock(run_dir):
        submitted = _submitted(journal)
        adopted = {}
        for chunk in range(plan["jobs"]):
            if chunk in submitted:
                continue
            found = _found_by_tag(provider, header, run_dir, chunk)
            if not found:
                continue
            if len(found) > 1:
                logger.warning(
                    "chunk %d has %d jobs tagged for it: adopting the oldest, %s", chunk, len(found), found[0]["job_id"]
                )
            job_id = found[0]["job_id"]
            journal.append("submitted", chunk=chunk, job_id=job_id, found_by="tag")
            logger.warning("job %s of chunk %d was never journaled: found by its tags and adopted", job_id, chunk)
            adopted[chunk] = job_id
    return adopted


def adopt(
    run_dir: str | os.PathLike[str], job_id: str, *, chunk: int | None = None, provider: Provider | None = None
) -> int:
    """Journal the job ``job_id`` as the job of one chunk of the run (found in the dashboard, say); the chunk.

    The chunk comes from the job's tag (:func:`chunk_tag`) or from ``chunk``. A job that does not
    carry the run's tag is adopted only with an explicit ``chunk``.

    Raises:
        UserError: if the job cannot be found, belongs to another run, or its chunk already has a job.
    """
    run_dir, journal, header, plan = _open_run(run_dir)
    provider = _provider(header, run_dir, provider)
    with runs.RunLock(run_dir):
        with renamed({"job_id": "--job"}, default="--job"):
            provider.job(job_id)  # it must exist
        try:
            tags = provider.job_tags(job_id)
        except NotImplementedError:
            tags = []
        ours = set(_tags(header, run_dir)) <= set(tags)
        tagged = [
            int(t.rsplit("-", 1)[1]) for t in tags if t.startswith("qsa-chunk-") and t.rsplit("-", 1)[1].isdigit()
        ]
        if chunk is None:
            if not (ours and tagged):
                raise UserError(
                    f"--chunk must be given for job {job_id}, which does not carry this run's tags {_tags(header, run_dir)} "
                    f"and a chunk tag; got none (its tags: {tags})",
                    key="--chunk",
                )
            chunk = tagged[0]
        elif ours and tagged and tagged[0] != chunk:
            raise UserError(f"--chunk must be the job's own chunk {tagged[0]} (its tag); got {chunk}", key="--chunk")
        if not 0 <= chunk < plan["jobs"]:
            raise UserError(f"--chunk must be a chunk of the run, 0 to {plan['jobs'] - 1}; got {chunk}", key="--chunk")
        submitted = _submitted(journal)
        if chunk in submitted:
            if submitted[chunk] == job_id:
                return chunk
            raise UserError(
                f"--job must be the job of a chunk without one; got {job_id} for chunk {chunk}, which has job {submitted[chunk]}",
                key="--job",
            )
        journal.append("submitted", chunk=chunk, job_id=job_id, found_by="adopt")
    return chunk


def _pubs_from_files(run_dir: Path, plan: dict[str, Any], chunk: int) -> list[tuple[Any, ...]]:
    """The PUBs of job ``chunk`` rebuilt from ``isa_circuits.qpy`` and ``inputs.npz`` (what :meth:`Plan.pubs` gave)."""
    from qiskit import qpy

    try:
        with np.load(run_dir / INPUTS) as f:
            arrays = {name: f[name] for name in f.files}
        with open(run_dir / ISA_CIRCUITS, "rb") as f:
            isa = qpy.load(f)
    except Exception as exc:  # noqa: BLE001 - any failure to read either file means it is damaged
        raise UserError(
            f"{ISA_CIRCUITS} and {INPUTS} must be readable to send chunk {chunk} again; got {type(exc).__name__}: {exc}",
            key=str(run_dir),
        ) from None
    circuits = dict(zip(arrays["variants"].tolist(), isa)) if "variants" in arrays else {}
    pubs = []
    for variant, start, stop in plan["chunks"][chunk]:
        if f"columns_{variant}" not in arrays or variant not in circuits:
            raise UserError(
                f"{INPUTS} must hold the parameter columns of {variant} to send a job again; got a run written by an "
                "older qsa: submit the config again",
                key=str(run_dir / INPUTS),
            )
        values = np.ascontiguousarray(arrays[f"bindings_{variant}"][start:stop][:, arrays[f"columns_{variant}"]])
        pubs.append((circuits[variant], values) if values.shape[1] else (circuits[variant],))
    return pubs


def resubmit(run_dir: str | os.PathLike[str], *, provider: Provider | None = None) -> dict[int, str]:
    """Send the chunks of the run that were never sent; the new job ids by chunk.

    First adopts by tag every job that was sent but never journaled (:func:`recover`); only chunks
    with no job at all are sent, with the PUBs rebuilt from the run directory, the same shots, seed
    and tags, and journaled like the first submission.
    """
    run_dir, journal, header, plan = _open_run(run_dir)
    provider = _provider(header, run_dir, provider)
    recover(run_dir, provider=provider)
    with runs.RunLock(run_dir):
        submitted = _submitted(journal)
        missing = [c for c in range(plan["jobs"]) if c not in submitted]
        if not missing:
            return {}
        if plan.get("estimator"):
            raise UserError(
                f"a run with TREX (estimator cells) must be submitted again to send missing chunks {missing}; "
                "resending is for sampler runs",
                key="RUN_DIR",
            )
        pubs = [_pubs_from_files(run_dir, plan, c) for c in missing]
        backend = provider.backend(header["backend"])
        config = plan["config"]
        run_id = header.get("run_id") or uuid.uuid4().hex[:16]
        ids = provider.submit(
            backend,
            pubs,
            shots=header.get("shots", config["shots"]),
            execution=header.get("execution", "batch"),
            primitive=header.get("primitive", "executor"),
            seed_simulator=config.get("seed_simulator"),
            tags=run_tags(run_dir, run_id) if header.get("run_id") else ["qsa", run_dir.name],
            chunk_tags=[[chunk_tag(c)] for c in missing],
            chunk_ids=missing,
            on_submitted=lambda chunk, job_id: journal.append(
                "submitted", chunk=chunk, job_id=job_id, resubmitted=True
            ),
            mitigation=header.get("mitigation"),
        )
    return dict(zip(missing, ids))


def _saved_cells(path: Path) -> bool:
    """Whether ``jobs/<id>.npz`` is there and readable (a damaged one is fetched again)."""
    try:
        with np.load(path) as f:
            for name in f.files:
                f[name]
        return True
    except FileNotFoundError:
        return False
    except Exception as exc:  # noqa: BLE001 - any failure to read means the file is damaged
        logger.warning("%s is damaged (%s: %s): fetching its job again", path, type(exc).__name__, exc)
        return False


def fetch(
    run_dir: str | os.PathLike[str], *, provider: Provider | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Collect every job of ``run_dir`` by id, save its cells, and write ``results.json``.

    Safe to repeat (and to interrupt): jobs whose cells are saved are not fetched again, a damaged
    cell file is fetched again, temporary files of an interrupted write are removed, and jobs whose
    ids never reached the journal are adopted by their tags first (:func:`recover`).

    Raises:
        UserError: (a ``ValueError``) if a job of the plan was never sent (:func:`resubmit` sends
            it), or the run directory is damaged or in use by another process.
    """
    run_dir, journal, header, plan = _open_run(run_dir)
    provider = _provider(header, run_dir, provider)
    recover(run_dir, provider=provider)
    with runs.RunLock(run_dir):
        for directory in (run_dir, run_dir / "jobs"):  # ours only: a local job store is its worker's
            if directory.is_dir():
                runs.remove_temporary_files(directory)
        submitted = _submitted(journal)
        missing = [c for c in range(plan["jobs"]) if c not in submitted]
        if missing:
            raise UserError(
                f"every job of the run must have been submitted; got none journaled or tagged for chunk(s) {missing} of "
                f"{run_dir}: send them with qsa jobs resubmit {run_dir}",
                key="RUN_DIR",
            )
        saved = {r["job_id"] for r in journal.events("result")}
        (run_dir / "jobs").mkdir(exist_ok=True)
        shots = plan["shots_per_parameter_set"]
        for chunk, job_id in sorted(submitted.items()):
            if job_id in saved and _saved_cells(run_dir / "jobs" / f"{job_id}.npz"):
                continue
            logger.info("fetching job %s (chunk %d)", job_id, chunk)
            job = provider.job(job_id)
            result = job.result(timeout=timeout) if _takes_timeout(job) else job.result()
            cells = {}
            for (variant, start, stop), pub_result in zip(plan["chunks"][chunk], result):
                info = plan["circuits"][variant]
                if plan.get("estimator"):  # Z-term expectation values (K, B) -> cells and their covariance
                    evs = np.asarray(pub_result.data.evs, dtype=np.float64).reshape(-1, stop - start)
                    stds = np.asarray(pub_result.data.stds, dtype=np.float64).reshape(-1, stop - start)
                    n_cells = 2 ** info["n_index"]
                    c, cov = cells_from_terms(
                        evs.T, stds.T, n_index=info["n_index"], n_zero=info["n_zero"], n_cells=n_cells
                    )
                    cells[f"{variant}_{start}_{stop}"] = c
                    cells[f"{variant}_{start}_{stop}_covariance"] = cov
                    cells[f"{variant}_{start}_{stop}_terms"] = evs.T
                    cells[f"{variant}_{start}_{stop}_terms_stderr"] = stds.T
                    continue
                bits = getattr(pub_result.data, CREG)
                if bits.num_shots != shots:
                    raise RuntimeError(
                        f"job {job_id} must return {shots} shots per parameter set; got {bits.num_shots}"
                    )
                cells[f"{variant}_{start}_{stop}"] = zero_cells(bits, info["n_index"], info["n_zero"]) / shots
            _save_npz(run_dir / "jobs" / f"{job_id}.npz", cells)
            journal.append("result", chunk=chunk, job_id=job_id, file=f"jobs/{job_id}.npz")
        results = _results(run_dir, plan, submitted)
        runs.write_json(run_dir / "results.json", results)
        journal.append("complete", file="results.json")
    return results


def _takes_timeout(job: Any) -> bool:
    import inspect

    try:
        return "timeout" in inspect.signature(job.result).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return False


def _results(run_dir: Path, plan: dict[str, Any], submitted: dict[int, str]) -> dict[str, Any]:
    shape = Shape.from_dict(plan["shape"])
    S, T = plan["config"]["sequences"], shape.T
    estimator = bool(plan.get("estimator"))
    pieces: dict[str, list[tuple[int, np.ndarray]]] = {v: [] for v in shape.variants}
    errors: dict[str, list[tuple[int, np.ndarray]]] = {v: [] for v in shape.variants}
    for chunk, job_id in sorted(submitted.items()):
        with np.load(run_dir / "jobs" / f"{job_id}.npz") as f:
            for variant, start, stop in plan["chunks"][chunk]:
                pieces[variant].append((start, f[f"{variant}_{start}_{stop}"]))
                if estimator:
                    errors[variant].append((start, f[f"{variant}_{start}_{stop}_covariance"]))
    cells = {v: np.concatenate([a for _, a in sorted(p, key=lambda t: t[0])]) for v, p in pieces.items()}
    cell_covariance = None
    if estimator:
        cell_covariance = {v: np.concatenate([a for _, a in sorted(p, key=lambda t: t[0])]) for v, p in errors.items()}
    shots = plan["shots_per_parameter_set"]
    gradient = plan["config"]["gradient"]
    prog = programs.program(shape)
    base, jac = {}, {}
    for v, c in cells.items():
        rows = prog.rows_per_sequence(v, gradient=gradient)
        c = c.reshape(S, rows, -1)
        base[v] = c[:, 0]
        if gradient:
            jac[v] = np.einsum("rp,src->scp", prog.templates[v].coefficients, c)
    est = estimate(base, T=T, shots=shots, covariance=cell_covariance)
    fields = FIELDS_A + ("p",) if shape.circuit == "A" else FIELDS_B
    out: dict[str, Any] = {
        "backend": plan["backend"],
        "shape": plan["shape"],
        "shots": shots,
        "mitigation": plan.get("mitigation", NONE.as_dict()),
        "estimator": estimator,
        "source": plan.get("source"),
        "job_ids": [submitted[c] for c in sorted(submitted)],
        "observables": {f: np.asarray(getattr(est.value, f)).tolist() for f in fields},
        "stderr": {f: np.asarray(getattr(est.stderr, f)).tolist() for f in fields},
        "cells": {v: c.tolist() for v, c in base.items()},
        "transpiled": {
            v: {k: plan["circuits"][v][k] for k in ("two_qubit_gates", "depth", "two_qubit_depth", "physical_qubits")}
            for v in shape.variants
        },
    }
    if gradient:
        out["gradient"] = _loss_gradient(
            prog, base, jac, shape, S, shots=shots, per_sequence_phi=_phi_per_sequence(run_dir)
        )
    return out


def _phi_per_sequence(run_dir: Path) -> bool:
    with np.load(run_dir / "inputs.npz") as f:
        return "param_phi" in f and f["param_phi"].ndim == 2


def _loss_gradient(prog, base, jac, shape, S, *, shots: int, per_sequence_phi: bool) -> dict[str, Any]:
    """Gradient of the mean over sequences of ``L_B`` (circuit A) or ``-log P0`` (circuit B).

    The loss is taken under the shot tier's estimator policy (:mod:`qsa.hardware.estimators`: smoothed
    cells, the values of the bounded ones, the gradient of the unbounded ones), so an empty cell gives a
    finite gradient and a sampled ``F`` at its bound 1 does not lose its gradient; the Jacobian ``jac``
    ``(S, cells, n_trainable)`` per variant of the raw cell frequencies comes from the parameter shifts.
    Sequences are independent: one batched backward pass gives every sequence's ``dL/dcells``.
    """
    T = shape.T
    if shape.circuit == "A":
        q = torch.tensor(
            np.concatenate([base["mu"][:, :1], base["zeta"][:, :T], base["nu"][:, :T]], axis=1), requires_grad=True
        )  # (S, 1 + 2T)
        loss = torch.as_tensor(cell_observables(q[:, 0], q[:, 1 : T + 1], q[:, T + 1 :], shots=shots).L_B).sum() / S
        J = np.concatenate([jac["mu"][:, :1], jac["zeta"][:, :T], jac["nu"][:, :T]], axis=1)  # (S, 1 + 2T, n)
    else:
        q = torch.tensor(base["P0"][:, :1], requires_grad=True)  # (S, 1)
        loss = torch.as_tensor(p0_observables(q, shots=shots).L_half_circuit).sum() / S
        J = jac["P0"][:, :1]
    (a,) = torch.autograd.grad(loss, q)
    g = np.einsum("sc,scp->sp", a.numpy(), J)  # (S, n_trainable)
    out = {"loss": "mean L_B" if shape.circuit == "A" else "mean -log P0"}
    for name, (offset, shp) in prog.layout.items():
        block = g[:, offset : offset + math.prod(shp)]
        if name == "phi" and per_sequence_phi:
            out[name] = block.tolist()
        else:
            out[name] = block.sum(0).reshape(shp).tolist()
    return out
