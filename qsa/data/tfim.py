r"""Transverse-field Ising trajectories: the quantum data of docs/method.md section 1.

The Hamiltonian on ``n`` qubits (sign convention as PennyLane's ``qml.spin.transverse_ising``):

.. math::

    H = -\sum_{q=0}^{n-1} h_q X_q \;-\; \sum_{b=(q,r)} J_b Z_q Z_r
      = H_X + H_{ZZ},

with per-site fields ``h_q`` and per-bond couplings ``J_b`` on an open chain
(bonds ``(q, q+1)``), a periodic chain (plus ``(n-1, 0)``), all-to-all bonds (every ``q < r``),
or an explicit list of bonds. Wire/qubit 0 is the **most significant** bit of the state index
(PennyLane order): basis state ``|b_0 b_1 ... b_{n-1}>`` has index ``sum_q b_q 2^(n-1-q)`` and
``Z_q`` acts on it with eigenvalue ``1 - 2 b_q``.

Exact evolution over one step is ``U = exp(-i H dt)``. A trajectory from ``psi_0`` is
``x_j = U^j psi_0``, ``j = 0..T``; the tokens are ``x_0..x_{T-1}`` and the targets
``y_j = x_{j+1}``. :func:`evolve` computes it with SciPy: ``scipy.linalg.expm`` of the dense
matrix for small chains (``n < SPARSE_FROM_QUBITS``, where it is fastest) and
``scipy.sparse.linalg.expm_multiply`` of the sparse Hamiltonian (``(n + 1) 2^n`` non-zeros)
above, which never forms ``U``: up to ``MAX_QUBITS`` qubits, where the dense matrices stop at
``MAX_DENSE_QUBITS``. The Hamiltonian equals PennyLane's ``qml.spin.transverse_ising`` and
Qiskit's ``SparsePauliOp`` of the same terms (:meth:`TFIM.to_pennylane`,
:meth:`TFIM.to_sparse_pauli_op`; pinned by the tests).

:func:`trotter_unitary` gives the product-formula approximations the circuit builders will
implement, with each part exponentiated exactly (``tau = dt / n_steps``):

.. math::

    U_1 = \left(e^{-i H_{ZZ}\tau} e^{-i H_X \tau}\right)^{n_\mathrm{steps}},\qquad
    U_2 = \left(e^{-i H_X\tau/2} e^{-i H_{ZZ}\tau} e^{-i H_X \tau/2}\right)^{n_\mathrm{steps}}.

By Baker-Campbell-Hausdorff one first-order step errs by ``(tau^2/2) ||[H_ZZ, H_X]|| + O(tau^3)``
and one second-order step by ``tau^3 ||[H_X,[H_X,H_ZZ]]/24 - [H_ZZ,[H_ZZ,H_X]]/12|| + O(tau^4)``
(operator norms);
over a fixed time the errors shrink as ``1/n_steps`` and ``1/n_steps^2``.
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Callable
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
import torch

from qsa import _validate
from qsa.data.sequences import Sequences

logger = logging.getLogger(__name__)

Topology = Literal["open", "periodic", "all"]
TOPOLOGIES: tuple[str, ...] = ("open", "periodic", "all")
InitialKind = Literal["haar", "basis", "product"]
INITIAL_KINDS: tuple[str, ...] = ("haar", "basis", "product")
Couplings = Literal["fixed", "random"]
COUPLINGS: tuple[str, ...] = ("fixed", "random")

#: Largest qubit count of a model (trajectories by ``expm_multiply``: 2^20 amplitudes, 16 MiB per state).
MAX_QUBITS = 20
#: Largest qubit count for the dense matrices (2^12 = 4096: a 268 MB complex matrix; expm takes minutes).
MAX_DENSE_QUBITS = 12
#: :func:`evolve` switches from dense ``expm`` to ``expm_multiply`` at this many qubits (measured
#: crossover on a 2-core machine: n = 6 dense 0.2 s against 0.28 s, n = 8 1.5 s against 0.4 s).
SPARSE_FROM_QUBITS = 7

__all__ = [
    "MAX_QUBITS",
    "COUPLINGS",
    "MAX_DENSE_QUBITS",
    "SPARSE_FROM_QUBITS",
    "TFIM",
    "TFIMParts",
    "TFIMConfig",
    "TFIMData",
    "chain_bonds",
    "transverse_ising",
    "random_tfim",
    "exact_unitary",
    "trotter_unitary",
    "initial_states",
    "trajectories",
    "evolve",
    "tfim_sequences",
    "tfim_data",
    "reference_tfim_config",
]


class TFIMParts(NamedTuple):
    """The two non-commuting parts of the TFIM Hamiltonian, dense ``(2^n, 2^n)`` complex matrices."""

    x: np.ndarray  # H_X  = -sum_q h_q X_q
    zz: np.ndarray  # H_ZZ = -sum_b J_b Z_q Z_r  (diagonal)


@dataclass(frozen=True, eq=False)
class TFIM:
    r"""A transverse-field Ising Hamiltonian ``H = -sum_q h_q X_q - sum_b J_b Z_q Z_r``.

    Build it with :func:`transverse_ising` or :func:`random_tfim` (which check their input). Qubit 0 is the
    most significant bit of the state index.

    Attributes:
        n_qubits: number of spins ``n``.
        h: per-site fields, shape ``(n,)`` (read-only array).
        bonds: pairs ``(q, r)``, ``q != r``, one per coupling.
        J: per-bond couplings, shape ``(len(bonds),)`` (read-only array).
        topology: ``"open"``, ``"periodic"``, ``"all"`` or ``"custom"`` (explicit bonds).
    """

    n_qubits: int
    h: np.ndarray
    bonds: tuple[tuple[int, int], ...]
    J: np.ndarray
    topology: str

    @property
    def dim(self) -> int:
        """Hilbert-space dimension ``2^n``."""
        return 2**self.n_qubits

    def zz_diagonal(self) -> np.ndarray:
        r"""Diagonal of ``H_ZZ``: entry ``b`` is ``-sum_bonds J (1 - 2 b_q)(1 - 2 b_r)``, shape ``(2^n,)``."""
        n = self.n_qubits
        idx = np.arange(self.dim)
        z = 1.0 - 2.0 * ((idx[None, :] >> (n - 1 - np.arange(n))[:, None]) & 1)  # (n, 2^n): Z_q eigenvalues
        diag = np.zeros(self.dim)
        for (q, r), J in zip(self.bonds, self.J):
            diag -= J * z[q] * z[r]
        return diag

    def _check_dense(self) -> None:
        if self.n_qubits > MAX_DENSE_QUBITS:
            raise ValueError(
                f"n_qubits must be <= {MAX_DENSE_QUBITS} for dense 2^n x 2^n matrices; got {self.n_qubits}: "
                "use sparse_matrix() or evolve() (expm_multiply), which go to MAX_QUBITS"
            )

    def sparse_matrix(self) -> scipy.sparse.csr_array:
        """``H`` as a sparse ``(2^n, 2^n)`` complex matrix: ``n`` off-diagonal entries per column and the diagonal."""
        n, idx = self.n_qubits, np.arange(self.dim)
        rows = [idx ^ (1 << (n - 1 - q)) for q in range(n)] + [idx]  # X_q flips bit q; H_ZZ is diagonal
        values = [np.full(self.dim, -self.h[q], dtype=np.complex128) for q in range(n)] + [self.zz_diagonal()]
        coo = scipy.sparse.coo_array(
            (np.concatenate(values).astype(np.complex128), (np.concatenate(rows), np.tile(idx, n + 1))),
            shape=(self.dim, self.dim),
        )
        return coo.tocsr()

    def to_pennylane(self) -> Any:
        """The same Hamiltonian as a PennyLane operator on wires ``0..n-1`` (wire 0 most significant).

        For uniform couplings on a chain it equals ``qml.spin.transverse_ising("chain", [n], coupling=J, h=h)``.
        """
        import pennylane as qml

        coeffs = [-float(J) for J in self.J] + [-float(h) for h in self.h]
        ops = [qml.Z(q) @ qml.Z(r) for q, r in self.bonds] + [qml.X(q) for q in range(self.n_qubits)]
        return qml.dot(coeffs, ops)

    def to_sparse_pauli_op(self) -> Any:
        """The same Hamiltonian as a Qiskit ``SparsePauliOp`` on ``n`` qubits.

        Our qubit ``q`` is Qiskit's qubit ``n - 1 - q`` (the conversion of :mod:`qsa.circuits.to_qiskit`),
        so ``Operator`` of a circuit exported by ``to_qiskit`` and this operator's matrix share one
        index order: ``to_sparse_pauli_op().to_matrix()`` equals :meth:`matrix`.
        """
        from qiskit.quantum_info import SparsePauliOp

        n = self.n_qubits
        terms = [("ZZ", [n - 1 - q, n - 1 - r], -float(J)) for (q, r), J in zip(self.bonds, self.J)]
        terms += [("X", [n - 1 - q], -float(h)) for q, h in enumerate(self.h)]
        return SparsePauliOp.from_sparse_list(terms, num_qubits=n)

    def parts(self) -> TFIMParts:
        """``H_X`` and ``H_ZZ`` as dense complex matrices (``n <= MAX_DENSE_QUBITS``)."""
        self._check_dense()
        n = self.n_qubits
        idx = np.arange(self.dim)
        hx = np.zeros((self.dim, self.dim), dtype=np.complex128)
        for q in range(n):  # X_q flips bit q, the bit of weight 2^(n-1-q): <b ^ mask|X_q|b> = 1
            hx[idx ^ (1 << (n - 1 - q)), idx] -= self.h[q]
        return TFIMParts(x=hx, zz=np.diag(self.zz_diagonal()).astype(np.complex128))

    def matrix(self) -> np.ndarray:
        """The dense Hamiltonian ``H = H_X + H_ZZ``, shape ``(2^n, 2^n)`` (``n <= MAX_DENSE_QUBITS``)."""
        p = self.parts()
        return p.x + p.zz

    def unitary(self, dt: float) -> np.ndarray:
        """``exp(-i H dt)`` (see :func:`exact_unitary`)."""
        return exact_unitary(self, dt)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly parameters (for metadata and run records)."""
        return {
            "n_qubits": self.n_qubits,
            "topology": self.topology,
            "h": [float(v) for v in self.h],
            "bonds": [list(b) for b in self.bonds],
            "J": [float(v) for v in self.J],
        }


# --- construction ----------------------------------------------------------------------------------


def _n_qubits(n_qubits: Any) -> int:
    n = _validate.integer(n_qubits, "n_qubits", minimum=1)
    if n > MAX_QUBITS:
        raise ValueError(
            f"n_qubits must be <= {MAX_QUBITS} (trajectories hold 2^n amplitudes per state); got {n}. "
            "For larger systems, map states to tokens with qsa.embeddings.Projector after simulating them elsewhere."
        )
    return n


def chain_bonds(n_qubits: int, topology: Topology = "open") -> tuple[tuple[int, int], ...]:
    """Bonds of an open chain ``(q, q+1)``, a periodic chain (plus ``(n-1, 0)``), or all pairs ``q < r``.

    A periodic chain needs ``n >= 3`` (a 2-site ring would count bond ``(0, 1)`` twice).
    """
    n = _n_qubits(n_qubits)
    _validate.one_of(topology, "topology", TOPOLOGIES)
    if topology == "open":
        return tuple((q, q + 1) for q in range(n - 1))
    if topology == "periodic":
        if n < 3:
            raise ValueError(
                f"n_qubits must be >= 3 for a periodic chain (a {n}-site ring would repeat a bond); got {n}"
            )
        return tuple((q, q + 1) for q in range(n - 1)) + ((n - 1, 0),)
    return tuple((q, r) for q in range(n) for r in range(q + 1, n))


def _bonds(n: int, topology: Any) -> tuple[tuple[tuple[int, int], ...], str]:
    if isinstance(topology, str):
        return chain_bonds(n, topology), topology  # type: ignore[arg-type]
    if not isinstance(topology, SequenceABC):
        raise TypeError(f"topology must be one of {TOPOLOGIES} or a sequence of (q, r) pairs; got {topology!r}")
    bonds = []
    seen = set()
    for pair in topology:
        if not isinstance(pair, SequenceABC) or len(pair) != 2:
            raise ValueError(f"each bond must be a pair (q, r) of qubit indices; got {pair!r}")
        q, r = (_validate.integer(v, "a bond's qubit index", minimum=0) for v in pair)
        if q >= n or r >= n:
            raise ValueError(f"each bond's qubit indices must be < n_qubits = {n}; got {tuple(pair)}")
        if q == r:
            raise ValueError(f"each bond must join two different qubits; got {tuple(pair)}")
        if frozenset((q, r)) in seen:
            raise ValueError(f"bonds must not repeat a pair; got {tuple(pair)} twice")
        seen.add(frozenset((q, r)))
        bonds.append((q, r))
    return tuple(bonds), "custom"


def _per_item(value: Any, name: str, n: int, what: str) -> np.ndarray:
    if isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, bool):
        arr = np.full(n, _validate.real_number(value, name))
    else:
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        try:
            arr = np.asarray(value)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TypeError(f"{name} must be a real number or an array of shape ({n},); got {value!r}") from exc
        if arr.dtype == object or arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise TypeError(f"{name} must be a real number or a real array of shape ({n},); got {value!r}")
        if arr.shape != (n,):
            raise ValueError(
                f"{name} must be a real number or an array of shape ({n},) (one per {what}); got shape {arr.shape}"
            )
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be finite; got {value!r}")
    arr = arr.copy()
    arr.setflags(write=False)
    return arr


def transverse_ising(
    n_qubits: int,
    *,
    h: float | Any = 1.0,
    J: float | Any = 1.0,
    topology: Topology | SequenceABC = "open",
) -> TFIM:
    r"""The TFIM ``H = -sum_q h_q X_q - sum_b J_b Z_q Z_r``.

    Args:
        n_qubits: spins ``n``, ``1 <= n <= MAX_QUBITS`` (dense matrices: ``<= MAX_DENSE_QUBITS``).
        h: transverse field, a number (uniform) or an array of shape ``(n,)`` (per site).
        J: coupling, a number (uniform) or an array of shape ``(n_bonds,)`` in bond order.
        topology: ``"open"`` chain, ``"periodic"`` chain (``n >= 3``), ``"all"`` pairs, or an
            explicit sequence of ``(q, r)`` pairs.

    Example: ``transverse_ising(3, h=1.0, J=1.0)`` is the reference chain, bonds ``((0, 1), (1, 2))``.
    """
    n = _n_qubits(n_qubits)
    bonds, name = _bonds(n, topology)
    return TFIM(
        n_qubits=n,
        h=_per_item(h, "h", n, "site"),
        bonds=bonds,
        J=_per_item(J, "J", len(bonds), "bond"),
        topology=name,
    )


def random_tfim(
    n_qubits: int,
    *,
    topology: Topology | SequenceABC = "open",
    h_range: tuple[float, float] = (0.5, 1.5),
    J_range: tuple[float, float] = (0.5, 1.5),
    seed: int | np.random.Generator,
) -> TFIM:
    """A TFIM with per-site fields ``h_q ~ U[h_range]`` and per-bond couplings ``J_b ~ U[J_range]``.

    Draws ``h`` first, then ``J``, from the generator made from ``seed``.
    """
    n = _n_qubits(n_qubits)
    bonds, name = _bonds(n, topology)
    lo_h, hi_h = _range(h_range, "h_range")
    lo_J, hi_J = _range(J_range, "J_range")
    rng = _validate.generator(seed)
    h = rng.uniform(lo_h, hi_h, size=n)
    J = rng.uniform(lo_J, hi_J, size=len(bonds))
    return transverse_ising(n, h=h, J=J, topology=list(bonds) if name == "custom" else name)


def _range(value: Any, name: str) -> tuple[float, float]:
    if not isinstance(value, SequenceABC) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (low, high); got {value!r}")
    lo = _validate.real_number(value[0], f"{name}[0]")
    hi = _validate.real_number(value[1], f"{name}[1]")
    if lo > hi:
        raise ValueError(f"{name} must have low <= high; got {tuple(value)}")
    return lo, hi


# --- evolution -------------------------------------------------------------------------------------


def _model(model: Any) -> TFIM:
    if not isinstance(model, TFIM):
        raise TypeError(f"model must be a TFIM (see qsa.data.tfim.transverse_ising); got {type(model).__name__}")
    return model


def exact_unitary(model: TFIM, dt: float) -> np.ndarray:
    """``U = exp(-i H dt)`` by ``scipy.linalg.expm`` of the dense Hamiltonian, shape ``(2^n, 2^n)`` (``n <= MAX_DENSE_QUBITS``)."""
    model = _model(model)
    model._check_dense()
    dt = _validate.real_number(dt, "dt", positive=True)
    return scipy.linalg.expm(-1j * dt * model.matrix())


def _hermitian(a: Any, name: str, dim: int | None) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or (dim is not None and arr.shape[0] != dim):
        want = "a square matrix" if dim is None else f"shape ({dim}, {dim})"
        raise ValueError(f"{name} must be {want}; got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be a numeric matrix; got dtype {arr.dtype}")
    arr = arr.astype(np.complex128)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got NaN or inf")
    scale = max(1.0, float(np.abs(arr).max()))
    if float(np.abs(arr - arr.conj().T).max()) > 1e-12 * scale:
        raise ValueError(
            f"{name} must be Hermitian; got max |{name} - {name}^dagger| = {np.abs(arr - arr.conj().T).max():.3g}"
        )
    return arr


def trotter_unitary(parts: TFIMParts | tuple[Any, Any], dt: float, n_steps: int = 1, *, order: int = 1) -> np.ndarray:
    r"""Product-formula approximation of ``exp(-i (A + B) dt)`` with ``n_steps`` steps of ``tau = dt / n_steps``.

    Args:
        parts: ``(A, B)`` Hermitian matrices, e.g. ``model.parts()`` = ``(H_X, H_ZZ)``.
        dt: total evolution time, ``> 0``.
        n_steps: Trotter steps, ``>= 1``.
        order: 1 -> ``(e^{-iB tau} e^{-iA tau})^n`` (``A`` acts first); 2 -> Strang splitting
            ``(e^{-iA tau/2} e^{-iB tau} e^{-iA tau/2})^n``.

    Each factor is exact (``scipy.linalg.expm``); only the splitting is approximate.
    """
    if not isinstance(parts, tuple) or len(parts) != 2:
        raise TypeError(
            f"parts must be a pair (H_X, H_ZZ) of Hermitian matrices, e.g. model.parts(); got {type(parts).__name__}"
        )
    A = _hermitian(parts[0], "parts[0]", None)
    B = _hermitian(parts[1], "parts[1]", A.shape[0])
    dt = _validate.real_number(dt, "dt", positive=True)
    n_steps = _validate.integer(n_steps, "n_steps", minimum=1)
    order = _validate.integer(order, "order")
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2; got {order}")
    tau = dt / n_steps
    if order == 1:
        step = scipy.linalg.expm(-1j * tau * B) @ scipy.linalg.expm(-1j * tau * A)
    else:
        half = scipy.linalg.expm(-0.5j * tau * A)
        step = half @ scipy.linalg.expm(-1j * tau * B) @ half
    return np.linalg.matrix_power(step, n_steps)


# --- states and trajectories -----------------------------------------------------------------------


def initial_states(
    n_states: int,
    n_qubits: int,
    *,
    kind: InitialKind = "haar",
    seed: int | np.random.Generator,
) -> np.ndarray:
    r"""Random initial states, shape ``(n_states, 2^n)``, complex128, unit rows.

    Args:
        n_states: how many, ``>= 1``.
        n_qubits: ``n``.
        kind: ``"haar"`` (uniform on the unit sphere of ``C^(2^n)``: normalised complex Gaussian),
            ``"basis"`` (computational basis states ``|b>`` with ``b`` uniform in ``0..2^n-1``), or
            ``"product"`` (a Haar-random single-qubit state on every qubit, qubit 0 most significant).
        seed: int or ``numpy.random.Generator``.
    """
    n_states = _validate.integer(n_states, "n_states", minimum=1)
    n = _n_qubits(n_qubits)
    _validate.one_of(kind, "kind", INITIAL_KINDS)
    rng = _validate.generator(seed)
    dim = 2**n
    if kind == "haar":
        psi = rng.normal(size=(n_states, dim)) + 1j * rng.normal(size=(n_states, dim))
        return psi / np.linalg.norm(psi, axis=-1, keepdims=True)
    if kind == "basis":
        psi = np.zeros((n_states, dim), dtype=np.complex128)
        psi[np.arange(n_states), rng.integers(0, dim, size=n_states)] = 1.0
        return psi
    qubits = rng.normal(size=(n_states, n, 2)) + 1j * rng.normal(size=(n_states, n, 2))
    qubits /= np.linalg.norm(qubits, axis=-1, keepdims=True)
    psi = qubits[:, 0]  # (n_states, 2)
    for q in range(1, n):
        psi = (psi[:, :, None] * qubits[:, q, None, :]).reshape(n_states, -1)  # (n_states, 2^(q+1))
    return psi


def trajectories(U: Any, psi0: Any, T: int) -> np.ndarray:
    r"""States ``x_j = U^j psi0`` for ``j = 0..T``, shape ``(S, T+1, D)`` (``T+1`` so that ``y_j = x_{j+1}``).

    Args:
        U: unitary ``(D, D)``.
        psi0: initial states ``(S, D)`` (or ``(D,)`` for one), unit rows.
        T: steps with a target, ``>= 1``.
    """
    U = np.asarray(U)
    if U.ndim != 2 or U.shape[0] != U.shape[1]:
        raise ValueError(f"U must be a square matrix; got shape {U.shape}")
    U = U.astype(np.complex128)
    err = float(np.abs(U.conj().T @ U - np.eye(U.shape[0])).max())
    if not np.isfinite(err) or err > 1e-10:
        raise ValueError(f"U must be unitary; got max |U^dagger U - I| = {err:.3g}")
    psi0 = _initial(psi0, U.shape[0])
    T = _validate.integer(T, "T", minimum=1)
    states = np.empty((psi0.shape[0], T + 1, U.shape[0]), dtype=np.complex128)  # (S, T+1, D)
    states[:, 0] = psi0
    for j in range(T):
        states[:, j + 1] = states[:, j] @ U.T  # x_{j+1} = U x_j, row-wise
    return states


def _initial(psi0: Any, dim: int) -> np.ndarray:
    """``psi0`` as checked unit rows ``(S, dim)`` complex128."""
    psi = np.asarray(psi0)
    if psi.ndim == 1:
        psi = psi[None]
    if psi.ndim != 2 or psi.shape[1] != dim:
        raise ValueError(f"psi0 must have shape (S, {dim}) or ({dim},); got {np.asarray(psi0).shape}")
    psi = psi.astype(np.complex128)
    norms = np.linalg.norm(psi, axis=-1)
    if not np.all(np.isfinite(norms)) or float(np.abs(norms - 1).max()) > 1e-10:
        raise ValueError(f"psi0 must have finite unit-norm rows; got norms off by {float(np.abs(norms - 1).max()):.3g}")
    return psi


EVOLVE_METHODS: tuple[str, ...] = ("auto", "dense", "expm_multiply")


def evolve(
    model: TFIM, psi0: Any, *, dt: float, T: int, method: Literal["auto", "dense", "expm_multiply"] = "auto"
) -> np.ndarray:
    r"""Exact trajectories ``x_j = exp(-i H dt)^j psi0``, ``j = 0..T``: shape ``(S, T+1, 2^n)``, complex128.

    Args:
        model: the TFIM (up to ``MAX_QUBITS`` qubits).
        psi0: initial states ``(S, 2^n)`` (or ``(2^n,)``), unit rows.
        dt: time step, ``> 0``; T: steps with a target, ``>= 1``.
        method: ``"dense"`` (``U`` by ``scipy.linalg.expm``, then ``T`` products; ``n <= MAX_DENSE_QUBITS``),
            ``"expm_multiply"`` (``scipy.sparse.linalg.expm_multiply`` of the sparse ``-i H dt`` at the
            times ``0, 1, ..., T``, all initial states at once; ``U`` is never formed), or ``"auto"``:
            dense below ``SPARSE_FROM_QUBITS`` qubits, ``expm_multiply`` from there on. The two agree
            to about ``1e-14`` (pinned by the tests at ``1e-10``).

    Raises:
        ValueError: for a bad ``psi0``, ``dt``, ``T`` or ``method``, or ``method="dense"`` above
            ``MAX_DENSE_QUBITS``, before any evolution.
    """
    model = _model(model)
    dt = _validate.real_number(dt, "dt", positive=True)
    T = _validate.integer(T, "T", minimum=1)
    _validate.one_of(method, "method", EVOLVE_METHODS)
    psi = _initial(psi0, model.dim)
    if method == "auto":
        method = "dense" if model.n_qubits < SPARSE_FROM_QUBITS else "expm_multiply"
    if method == "dense":
        return trajectories(exact_unitary(model, dt), psi, T)
    A = (-1j * dt) * model.sparse_matrix()  # (D, D) sparse; the states are exp(t A) psi at t = 0..T
    states = scipy.sparse.linalg.expm_multiply(A, psi.T, start=0.0, stop=float(T), num=T + 1, endpoint=True)
    return np.ascontiguousarray(np.transpose(states, (2, 0, 1)))  # (T+1, D, S) -> (S, T+1, D)


def tfim_sequences(
    model: TFIM,
    *,
    dt: float,
    T: int,
    n_sequences: int,
    initial: InitialKind = "haar",
    seed: int | np.random.Generator,
    dtype: torch.dtype = torch.complex128,
) -> Sequences:
    r"""``n_sequences`` exact TFIM trajectories as :class:`Sequences` (``X = x_0..x_{T-1}``, ``Y = x_1..x_T``).

    Token width ``d = 2^n``. The trajectories come from :func:`evolve` (``method="auto"``).
    ``meta`` records the Hamiltonian (``model.as_dict()``), ``dt``, ``initial`` and the seed when it was an int.
    """
    model = _model(model)
    _validate.complex_dtype(dtype)
    T = _validate.integer(T, "T", minimum=1)
    n_sequences = _validate.integer(n_sequences, "n_sequences", minimum=1)
    dt = _validate.real_number(dt, "dt", positive=True)
    _validate.one_of(initial, "initial", INITIAL_KINDS)
    psi0 = initial_states(n_sequences, model.n_qubits, kind=initial, seed=seed)
    states = evolve(model, psi0, dt=dt, T=T)  # (S, T+1, 2^n)
    meta = {
        "source": "tfim",
        "hamiltonian": model.as_dict(),
        "dt": dt,
        "initial": initial,
        "seed": int(seed) if isinstance(seed, numbers.Integral) else None,
    }
    return Sequences.from_trajectories(states, field="complex", meta=meta, dtype=dtype)


# --- configured data sets --------------------------------------------------------------------------


@dataclass(frozen=True)
class TFIMConfig:
    """A TFIM data set: training Hamiltonian(s), test sequences, held-out Hamiltonians.

    The defaults are the reference task of docs/method.md section 9 (see :func:`reference_tfim_config`).

    Attributes:
        n_qubits: spins; token width ``d = 2^n_qubits``.
        h, J: field and coupling of the training Hamiltonian (uniform over sites and bonds) when
            ``couplings = "fixed"``.
        topology: ``"open"``, ``"periodic"`` or ``"all"``.
        dt: time step of ``U = exp(-i H dt)``.
        T: steps per sequence.
        n_train, n_test: sequences from new random initial states.
        initial: initial-state kind (see :func:`initial_states`).
        couplings: ``"fixed"``: every training and test sequence evolves under the one Hamiltonian
            ``(h, J)``. ``"random"``: a new Hamiltonian is drawn for every
            ``sequences_per_hamiltonian`` sequences (training and test alike, test from its own
            stream), with couplings ``J_b ~ U[J_range]`` on every bond and fields
            ``h_q ~ U[h_range]`` (``h_range = None``: ``h`` on every site). The QSA authors' first
            version used all-to-all couplings ``J_ij ~ U[0, 1]`` redrawn every 10 sequences
            (``topology = "all"``, ``J_range = (0, 1)``, ``sequences_per_hamiltonian = 10``).
        h_range, J_range, sequences_per_hamiltonian: the random couplings (``couplings = "random"`` only).
        n_heldout_hamiltonians: Hamiltonians with random couplings (:func:`random_tfim`), each with
            ``n_test`` sequences.
        heldout_h_range, heldout_J_range: uniform ranges for the held-out fields and couplings.
            ``None`` derives them from the training Hamiltonians (:meth:`heldout_ranges`): half to
            one and a half times the fixed ``h`` or ``J`` (``(0.5, 1.5)`` for the reference, and of
            the same sign for negative couplings), or the training ranges for random couplings.
    """

    n_qubits: int = 3
    h: float = 1.0
    J: float = 1.0
    topology: Topology = "open"
    dt: float = 0.35
    T: int = 16
    n_train: int = 4
    n_test: int = 4
    initial: InitialKind = "haar"
    couplings: Couplings = "fixed"
    h_range: tuple[float, float] | None = None
    J_range: tuple[float, float] = (0.0, 1.0)
    sequences_per_hamiltonian: int = 10
    n_heldout_hamiltonians: int = 2
    heldout_h_range: tuple[float, float] | None = None
    heldout_J_range: tuple[float, float] | None = None

    def training_ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``(h_range, J_range)`` of the random training couplings (``h_range = None``: ``(h, h)``)."""
        h_range = (self.h, self.h) if self.h_range is None else _range(self.h_range, "h_range")
        return h_range, _range(self.J_range, "J_range")

    def heldout_ranges(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``(heldout_h_range, heldout_J_range)`` with the ``None`` defaults resolved (see the class docstring)."""

        def around(v: float) -> tuple[float, float]:
            a, b = 0.5 * v, 1.5 * v
            return (min(a, b), max(a, b))

        if self.couplings == "random":
            h_default, J_default = self.training_ranges()
        else:
            h_default, J_default = around(self.h), around(self.J)
        h_range = h_default if self.heldout_h_range is None else _range(self.heldout_h_range, "heldout_h_range")
        J_range = J_default if self.heldout_J_range is None else _range(self.heldout_J_range, "heldout_J_range")
        return h_range, J_range


class TFIMData(NamedTuple):
    """Training sequences and the two held-out sets of :func:`tfim_data`."""

    train: Sequences
    test: Sequences  # same Hamiltonian, new initial states
    heldout_hamiltonians: tuple[Sequences, ...]  # one Sequences per held-out Hamiltonian


def reference_tfim_config() -> TFIMConfig:
    """The reference task: open chain ``n = 3`` (``d = 8``), ``h = J = 1``, ``dt = 0.35``, ``T = 16``,
    Haar-random complex initial states, 4 training + 4 test sequences."""
    return TFIMConfig()


#: Makes ``n_sequences`` trajectories of a Hamiltonian from a generator (initial states drawn from it).
Simulate = Callable[[TFIM, int, np.random.Generator], Sequences]


def _concat(parts: list[Sequences], meta: dict[str, Any]) -> Sequences:
    X = torch.cat([p.X for p in parts])  # (S, T, d)
    Y = torch.cat([p.Y for p in parts])  # (S, T, d)
    return Sequences(X, Y, field="complex", meta=meta)


def _draw(config: TFIMConfig, stream: np.random.Generator, n: int, simulate: Simulate) -> Sequences:
    """``n`` sequences of the training distribution: one fixed Hamiltonian, or a new draw every
    ``sequences_per_hamiltonian`` sequences (each group from its own child of ``stream``)."""
    if config.couplings == "fixed":
        model = transverse_ising(config.n_qubits, h=config.h, J=config.J, topology=config.topology)
        return simulate(model, n, stream)
    per = config.sequences_per_hamiltonian
    h_range, J_range = config.training_ranges()
    parts, hamiltonians = [], []
    for group, child in enumerate(stream.spawn(-(-n // per))):
        model = random_tfim(config.n_qubits, topology=config.topology, h_range=h_range, J_range=J_range, seed=child)
        parts.append(simulate(model, min(per, n - group * per), child))
        hamiltonians.append(model.as_dict())
    meta = {
        **parts[0].meta,
        "hamiltonian": None,
        "hamiltonians": hamiltonians,
        "sequences_per_hamiltonian": per,
        "seed": None,
    }
    return _concat(parts, meta)


def tfim_data(
    config: TFIMConfig,
    *,
    seed: int | np.random.Generator,
    dtype: torch.dtype = torch.complex128,
    simulate: Simulate | None = None,
) -> TFIMData:
    """Build the data set of ``config``.

    ``seed`` is split (``numpy`` ``spawn``) into independent streams for the training states, the
    test states and each held-out Hamiltonian (couplings, then its states), so changing
    ``n_heldout_hamiltonians`` leaves ``train`` and ``test`` unchanged. With random couplings the
    training (test) stream is split again, one child per Hamiltonian (its couplings, then its states).

    Args:
        config: the :class:`TFIMConfig`.
        seed: int or ``numpy.random.Generator``.
        dtype: ``torch.complex128`` or ``torch.complex64``.
        simulate: ``simulate(model, n_sequences, generator) -> Sequences``, the trajectories of one
            Hamiltonian; ``None`` uses the exact :func:`tfim_sequences` (``qsa.data.trotter`` passes
            Trotter circuits here).
    """
    if not isinstance(config, TFIMConfig):
        raise TypeError(f"config must be a TFIMConfig; got {type(config).__name__}")
    n_held = _validate.integer(config.n_heldout_hamiltonians, "n_heldout_hamiltonians", minimum=0)
    _validate.one_of(config.couplings, "couplings", COUPLINGS)
    _validate.integer(config.sequences_per_hamiltonian, "sequences_per_hamiltonian", minimum=1)
    config.training_ranges()  # checks the ranges before anything is simulated
    h_held, J_held = config.heldout_ranges()
    if simulate is None:
        common = dict(dt=config.dt, T=config.T, initial=config.initial, dtype=dtype)

        def simulate(model: TFIM, n: int, rng: np.random.Generator) -> Sequences:
            return tfim_sequences(model, n_sequences=n, seed=rng, **common)

    streams = _validate.generator(seed).spawn(2 + n_held)  # children 0, 1 do not depend on n_held
    train = _draw(config, streams[0], config.n_train, simulate)
    test = _draw(config, streams[1], config.n_test, simulate)
    held = []
    for stream in streams[2:]:
        other = random_tfim(config.n_qubits, topology=config.topology, h_range=h_held, J_range=J_held, seed=stream)
        held.append(simulate(other, config.n_test, stream))
    logger.debug("tfim_data: %d train, %d test, %d held-out Hamiltonians", len(train), len(test), n_held)
    return TFIMData(train=train, test=test, heldout_hamiltonians=tuple(held))
