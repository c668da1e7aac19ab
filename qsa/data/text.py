r"""Text as next-token sequences: tokenizer, vocabulary, loader, windows, and offline demo corpora.

Pipeline (docs/method.md section 1, classical data): ``text -> tokenize -> Vocabulary (built from the
training positions) -> ids -> (S, T+1) windows``; :class:`qsa.embeddings.IsometricEmbedding` maps a
window ``w_0..w_T`` to tokens ``x_t`` (from ``w_t``) and targets ``y_t`` (from ``w_{t+1}``).

Tokenizer: the text is lowercased (``str.lower``); a **word** is a maximal run of letters, digits
and underscores (Unicode ``\w``), possibly joined by apostrophes (``don't``, ``o'clock``); every
other non-space character (punctuation, symbols) is a token of its own. Whitespace only separates.

Vocabulary: tokens kept by count (``min_count``, ``max_size``), most frequent first (ties
alphabetical). The unknown token ``<unk>`` is added only when the build leaves something out (or
when asked), so a vocabulary that covers its data has no unused ``<unk>`` slot (docs/method.md section 8:
a tiny fixed vocabulary maps real text to ``<unk>``).

Demo corpora, both offline and with no text copied into the repository:

- ``"grammar"`` (**the default**): sentences from a small probabilistic context-free English
  grammar written here (number agreement, transitive/intransitive verbs, adjectives, prepositional
  phrases, relative clauses, questions). Seeded and identical on every platform and Python version.
- ``"stdlib"``: the Zen of Python and the docstrings of a list of pure-Python standard-library
  modules, read from their source with ``importlib`` (nothing is imported or executed). Real
  English prose, but it changes with the Python version, and modules whose source is not shipped
  (frozen or stripped installs) are skipped.
"""

from __future__ import annotations

import ast
import codecs
import importlib.util
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Iterable
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch

from qsa import _validate

logger = logging.getLogger(__name__)

UNK = "<unk>"

__all__ = [
    "UNK",
    "tokenize",
    "Vocabulary",
    "load_text",
    "windows",
    "TextData",
    "text_dataset",
    "grammar_corpus",
    "stdlib_corpus",
    "STDLIB_MODULES",
    "demo_corpus",
]

_TOKEN = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lowercase words (apostrophes inside words kept) and single punctuation/symbol characters.

    ``tokenize("Don't panic, Arthur!") == ["don't", "panic", ",", "arthur", "!"]``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str; got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


# --- vocabulary ------------------------------------------------------------------------------------

_FORMAT = "qsa-vocabulary"
_VERSION = 1


@dataclass(frozen=True)
class Vocabulary:
    """A token <-> id map, most frequent token first; ``<unk>`` (id 0) only if the build left tokens out.

    Build with :meth:`build`; save/load as JSON with :meth:`save` / :meth:`load`.

    Attributes:
        tokens: the tokens in id order (``<unk>`` first when present).
        counts: how often each token occurred in the data it was built from (for ``<unk>``: the
            total count of the tokens left out).
        has_unk: whether id 0 is ``<unk>``.
    """

    tokens: tuple[str, ...]
    counts: tuple[int, ...]
    has_unk: bool

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.counts):
            raise ValueError(f"counts must have one entry per token ({len(self.tokens)}); got {len(self.counts)}")
        if len(self.tokens) < 1:
            raise ValueError("tokens must not be empty")
        if any(not isinstance(t, str) or not t for t in self.tokens):
            raise TypeError("tokens must be non-empty strings")
        if len(set(self.tokens)) != len(self.tokens):
            dup = next(t for t, c in Counter(self.tokens).items() if c > 1)
            raise ValueError(f"tokens must be distinct; got {dup!r} twice")
        if self.has_unk != (self.tokens[0] == UNK) or UNK in self.tokens[1:]:
            raise ValueError(f"{UNK!r} must be the first token exactly when has_unk is True")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(
        cls,
        tokens: Iterable[str],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        reserve_unk: bool = False,
    ) -> Vocabulary:
        """The vocabulary of ``tokens``.

        Args:
            tokens: the training tokens (e.g. :func:`tokenize` output).
            min_count: keep tokens seen at least this often.
            max_size: at most this many entries, ``<unk>`` included (``>= 2``); ``None`` for no limit.
            reserve_unk: add ``<unk>`` even if nothing is left out (for data beyond ``tokens``).
        """
        tokens = list(tokens)
        if not tokens:
            raise ValueError("tokens must not be empty")
        if any(not isinstance(t, str) for t in tokens):
            bad = next(t for t in tokens if not isinstance(t, str))
            raise TypeError(f"tokens must be strings; got {type(bad).__name__}")
        if UNK in tokens:
            raise ValueError(f"tokens must not contain the reserved token {UNK!r}")
        min_count = _validate.integer(min_count, "min_count", minimum=1)
        if max_size is not None:
            max_size = _validate.integer(max_size, "max_size", minimum=2)
        counts = Counter(tokens)
        kept = sorted((t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if not kept:
            raise ValueError(
                f"min_count must leave at least one token; got min_count={min_count} "
                f"but the most frequent token occurs {max(counts.values())} times"
            )
        need_unk = reserve_unk or len(kept) < len(counts)
        if max_size is not None and len(kept) + need_unk > max_size:
            need_unk = True
            kept = kept[: max_size - 1]
        kept_counts = [counts[t] for t in kept]
        if need_unk:
            left_out = len(tokens) - sum(kept_counts)
            return cls(tokens=(UNK, *kept), counts=(left_out, *kept_counts), has_unk=True)
        return cls(tokens=tuple(kept), counts=tuple(kept_counts), has_unk=False)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index  # type: ignore[attr-defined]

    @property
    def unk_id(self) -> int | None:
        """Id of ``<unk>`` (0) or ``None`` without one."""
        return 0 if self.has_unk else None

    def index(self, token: str) -> int:
        """The id of ``token`` (``<unk>``'s id for an unknown token, if there is one)."""
        return int(self.encode([token])[0])

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids of ``tokens``, shape ``(N,)`` int64; unknown tokens map to ``<unk>`` or raise without one."""
        index = self._index  # type: ignore[attr-defined]
        tokens = list(tokens)
        if self.has_unk:
            return np.fromiter((index.get(t, 0) for t in tokens), dtype=np.int64, count=len(tokens))
        missing = [t for t in tokens if t not in index]
        if missing:
            shown = sorted(set(missing))[:5]
            raise ValueError(
                f"tokens must be in the vocabulary (it has no {UNK!r}: build it with reserve_unk=True to map "
                f"unseen tokens); got {len(set(missing))} unknown, e.g. {shown}"
            )
        return np.fromiter((index[t] for t in tokens), dtype=np.int64, count=len(tokens))

    def decode(self, ids: Iterable[int] | np.ndarray | torch.Tensor) -> list[str]:
        """Tokens of ``ids`` (a 1-d sequence of ints in ``[0, len(self))``)."""
        if isinstance(ids, torch.Tensor):
            arr = ids.detach().cpu().numpy()
        else:
            arr = np.asarray(ids if isinstance(ids, np.ndarray) else list(ids))
        if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(f"ids must be a 1-d sequence of integers; got shape {arr.shape}, dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= len(self)):
            raise ValueError(f"ids must lie in [0, {len(self)}); got values in [{arr.min()}, {arr.max()}]")
        return [self.tokens[i] for i in arr]

    def to_json(self) -> str:
        """JSON text: ``{"format", "version", "has_unk", "tokens", "counts"}``."""
        return json.dumps(
            {
                "format": _FORMAT,
                "version": _VERSION,
                "has_unk": self.has_unk,
                "tokens": list(self.tokens),
                "counts": list(self.counts),
            },
            ensure_ascii=False,
            indent=0,
        )

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"vocabulary JSON must be valid JSON; got an error: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"vocabulary JSON must have format {_FORMAT!r}; got {type(data).__name__} without it")
        if data.get("version") != _VERSION:
            raise ValueError(f"vocabulary JSON must have version {_VERSION}; got {data.get('version')!r}")
        try:
            return cls(
                tokens=tuple(data["tokens"]),
                counts=tuple(int(c) for c in data["counts"]),
                has_unk=bool(data["has_unk"]),
            )
        except KeyError as exc:
            raise ValueError(f"vocabulary JSON must have the key {exc.args[0]!r}") from exc

    def save(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_json` to ``path`` (UTF-8)."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a vocabulary written by :meth:`save`."""
        return cls.from_json(load_text(path))


# --- loading ---------------------------------------------------------------------------------------


def load_text(path: str | os.PathLike) -> str:
    """The contents of the UTF-8 text file ``path`` (a leading byte-order mark is dropped).

    Raises:
        FileNotFoundError: no such file. IsADirectoryError: ``path`` is a directory.
        ValueError: the file is empty or whitespace only, contains NUL bytes (binary), or is not UTF-8.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"path must name an existing text file; got {str(p)!r}, which does not exist")
    if p.is_dir():
        raise IsADirectoryError(f"path must name a text file; got {str(p)!r}, which is a directory")
    data = p.read_bytes()
    if b"\x00" in data:
        raise ValueError(f"path must name a text file; got {str(p)!r}, which contains NUL bytes (binary data?)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"path must name a UTF-8 text file; got {str(p)!r}, undecodable byte at offset {exc.start}"
        ) from exc
    if not text.strip():
        raise ValueError(f"path must name a non-empty text file; got {str(p)!r}, which is empty or whitespace only")
    return text


# --- windows and data sets -------------------------------------------------------------------------


def _ids(ids: Any) -> np.ndarray:
    arr = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"ids must be a 1-d integer array; got shape {arr.shape}, dtype {arr.dtype}")
    return arr.astype(np.int64)


def _window_starts(n: int, T: int, stride: int) -> np.ndarray:
    if n < T + 1:
        raise ValueError(f"the token stream must have at least T + 1 = {T + 1} tokens; got {n}")
    return np.arange(0, n - T, stride)


def windows(ids: Any, T: int, *, stride: int | None = None) -> torch.Tensor:
    """Consecutive windows of ``T + 1`` ids, shape ``(S, T+1)`` int64, starting at ``0, stride, 2 stride, ...``.

    The default ``stride = T`` makes neighbouring windows share one boundary id, so every
    transition ``w_t -> w_{t+1}`` of the stream appears in exactly one window; a tail shorter
    than a window is dropped.
    """
    arr = _ids(ids)
    T = _validate.integer(T, "T", minimum=1)
    stride = T if stride is None else _validate.integer(stride, "stride", minimum=1)
    starts = _window_starts(len(arr), T, stride)
    return torch.from_numpy(arr[starts[:, None] + np.arange(T + 1)])  # (S, T+1)


class TextData(NamedTuple):
    """Windows of ids for training and held-out evaluation, with the vocabulary built on the training windows."""

    vocabulary: Vocabulary
    train: torch.Tensor  # (S_train, T+1) int64
    heldout: torch.Tensor  # (S_heldout, T+1) int64


def text_dataset(
    text: str,
    *,
    T: int,
    heldout_fraction: float = 0.1,
    seed: int | np.random.Generator,
    min_count: int = 1,
    max_size: int | None = None,
    stride: int | None = None,
) -> TextData:
    """Tokenize ``text``, cut it into windows, hold out a seeded random subset of them, build the vocabulary.

    The split is by position: the stream is cut into windows (see :func:`windows`), and a random
    ``round(heldout_fraction * S)`` of them (at least one when the fraction is positive) are held
    out, so no transition is in both sets. Windows keep their text order within each set. The
    vocabulary counts the training windows' tokens only; ``<unk>`` is added if the vocabulary
    leaves out any token of the text (by ``min_count``/``max_size`` or because it occurs in
    held-out windows only).
    """
    tokens = tokenize(text)
    T = _validate.integer(T, "T", minimum=1)
    stride = T if stride is None else _validate.integer(stride, "stride", minimum=1)
    frac = _validate.real_number(heldout_fraction, "heldout_fraction", minimum=0.0, maximum=1.0)
    rng = _validate.generator(seed)
    starts = _window_starts(len(tokens), T, stride)
    S = len(starts)
    n_held = 0 if frac == 0 else max(1, round(frac * S))
    if n_held >= S:
        raise ValueError(
            f"heldout_fraction must leave at least one training window; got {frac} of {S} windows "
            f"({len(tokens)} tokens, T = {T})"
        )
    perm = rng.permutation(S)
    held_w, train_w = np.sort(perm[:n_held]), np.sort(perm[n_held:])
    offsets = np.arange(T + 1)
    train_pos = np.unique(starts[train_w][:, None] + offsets)
    vocab = Vocabulary.build([tokens[i] for i in train_pos], min_count=min_count, max_size=max_size)
    if not vocab.has_unk and any(t not in vocab for t in tokens):
        vocab = Vocabulary.build(
            [tokens[i] for i in train_pos], min_count=min_count, max_size=max_size, reserve_unk=True
        )
    ids = vocab.encode(tokens)
    logger.info(
        "text_dataset: %d tokens, vocabulary %d (unk: %s), %d train / %d held-out windows of T = %d",
        len(tokens),
        len(vocab),
        vocab.has_unk,
        len(train_w),
        len(held_w),
        T,
    )
    return TextData(
        vocabulary=vocab,
        train=torch.from_numpy(ids[starts[train_w][:, None] + offsets]),  # (S_train, T+1)
        heldout=torch.from_numpy(ids[starts[held_w][:, None] + offsets]),  # (S_heldout, T+1)
    )


# --- demo corpus 1: a probabilistic grammar --------------------------------------------------------

_NOUNS = [  # (singular, plural)
    ("cat", "cats"),
    ("dog", "dogs"),
    ("bird", "birds"),
    ("child", "children"),
    ("farmer", "farmers"),
    ("teacher", "teachers"),
    ("fox", "foxes"),
    ("mouse", "mice"),
    ("woman", "women"),
    ("man", "men"),
    ("sailor", "sailors"),
    ("baker", "bakers"),
    ("horse", "horses"),
    ("student", "students"),
]
_PLACES = [
    ("river", "rivers"),
    ("house", "houses"),
    ("tree", "trees"),
    ("bridge", "bridges"),
    ("garden", "gardens"),
    ("hill", "hills"),
    ("boat", "boats"),
    ("market", "markets"),
]
_VT = [  # transitive verbs (base, third person singular)
    ("see", "sees"),
    ("follow", "follows"),
    ("watch", "watches"),
    ("chase", "chases"),
    ("find", "finds"),
    ("help", "helps"),
    ("carry", "carries"),
    ("like", "likes"),
    ("call", "calls"),
    ("meet", "meets"),
]
_VI = [
    ("sleep", "sleeps"),
    ("run", "runs"),
    ("sing", "sings"),
    ("wait", "waits"),
    ("smile", "smiles"),
    ("swim", "swims"),
    ("laugh", "laughs"),
    ("work", "works"),
]
_ADJ = ["old", "small", "quiet", "bright", "tired", "happy", "green", "heavy", "cold", "strange", "young", "brave"]
_NAMES = ["Anna", "Tom", "Maria", "Leo", "Sara", "Omar"]
_PREP = ["near", "under", "behind", "beside", "across", "above"]
_ADV = ["quickly", "slowly", "quietly", "again", "often", "today"]
_CONJ = ["and", "but", "so", "while"]
_TIME = ["in the morning", "at night", "after the rain", "every day", "on sunday", "before dinner", "in winter"]


def _rules() -> dict[str, list[tuple[float, list[str], bool]]]:
    """Nonterminal -> [(weight, expansion, recursive)]; lowercase words are terminals."""
    r: dict[str, list[tuple[float, list[str], bool]]] = {
        "S": [
            (0.5, ["DECL", "."], False),
            (0.15, ["DECL", ",", "CONJ", "DECL", "."], False),
            (0.2, ["Q", "?"], False),
            (0.15, ["TIME", ",", "DECL", "."], False),
        ],
        "DECL": [(0.55, ["NP_SG", "VP_SG"], False), (0.45, ["NP_PL", "VP_PL"], False)],
        "Q": [(0.55, ["does", "NP_SG", "VP_BASE"], False), (0.45, ["do", "NP_PL", "VP_BASE"], False)],
        "NP_SG": [
            (0.35, ["DET_SG", "N_SG"], False),
            (0.25, ["DET_SG", "ADJ", "N_SG"], False),
            (0.15, ["NAME"], False),
            (0.15, ["DET_SG", "N_SG", "PP"], True),
            (0.1, ["DET_SG", "N_SG", "that", "VP_SG"], True),
        ],
        "NP_PL": [
            (0.4, ["DET_PL", "N_PL"], False),
            (0.3, ["DET_PL", "ADJ", "N_PL"], False),
            (0.18, ["DET_PL", "N_PL", "PP"], True),
            (0.12, ["DET_PL", "N_PL", "that", "VP_PL"], True),
        ],
        "NP": [(0.6, ["NP_SG"], False), (0.4, ["NP_PL"], False)],
        "PLACE": [(0.6, ["the", "P_SG"], False), (0.25, ["the", "ADJ", "P_SG"], False), (0.15, ["the", "P_PL"], False)],
        "PP": [(0.7, ["PREP", "PLACE"], False), (0.3, ["PREP", "NP"], True)],
        "VP_SG": [
            (0.4, ["VT_SG", "NP"], True),
            (0.25, ["VI_SG"], False),
            (0.2, ["VI_SG", "ADV"], False),
            (0.15, ["VI_SG", "PP"], True),
        ],
        "VP_PL": [
            (0.4, ["VT_PL", "NP"], True),
            (0.25, ["VI_PL"], False),
            (0.2, ["VI_PL", "ADV"], False),
            (0.15, ["VI_PL", "PP"], True),
        ],
        "VP_BASE": [(0.5, ["VT", "NP"], True), (0.3, ["VI"], False), (0.2, ["VI", "ADV"], False)],
        "DET_SG": [
            (0.45, ["the"], False),
            (0.3, ["a"], False),
            (0.1, ["every"], False),
            (0.08, ["this"], False),
            (0.07, ["my"], False),
        ],
        "DET_PL": [
            (0.5, ["the"], False),
            (0.2, ["some"], False),
            (0.12, ["many"], False),
            (0.1, ["two"], False),
            (0.08, ["these"], False),
        ],
    }

    def uniform(words: list[str]) -> list[tuple[float, list[str], bool]]:
        return [(1.0, [w], False) for w in words]

    r["N_SG"] = uniform([s for s, _ in _NOUNS])
    r["N_PL"] = uniform([p for _, p in _NOUNS])
    r["P_SG"] = uniform([s for s, _ in _PLACES])
    r["P_PL"] = uniform([p for _, p in _PLACES])
    r["VT"] = uniform([b for b, _ in _VT])
    r["VT_SG"] = uniform([s for _, s in _VT])
    r["VT_PL"] = uniform([b for b, _ in _VT])
    r["VI"] = uniform([b for b, _ in _VI])
    r["VI_SG"] = uniform([s for _, s in _VI])
    r["VI_PL"] = uniform([b for b, _ in _VI])
    r["ADJ"] = uniform(_ADJ)
    r["NAME"] = uniform(_NAMES)
    r["PREP"] = uniform(_PREP)
    r["ADV"] = uniform(_ADV)
    r["CONJ"] = uniform(_CONJ)
    r["TIME"] = [(1.0, t.split(), False) for t in _TIME]
    return r


_MAX_DEPTH = 5  # recursive expansions (PP, relative clause, object NP) only at tree depth < 5


def _expand(symbol: str, rules: dict, rng: np.random.Generator, depth: int, out: list[str]) -> None:
    if symbol not in rules:
        out.append(symbol)
        return
    options = [o for o in rules[symbol] if not (o[2] and depth >= _MAX_DEPTH)]
    cum = np.cumsum([w for w, _, _ in options])
    # searchsorted on rng.random() only: the draw sequence is stable across numpy versions
    k = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
    for s in options[min(k, len(options) - 1)][1]:
        _expand(s, rules, rng, depth + 1, out)


def _detokenize(words: list[str]) -> str:
    text = ""
    for w in words:
        text += w if (w in ",.?" or not text) else " " + w
    return text[0].upper() + text[1:]


def grammar_corpus(n_sentences: int = 2000, *, seed: int | np.random.Generator) -> str:
    """``n_sentences`` sentences from the demo grammar, one per line (e.g. "The old cat sees a dog near the river.").

    A probabilistic context-free grammar with number agreement (``the cat sees`` / ``the cats see``),
    transitive and intransitive verbs, adjectives, prepositional phrases and relative clauses
    (recursive rules used only in the top 5 levels of the tree), coordinated clauses, time adverbials and yes/no questions; 141
    distinct tokens (words and punctuation). Deterministic given ``seed``, on every platform.
    """
    n_sentences = _validate.integer(n_sentences, "n_sentences", minimum=1)
    rng = _validate.generator(seed)
    rules = _rules()
    lines = []
    for _ in range(n_sentences):
        words: list[str] = []
        _expand("S", rules, rng, 0, words)
        lines.append(_detokenize(words))
    return "\n".join(lines) + "\n"


# --- demo corpus 2: text shipped with Python -------------------------------------------------------

#: Pure-Python stdlib modules with prose docstrings, read (not imported) by :func:`stdlib_corpus`.
STDLIB_MODULES: tuple[str, ...] = (
    "this",
    "textwrap",
    "json",
    "argparse",
    "collections",
    "random",
    "statistics",
    "heapq",
    "difflib",
    "unittest",
    "typing",
    "re",
    "subprocess",
    "socket",
    "inspect",
    "copy",
    "sched",
    "getopt",
    "locale",
    "gettext",
    "pprint",
    "calendar",
    "pathlib",
    "tempfile",
    "shutil",
    "doctest",
    "fractions",
    "string",
    "threading",
    "logging",
)


def _module_source(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "get_source"):
            return None
        return spec.loader.get_source(name)
    except (ImportError, OSError, ValueError, SyntaxError):
        return None


def _zen(source: str) -> str | None:
    """The Zen of Python from ``this.py``'s source: the rot13-encoded string ``s``, decoded."""
    for node in ast.parse(source).body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "s" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            return codecs.decode(node.value.value, "rot_13")
    return None


def _docstrings(source: str) -> list[str]:
    tree = ast.parse(source)
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                # doctest lines are code, not prose
                lines = [ln for ln in doc.splitlines() if not ln.lstrip().startswith((">>>", "..."))]
                docs.append("\n".join(lines).strip())
    return [d for d in docs if d]


def stdlib_corpus(modules: SequenceABC[str] = STDLIB_MODULES) -> str:
    """The Zen of Python (if ``"this"`` is listed) and the docstrings of ``modules``, read from source.

    Sources are read through ``importlib``'s loaders without importing or executing anything.
    Modules without available source are skipped (logged at INFO); the text depends on the Python
    version. Raises ``RuntimeError`` if no listed module has source.
    """
    if isinstance(modules, str) or not all(isinstance(m, str) for m in modules):
        raise TypeError(f"modules must be a sequence of module names; got {modules!r}")
    parts: list[str] = []
    skipped = []
    for name in modules:
        source = _module_source(name)
        if not source:
            skipped.append(name)
            continue
        try:
            if name == "this":
                zen = _zen(source)
                parts.extend([zen] if zen else [])
            else:
                parts.extend(_docstrings(source))
        except SyntaxError:
            skipped.append(name)
    if skipped:
        logger.info("stdlib_corpus: no readable source for %s; skipped", skipped)
    if not parts:
        raise RuntimeError(
            f"stdlib_corpus found no module source among {list(modules)} (this Python ships without .py "
            "sources?); use demo_corpus('grammar') or load_text(path) instead"
        )
    return "\n\n".join(parts) + "\n"


DemoName = Literal["grammar", "stdlib"]


def demo_corpus(name: DemoName = "grammar", *, seed: int | np.random.Generator = 0, n_sentences: int = 2000) -> str:
    """An offline demo corpus: ``"grammar"`` (default; :func:`grammar_corpus`, uses ``seed`` and
    ``n_sentences``) or ``"stdlib"`` (:func:`stdlib_corpus`, ignores both)."""
    _validate.one_of(name, "name", ("grammar", "stdlib"))
    if name == "grammar":
        return grammar_corpus(n_sentences, seed=seed)
    return stdlib_corpus()
