r"""Memory preflight: what a computation will allocate, checked against this machine before anything is.

Every estimate is a :class:`Need` -- what is computed, how many bytes, the arithmetic behind the
number and what to change -- built from the sizes alone (``T``, ``d``, ``k``, the backend, the
batch), without building a circuit or touching data: a circuit too wide for the machine, a
gate-count sweep at ``T = 2^20`` or a text corpus larger than memory is refused in microseconds,
not after the allocator has tried for minutes. :func:`check` compares needs with a :class:`Limit`:
the memory this machine has available (``psutil`` if installed, else ``MemAvailable`` of
``/proc/meminfo``, lowered to a cgroup's limit inside a container) or a limit the caller sets
(``train.memory_limit`` in a training config, ``--memory-limit`` of ``qsa gates``; sizes such as
``"16 GiB"``). Over the limit it raises :class:`ResourceError`::

    the mu circuit at T = 65536, d = 4, k = 2 on default.qubit needs 2^44 amplitudes x 16 B = 256 TiB
    (state) ...; this machine has 21 GiB available; reduce T, d or k, or use the analytic backend

What is counted (``z`` = bytes per amplitude, 16 for complex128; ``n`` qubits; ``c = ceil(log2 T)``
index qubits; ``m`` = data qubits of a load, ``log2 d`` for token loads, ``(k+1) log2 d`` for circuit
B's superposition load):

* **statevector**: ``2^n z`` per state, times the states a backend holds at once (:data:`STATE_COPIES`:
  a state and a working copy for ``default.qubit``, one state for lightning and Aer, the shared
  prefixes of the mu/zeta/nu circuits for the torch simulator) and the batch of sequences simulated
  together; in training, backpropagation keeps one state per operation (``default.qubit``, torch)
  and the adjoint method one per observable (lightning, ``default.qubit`` adjoint).
* **dense operators**: state preparations (the triangular index state on ``2c`` wires is a dense
  ``4^c x 4^c`` Householder matrix on PennyLane devices and the torch simulator), multiplexed loads
  (``default.qubit``: the block-diagonal ``2^(c+m) x 2^(c+m)`` matrix; lightning: ``T`` controlled
  ``2^m x 2^m`` blocks; torch: ``T`` blocks per sequence of the batch), the data arrays (circuit B's
  ``psi`` rows have ``d^(k+1)`` amplitudes), and on Aer the lowered circuit (about 5 KiB per gate of
  the CNOT + rotation lowering, :data:`BYTES_PER_AER_GATE`: circuit B's superposition load alone is
  ``4 T d^(k+1)`` gates, 1.25 GiB at ``T = 1, d = 16, k = 3``).
* **gate-count sweep** (``qsa gates``): building each circuit (about :data:`BYTES_PER_INDEX_AMPLITUDE`
  bytes per amplitude of the ``4^c``-amplitude triangular state, measured) and the seeded reference
  probabilities (the tokens of every sample; circuit B's ``T x T`` Gram matrices).
* **data**: the token arrays of every split; TFIM's dense Hamiltonian and its exponential; a text
  corpus read into words.

The figures are estimates (stated per term), accurate to a small factor; they exist to refuse what
cannot fit, not to predict peak usage to the byte.

Source: the library (circuit layouts of METHOD.md sections 4-5 as built by :mod:`qsa.circuits`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from qsa.errors import UserError

__all__ = [
    "BACKENDS",
    "STATE_COPIES",
    "BYTES_PER_INDEX_AMPLITUDE",
    "BYTES_PER_AER_GATE",
    "Need",
    "Limit",
    "ResourceError",
    "available_memory",
    "resolve_limit",
    "parse_size",
    "format_size",
    "circuit_qubits",
    "circuit_need",
    "circuit_needs",
    "sweep_need",
    "data_need",
    "training_needs",
    "check",
]

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

#: The circuit backends whose memory is estimated.
BACKENDS = ("default.qubit", "lightning.qubit", "torch", "aer")
#: States a backend holds at once while evaluating (not training) one batch.
STATE_COPIES = {"default.qubit": 2, "lightning.qubit": 1, "torch": 4, "aer": 1}
#: Bytes per amplitude of the triangular index state while the gate-count sweep builds and counts
#: circuit A (a tuple of Python floats, the numpy table and the pruned-rotation pass; 105 B measured
#: with tracemalloc at T = 512 and 1024).
BYTES_PER_INDEX_AMPLITUDE = 112
#: Bytes per gate of a lowered Qiskit circuit (instruction, parameter expressions, transpiler copy).
BYTES_PER_QISKIT_GATE = 1024
#: Bytes per per-step object of a built circuit (phase gates, rows of a load).
BYTES_PER_STEP = 1024
#: Bytes per lowered gate of a circuit run on Aer (the QSA circuit, the Qiskit circuit, its transpiled copy and
#: Aer's own): the growth of the peak RSS of ``qsa.circuit_observables(..., circuit="B", backend="aer")`` at
#: T = 1 was 83 MiB for 16.5k lowered gates (d = 16, k = 2) and 311 MiB for 65.6k (d = 4, k = 6), 4.9-5.1 KiB
#: per gate (qiskit 2.x, qiskit-aer 0.18; about 0.15 ms of CPU per gate, so 262k gates take about 40 s).
BYTES_PER_AER_GATE = 5 * 1024
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30}
_UNITS.update({"ti": 2**40, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12})
_UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


# --- sizes and limits ------------------------------------------------------------------------------


def format_size(n: float) -> str:
    """``n`` bytes as ``"512 B"``, ``"64 GiB"``, ``"1.5 TiB"`` (binary units, at most 3 significant digits)."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        n /= 1024
        if n < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def parse_size(value: Any, name: str = "memory limit") -> int:
    """Bytes from ``value``: a positive integer, or a string such as ``"16 GiB"``, ``"512MiB"``, ``"2e9"``, ``"8G"``.

    Raises:
        UserError: if ``value`` is not a positive size (the message names ``name``).
    """
    if isinstance(value, bool):
        raise UserError(f"{name} must be a positive size such as 16GiB (or bytes); got {value!r}", key=name)
    if isinstance(value, int):
        if value <= 0:
            raise UserError(f"{name} must be a positive number of bytes; got {value}", key=name)
        return value
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", value)
        unit = match and match[2].lower()
        if match and unit in _UNITS and float(match[1]) > 0:
            return int(float(match[1]) * _UNITS[unit])
    raise UserError(
        f"{name} must be a positive size such as 16GiB, 512 MiB or 2e9 (bytes); got {value!r}",
        key=name,
    )


def _meminfo_available() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    match = re.search(r"^MemAvailable:\s+(\d+)\s+kB", text, re.MULTILINE)
    return int(match[1]) * 1024 if match else None


def _cgroup_available() -> int | None:
    """Room left under a cgroup memory limit (v2 ``memory.max``, v1 ``memory.limit_in_bytes``), if any."""
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            cap = Path(limit).read_text().strip()
            used = int(Path(usage).read_text().strip())
        except (OSError, ValueError):
            continue
        if cap.isdigit() and int(cap) < 2**60:
            return max(0, int(cap) - used)
    return None


def available_memory() -> tuple[int, str] | None:
    """``(bytes, where the figure comes from)`` of memory available to this process, or ``None`` if unknown."""
    found = None
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        found = (int(psutil.virtual_memory().available), "psutil")
    else:
        value = _meminfo_available()
        if value is not None:
            found = (value, "MemAvailable in /proc/meminfo")
    cgroup = _cgroup_available()
    if cgroup is not None and (found is None or cgroup < found[0]):
        found = (cgroup, "this container's cgroup memory limit")
    return found


@dataclass(frozen=True)
class Limit:
    """The memory a computation may use: ``nbytes``, and ``source`` saying where that figure comes from."""

    nbytes: int
    source: str

    def describe(self) -> str:
        return self.source.format(size=format_size(self.nbytes))


def resolve_limit(limit: Any = None, *, key: str = "memory limit") -> Limit | None:
    """The :class:`Limit`: ``limit`` if given (bytes or ``"16 GiB"``; ``key`` names it in messages), else the
    memory this machine has available (:func:`available_memory`), else ``None`` (unknown: nothing is checked)."""
    if isinstance(limit, Limit):
        return limit
    if limit is not None:
        return Limit(parse_size(limit, key), f"the limit {key} allows is {{size}}")
    found = available_memory()
    if found is None:
        logger.info("available memory unknown (no psutil, no /proc/meminfo): memory preflight skipped")
        return None
    return Limit(found[0], f"this machine has {{size}} available ({found[1]})")


# --- needs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """An estimate: ``what`` needs ``nbytes``, as ``detail`` computes it; ``advice`` says what to change.

    ``key`` is the config key or argument the user would change first (e.g. ``"model.backend"``).
    """

    what: str
    nbytes: int
    detail: str
    advice: str = ""
    key: str | None = None

    def message(self, limit: Limit) -> str:
        text = f"{self.what} needs {format_size(self.nbytes)} ({self.detail}); {limit.describe()}"
        return text + (f"; {self.advice}" if self.advice else "")


class ResourceError(UserError):
    """A computation refused before it starts because its :class:`Need` exceeds the :class:`Limit`."""

    def __init__(self, need: Need, limit: Limit) -> None:
        super().__init__(need.message(limit), key=need.key)
        self.need, self.limit = need, limit


def check(needs: Need | Iterable[Need], *, limit: Any = None, key: str = "memory limit") -> list[Need]:
    """Raise :class:`ResourceError` for the largest of ``needs`` over the limit; return ``needs`` as a list.

    ``limit``: bytes, a size string, a :class:`Limit`, or ``None`` for this machine's available
    memory (:func:`resolve_limit`; ``key`` names the setting in messages).
    """
    needs = [needs] if isinstance(needs, Need) else list(needs)
    resolved = resolve_limit(limit, key=key)
    if resolved is None or not needs:
        return needs
    worst = max(needs, key=lambda n: n.nbytes)
    if worst.nbytes > resolved.nbytes:
        raise ResourceError(worst, resolved)
    logger.debug("preflight: %s needs %s (limit %s)", worst.what, format_size(worst.nbytes), resolved.describe())
    return needs


def _pow2(e: int) -> str:
    return f"2^{e}"


def _index_qubits(T: int) -> int:
    return (T - 1).bit_length()


def _check_sizes(T: Any, d: Any, k: Any) -> tuple[int, int, int]:
    from qsa.circuits import _checks  # the checks qsa._validate re-exports, without loading torch

    T = _checks.integer(T, "T", minimum=1)
    _checks.power_of_two(d, "d")
    k = _checks.integer(k, "k", minimum=1)
    return T, int(d), k


def _names(names: Mapping[str, str] | None) -> dict[str, str]:
    out = {"T": "T", "d": "d", "k": "k", "backend": "backend", "batch": "batch"}
    out.update(names or {})
    return out


def _circuit_keyword(function: Callable[P, R]) -> Callable[P, R]:
    """Accept the old keyword ``family=`` for ``circuit=`` with a ``DeprecationWarning`` ("family" means a model
    family: qsa, kcsa, softmax, ...)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if "family" in kwargs:
            if "circuit" in kwargs or args:
                raise TypeError(f"{function.__name__}() got both circuit and its deprecated name family")
            warnings.warn(
                f"{function.__name__}(family=...) is deprecated: the argument is now called circuit "
                "('family' means a model family)",
                DeprecationWarning,
                stacklevel=2,
            )
            kwargs["circuit"] = kwargs.pop("family")
        return function(*args, **kwargs)

    return wrapper


def _check_circuit(circuit: Any) -> str:
    if circuit not in ("A", "B"):
        raise ValueError(f"circuit must be 'A' or 'B'; got {circuit!r}")
    return str(circuit)


@_circuit_keyword
def circuit_qubits(circuit: str, T: int, d: int, k: int = 1, *, kernel: str = "mono") -> int:
    """Qubits of circuit A (``2c + (k+1) log2 d``, ``+ k`` for the poly kernel) or B (``c + (k+1) log2 d``),
    ``c = ceil(log2 T)``, without building it (the tests pin it to :mod:`qsa.circuits`).

    ``circuit`` is ``"A"`` or ``"B"`` (the keyword ``family=`` still works, with a ``DeprecationWarning``).

    Raises:
        ValueError, TypeError: for a circuit other than ``"A"``/``"B"`` or sizes that are not valid.
    """
    T, d, k = _check_sizes(T, d, k)
    c, n = _index_qubits(T), d.bit_length() - 1
    if _check_circuit(circuit) == "B":
        return c + (k + 1) * n
    return 2 * c + (k + 1) * n + (k if kernel == "poly" else 0)


@_circuit_keyword
def circuit_need(
    circuit: str,
    T: int,
    d: int,
    k: int = 1,
    *,
    variant: str | None = None,
    kernel: str = "mono",
    backend: str = "default.qubit",
    batch: int = 1,
    training: bool = False,
    diff_method: str = "best",
    w_layers: int = 2,
    v_layers: int = 2,
    amplitude_bytes: int = 16,
    names: Mapping[str, str] | None = None,
) -> Need:
    """The memory of running one QSA circuit on ``backend``, from its sizes alone (module docstring).

    Args:
        circuit: ``"A"`` (circuit A, :func:`qsa.circuits.circuit_a`) or ``"B"`` (circuit B); the keyword
            ``family=`` still works, with a ``DeprecationWarning``.
        T, d, k: steps, token width (a power of two), key copies.
        variant: ``"mu"`` (default), ``"zeta"`` or ``"nu"`` for circuit A; ``"P0"`` for B.
        kernel: ``"mono"`` or ``"poly"`` (circuit A; adds ``k`` qubits).
        backend: one of :data:`BACKENDS`.
        batch: sequences simulated together (the torch simulator's chunk; 1 on the other backends).
        training: gradients are taken (``diff_method``: PennyLane's; backprop keeps one state per operation).
        w_layers, v_layers: ansatz depths (operations kept for backpropagation).
        amplitude_bytes: 16 (complex128) or 8 (complex64).
        names: how to name ``T``, ``d``, ``k``, ``backend`` in the message (config keys, e.g.
            ``{"T": "data.T", "d": "model.d"}``).

    Returns:
        A :class:`Need` whose ``detail`` lists every term; ``key`` is the name of ``T``.

    Raises:
        ValueError, TypeError: for sizes or names that are not valid.
    """
    T, d, k = _check_sizes(T, d, k)
    circuit = _check_circuit(circuit)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
    variants = ("mu", "zeta", "nu") if circuit == "A" else ("P0",)
    variant = variants[0] if variant is None else variant
    if variant not in variants:
        raise ValueError(f"variant must be one of {variants} for circuit {circuit}; got {variant!r}")
    if kernel not in ("mono", "poly") or (circuit == "B" and kernel != "mono"):
        raise ValueError(f"kernel must be 'mono' or 'poly' ('mono' for circuit B); got {kernel!r}")
    batch = max(1, int(batch))
    z = int(amplitude_bytes)
    key = _names(names)
    c, n = _index_qubits(T), d.bit_length() - 1
    n_qubits = circuit_qubits(circuit, T, d, k, kernel=kernel)
    if circuit == "A":
        preps = [2 * c, 2 * c] if variant == "mu" else [2 * c, c]
        loads = [(c, n)] * (k + 1) + [(c, n)] * (k + (0 if variant == "zeta" else 1))
        n_observables = 1 if variant == "mu" else T
        gates = (k * w_layers + v_layers) * 4 * n + (T if variant == "mu" else 0)
        data = 2 * T * d * z * batch
    else:
        preps = [c, c]
        loads = [(c, (k + 1) * n)] + [(c, n)] * (k + 1)
        n_observables = 1
        gates = (k * w_layers + v_layers) * 4 * n + T
        data = (2 * T * d + T * d ** (k + 1)) * z * batch
    preps = [w for w in preps if w]

    state_copies = STATE_COPIES[backend]
    method = diff_method
    if training:
        if method == "best":
            method = {"default.qubit": "backprop", "torch": "backprop", "lightning.qubit": "adjoint"}.get(backend)
        n_ops = len(preps) + len(loads) + gates
        if backend == "torch":  # gate runs are fused: one operation per run, not per gate
            n_ops = len(preps) + len(loads) + (k + 2)
        if method == "backprop":
            state_copies += n_ops
        elif method == "adjoint":
            state_copies += 1 + n_observables
    terms: list[tuple[int, str]] = []
    state = 2**n_qubits * z * batch * state_copies
    copies = f" x {state_copies} states" if state_copies > 1 else ""
    per_batch = f" x {batch} sequences" if batch > 1 else ""
    terms.append((state, f"statevector {_pow2(n_qubits)} amplitudes x {z} B{copies}{per_batch}"))

    dense = 0
    if backend in ("default.qubit", "lightning.qubit", "torch"):
        dense += sum(4**w * z for w in preps) + 2 * max((4**w * 8 for w in preps), default=0)  # + Householder work
    if backend == "default.qubit":
        dense += sum(4 ** (ci + m) * z + T * 4**m * z for ci, m in loads)
    elif backend == "lightning.qubit":
        dense += sum(T * 4**m * z for _, m in loads)
    elif backend == "torch":
        dense += sum(2 * T * 4**m * z * batch for m in {m for _, m in loads})  # x/y blocks, cached per call
    if dense:
        terms.append((dense, "dense index states and loads"))
    if backend == "aer":
        lowered = sum(3 * 2**w for w in preps) + sum(4 * T * 2**m for _, m in loads) + gates
        terms.append((lowered * BYTES_PER_AER_GATE, f"circuit ~{lowered:.3g} lowered gates x 5 KiB"))
    terms.append((data, "data arrays"))
    total = sum(t for t, _ in terms)
    at = f"{key['T']} = {T}, {key['d']} = {d}, {key['k']} = {k}"
    what = f"the {variant} circuit ({n_qubits} qubits) at {at} on {key['backend']} = {backend!r}"
    if training:
        what += f" with {method} gradients"
    detail = "; ".join(f"{text}: {format_size(nb)}" for nb, text in terms if nb)
    advice = f"reduce {key['T']}, {key['d']} or {key['k']}, or use the analytic backend (closed forms, no statevector)"
    return Need(what, total, detail, advice, key["T"])


@_circuit_keyword
def circuit_needs(circuit: str, T: int, d: int, k: int = 1, *, kernel: str = "mono", **options: Any) -> list[Need]:
    """:func:`circuit_need` of every variant (mu, zeta, nu of circuit A; P0 of B)."""
    variants = ("mu", "zeta", "nu") if _check_circuit(circuit) == "A" else ("P0",)
    return [circuit_need(circuit, T, d, k, variant=v, kernel=kernel, **options) for v in variants]


def sweep_need(config: Any, *, names: Mapping[str, str] | None = None) -> Need:
    """The memory of the gate-count sweep :func:`qsa.resources.sweep.sweep` of ``config`` (a ``SweepConfig``).

    Shapes are measured one after another, so the need is that of the largest: building and
    counting its circuit, and the seeded reference probabilities. ``names`` names ``T``, ``d``,
    ``k`` and ``samples`` in the message (``qsa gates`` passes its flags).
    """
    key = {"T": "T", "d": "d", "k": "k", "samples": "mu_samples"}
    key.update(names or {})
    S = config.mu_samples
    worst: tuple[int, str, tuple] | None = None
    for circuit in config.circuits:
        for T in config.T:
            for d in config.d:
                for k in config.k:
                    c, n = _index_qubits(T), d.bit_length() - 1
                    terms = []
                    if circuit == "B":
                        terms.append((2**c * BYTES_PER_INDEX_AMPLITUDE, f"{_pow2(c)} index amplitudes"))
                        terms.append((3 * S * T * T * 16, f"{S} x {T}^2 x 16 B x 3 (Gram matrices)"))
                    else:
                        terms.append(
                            (
                                4**c * BYTES_PER_INDEX_AMPLITUDE,
                                f"{_pow2(2 * c)} index amplitudes x {BYTES_PER_INDEX_AMPLITUDE} B",
                            )
                        )
                    terms.append((T * BYTES_PER_STEP, f"{T} steps x {BYTES_PER_STEP // 1024} KiB"))
                    terms.append((4 * S * T * d * 16, f"4 x {S} samples x {T} x {d} x 16 B (tokens)"))
                    if T in config.transpile_T and d in config.transpile_d and k in config.transpile_k:
                        gates = 3 * 4**c + 4 * (k + 1) * T * 2**n if circuit != "B" else 4 * T * d ** (k + 1)
                        terms.append((gates * BYTES_PER_QISKIT_GATE, f"~{gates:.3g} transpiled gates x 1 KiB"))
                    total = sum(t for t, _ in terms)
                    if worst is None or total > worst[0]:
                        detail = "; ".join(f"{text}: {format_size(b)}" for b, text in terms)
                        worst = (total, detail, (circuit, T, d, k))
    assert worst is not None  # SweepConfig has a non-empty grid
    total, detail, (circuit, T, d, k) = worst
    what = f"the gate-count sweep at circuit {circuit}, {key['T']} {T}, {key['d']} {d}, {key['k']} {k}"
    advice = f"reduce {key['T']} or {key['d']}"
    return Need(what, total, detail, advice, key["T"])


def data_need(config: Any) -> Need:
    """The memory of the data of a training config (a :class:`qsa.training.TrainConfig`), before it is built."""
    from qsa.training.config import MarkovSource, TextSource, TFIMSource

    cfg = config.data
    z = 16
    if isinstance(cfg, TFIMSource):
        D = 2**cfg.n_qubits
        n_seq = cfg.n_train + cfg.n_test * (1 + cfg.n_heldout_hamiltonians)
        terms = [(n_seq * (cfg.T + 1) * D * z, f"{n_seq} sequences x {cfg.T + 1} steps x 2^{cfg.n_qubits} x {z} B")]
        from qsa.data.tfim import SPARSE_FROM_QUBITS

        if cfg.evolution == "exact" and cfg.n_qubits < SPARSE_FROM_QUBITS:  # dense expm
            terms.append((6 * D * D * z, f"dense Hamiltonian and exponential 6 x (2^{cfg.n_qubits})^2 x {z} B"))
        elif cfg.evolution == "exact":  # expm_multiply of the sparse Hamiltonian: (n + 1) 2^n non-zeros
            nnz = (cfg.n_qubits + 1) * D
            terms.append((nnz * 28 + 8 * D * z, f"sparse Hamiltonian {nnz} non-zeros x 28 B and 8 work vectors"))
        what, key = f"the TFIM data at data.n_qubits = {cfg.n_qubits}, data.T = {cfg.T}", "data.n_qubits"
    elif isinstance(cfg, MarkovSource):
        n_seq = cfg.n_train + cfg.n_test
        terms = [(2 * n_seq * cfg.T * cfg.d * z, f"2 x {n_seq} sequences x {cfg.T} x {cfg.d} x {z} B")]
        what, key = f"the Markov data at data.T = {cfg.T}, data.d = {cfg.d}", "data.n_train"
    elif isinstance(cfg, TextSource):
        size = 0
        if cfg.corpus == "file" and cfg.path:
            try:
                size = os.stat(cfg.path).st_size
            except OSError:
                size = 0  # the data builder reports a missing file
        else:
            size = 80 * cfg.n_sentences
        terms = [(40 * size, f"40 x {format_size(size)} of text (words as Python strings, ids, windows)")]
        what, key = "the text corpus" + (f" {cfg.path!r}" if cfg.corpus == "file" else ""), "data.path"
    else:  # pragma: no cover - every source is handled above
        raise TypeError(f"config.data must be a known source; got {type(cfg).__name__}")
    total = sum(t for t, _ in terms)
    detail = "; ".join(f"{text}: {format_size(b)}" for b, text in terms)
    return Need(what, total, detail, "use smaller data", key)


def training_needs(config: Any, *, data_width: int | None = None) -> list[Need]:
    """Every :class:`Need` of training ``config`` (a :class:`qsa.training.TrainConfig`): its data, the ansatz
    matrices of a QSA model and, for a circuit backend, circuit A's three circuits with gradients,
    named by their config keys.

    ``data_width``: the token width of the data when known (else it is derived from the config).
    """
    from qsa.training.config import MarkovSource, TFIMSource

    needs = [data_need(config)]
    m = config.model
    if m.family != "qsa":
        return needs
    cfg = config.data
    d = m.d
    if d is None:
        d = data_width or (
            2**cfg.n_qubits if isinstance(cfg, TFIMSource) else cfg.d if isinstance(cfg, MarkovSource) else None
        )
    if d is None:  # text without model.d: the data builder refuses it with its own message
        return needs
    layers = m.w_layers + m.v_layers
    width = f" (data.n_qubits = {cfg.n_qubits})" if m.d is None and isinstance(cfg, TFIMSource) else ""
    needs.append(
        Need(
            f"the ansatz matrices W and V at model.d = {d}{width}",
            4 * layers * d * d * 16 + d * d * 8,
            f"4 x {layers} layers x {d}^2 x 16 B (every layer's Kronecker product, their tree product and "
            f"its gradient) + the {d}^2 CNOT-ring permutation x 8 B",
            "lower model.d (a projector onto fewer qubits) or model.w_layers and model.v_layers",
            "model.d",
        )
    )
    if m.backend == "analytic":
        return needs
    batch = 1
    if m.backend == "torch":
        from qsa.evaluators._limits import MAX_AMPLITUDES  # without loading torch

        n_train = getattr(cfg, "n_train", 1) or 1
        sequences = config.train.batch_size or n_train
        width = 2 * _index_qubits(cfg.T) + (m.k + 1) * (d.bit_length() - 1) + (m.k if m.kernel == "poly" else 0)
        batch = max(1, min(sequences, MAX_AMPLITUDES // 2**width)) if width < 63 else 1
    names = {"T": "data.T", "d": "model.d", "k": "model.k", "backend": "model.backend"}
    needs += circuit_needs(
        "A",
        cfg.T,
        d,
        m.k,
        kernel=m.kernel,
        backend=m.backend,
        batch=batch,
        training=True,
        diff_method=m.diff_method,
        w_layers=m.w_layers,
        v_layers=m.v_layers,
        names=names,
    )
    return needs
