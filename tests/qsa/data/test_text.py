"""Tokenizer, vocabulary, loader, windows, data split and the offline demo corpora."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from qsa.data import text as tx
from qsa.data.text import (
    UNK,
    Vocabulary,
    demo_corpus,
    grammar_corpus,
    load_text,
    stdlib_corpus,
    text_dataset,
    tokenize,
    windows,
)


def test_tokenize_lowercases_words_and_splits_punctuation():
    assert tokenize("Don't panic, Arthur!") == ["don't", "panic", ",", "arthur", "!"]
    assert tokenize("  Rock\u2019n roll -- 42 cafés.\n") == ["rock\u2019n", "roll", "-", "-", "42", "cafés", "."]
    assert tokenize("") == []
    with pytest.raises(TypeError, match="text must be a str; got bytes"):
        tokenize(b"abc")


# --- vocabulary ------------------------------------------------------------------------------------


def test_vocabulary_orders_by_count_then_alphabet_and_has_no_unk_when_complete():
    v = Vocabulary.build("b a c a b a".split())
    assert v.tokens == ("a", "b", "c") and v.counts == (3, 2, 1) and not v.has_unk and v.unk_id is None
    np.testing.assert_array_equal(v.encode(["c", "a"]), [2, 0])
    with pytest.raises(ValueError, match=r"tokens must be in the vocabulary .* 1 unknown, e.g. \['zzz'\]"):
        v.encode(["a", "zzz"])


def test_min_count_and_max_size_leave_tokens_to_unk():
    toks = "a a a b b c d".split()
    v = Vocabulary.build(toks, min_count=2)
    assert v.tokens == (UNK, "a", "b") and v.counts == (2, 3, 2) and v.has_unk
    np.testing.assert_array_equal(v.encode(["c", "b", "q"]), [0, 2, 0])
    v = Vocabulary.build(toks, max_size=3)
    assert v.tokens == (UNK, "a", "b") and v.counts == (2, 3, 2)
    v = Vocabulary.build(toks, max_size=4)  # 4 distinct tokens fit without <unk>
    assert v.tokens == ("a", "b", "c", "d") and not v.has_unk
    v = Vocabulary.build(toks, reserve_unk=True)
    assert v.tokens == (UNK, "a", "b", "c", "d") and v.counts[0] == 0


def test_decode_inverts_encode_and_json_round_trip(tmp_path):
    toks = tokenize("The cat sat on the mat. The dog sat too!")
    v = Vocabulary.build(toks, min_count=2)
    ids = v.encode(toks)
    assert v.decode(ids) == [t if t in v else UNK for t in toks]
    assert v.decode(torch.as_tensor(ids)) == v.decode(ids)
    path = tmp_path / "vocab.json"
    v.save(path)
    w = Vocabulary.load(path)
    assert w == v and w.index("sat") == v.index("sat") and w.index("zebra") == 0
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "qsa-vocabulary" and data["tokens"][0] == UNK


def test_vocabulary_json_keeps_non_ascii(tmp_path):
    v = Vocabulary.build(["café", "naïve", "café"])
    v.save(tmp_path / "v.json")
    assert "café" in (tmp_path / "v.json").read_text(encoding="utf-8")
    assert Vocabulary.load(tmp_path / "v.json") == v


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: Vocabulary.build([]), ValueError, "tokens must not be empty"),
        (lambda: Vocabulary.build(["a", 3]), TypeError, "tokens must be strings; got int"),
        (lambda: Vocabulary.build(["a", UNK]), ValueError, "tokens must not contain the reserved token"),
        (lambda: Vocabulary.build(["a", "b"], min_count=3), ValueError, "min_count must leave at least one token"),
        (lambda: Vocabulary.build(["a"], min_count=0), ValueError, "min_count must be >= 1"),
        (lambda: Vocabulary.build(["a"], max_size=1), ValueError, "max_size must be >= 2"),
        (lambda: Vocabulary(("a", "a"), (1, 1), False), ValueError, "tokens must be distinct; got 'a' twice"),
        (lambda: Vocabulary(("a", UNK), (1, 1), True), ValueError, "must be the first token exactly when has_unk"),
        (lambda: Vocabulary(("a",), (1, 2), False), ValueError, r"counts must have one entry per token"),
        (lambda: Vocabulary.build(["a", "b"]).decode([0, 2]), ValueError, r"ids must lie in \[0, 2\)"),
        (lambda: Vocabulary.build(["a", "b"]).decode([[0]]), ValueError, "ids must be a 1-d sequence of integers"),
        (lambda: Vocabulary.from_json("{"), ValueError, "vocabulary JSON must be valid JSON"),
        (lambda: Vocabulary.from_json('{"format": "other"}'), ValueError, "must have format 'qsa-vocabulary'"),
        (lambda: Vocabulary.from_json('{"format": "qsa-vocabulary", "version": 9}'), ValueError, "must have version 1"),
        (lambda: Vocabulary.from_json('{"format": "qsa-vocabulary", "version": 1}'), ValueError, "must have the key"),
    ],
)
def test_bad_vocabulary_input_raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- loader ----------------------------------------------------------------------------------------


def test_load_text_reads_utf8_and_drops_a_bom(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes("\ufeffCafé au lait.\n".encode("utf-8"))
    assert load_text(p) == "Café au lait.\n"
    assert load_text(str(p)) == "Café au lait.\n"


@pytest.mark.parametrize(
    "content, error, match",
    [
        (None, FileNotFoundError, "does not exist"),
        ("dir", IsADirectoryError, "which is a directory"),
        (b"", ValueError, "empty or whitespace only"),
        (b" \n\t\n", ValueError, "empty or whitespace only"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ValueError, "contains NUL bytes"),
        (b"caf\xe9 au lait", ValueError, "not.*UTF-8.*undecodable byte at offset 3|UTF-8 text file.*offset 3"),
    ],
)
def test_load_text_errors(tmp_path, content, error, match):
    p = tmp_path / "f.txt"
    if content == "dir":
        p.mkdir()
    elif content is not None:
        p.write_bytes(content)
    with pytest.raises(error, match=match):
        load_text(p)


def test_load_text_rejects_non_paths():
    with pytest.raises(TypeError, match="path must be a str or os.PathLike; got int"):
        load_text(3)


# --- windows and data set --------------------------------------------------------------------------


def test_windows_share_one_boundary_id_by_default():
    w = windows(np.arange(10), 3)
    assert w.dtype == torch.int64
    np.testing.assert_array_equal(w.numpy(), [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    np.testing.assert_array_equal(windows(torch.arange(9), 3, stride=4).numpy(), [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(windows([5, 6], 1).numpy(), [[5, 6]])
    with pytest.raises(ValueError, match=r"at least T \+ 1 = 5 tokens; got 4"):
        windows(np.arange(4), 4)
    with pytest.raises(ValueError, match="ids must be a 1-d integer array"):
        windows(np.zeros(10), 3)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        windows(np.arange(10), 3, stride=0)


def _transitions(ids: torch.Tensor) -> set:
    return {tuple(map(int, row[t : t + 2])) + (k,) for k, row in enumerate(ids) for t in range(ids.shape[1] - 1)}


def test_text_dataset_splits_by_position_and_builds_vocabulary_on_training_windows():
    words = [f"w{i}" for i in range(200)]  # every token distinct: positions are recoverable from tokens
    text = " ".join(words)
    data = text_dataset(text, T=4, heldout_fraction=0.2, seed=0)
    S = (200 - 1) // 4  # windows starting at 0, 4, ..., 4 (S-1) with 4 (S-1) + 4 <= 199
    assert data.train.shape[1] == data.heldout.shape[1] == 5
    assert len(data.train) + len(data.heldout) == S and len(data.heldout) == round(0.2 * S)
    v = data.vocabulary
    train_pos = {int(v.tokens[i][1:]) for i in data.train.unique() if v.tokens[i] != UNK}
    # held-out windows: their interior tokens never occur in training windows, so they map to <unk>
    assert v.has_unk
    held_interior = data.heldout[:, 1:-1]
    assert bool((held_interior == 0).all())
    # windows cover disjoint transitions: starts differ and keep text order within each set
    starts_train = sorted(int(v.tokens[int(r[0])][1:]) for r in data.train)
    assert starts_train == sorted(starts_train) and all(s % 4 == 0 for s in starts_train)
    assert len(train_pos) == len(v) - 1
    again = text_dataset(text, T=4, heldout_fraction=0.2, seed=0)
    torch.testing.assert_close(again.heldout, data.heldout, rtol=0, atol=0)
    other = text_dataset(text, T=4, heldout_fraction=0.2, seed=1)
    assert not torch.equal(other.train, data.train) or not torch.equal(other.heldout, data.heldout)


def test_text_dataset_without_left_out_tokens_has_no_unk():
    text = "a b c a b c " * 20
    data = text_dataset(text, T=3, heldout_fraction=0.25, seed=0)
    assert not data.vocabulary.has_unk and set(data.vocabulary.tokens) == {"a", "b", "c"}
    all_ids = torch.cat([data.train, data.heldout])
    decoded = [data.vocabulary.decode(r) for r in all_ids]
    assert all(" ".join(d) in " ".join(tokenize(text)) for d in decoded)


def test_text_dataset_bad_input():
    with pytest.raises(ValueError, match="heldout_fraction must leave at least one training window"):
        text_dataset("a b c d e", T=2, heldout_fraction=0.9, seed=0)
    with pytest.raises(ValueError, match="heldout_fraction must be <= 1.0"):
        text_dataset("a b c d e", T=2, heldout_fraction=1.5, seed=0)
    with pytest.raises(ValueError, match=r"at least T \+ 1 = 11 tokens; got 5"):
        text_dataset("a b c d e", T=10, seed=0)
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        text_dataset("a b c d e", T=2, seed=None)
    assert len(text_dataset("a b c d e", T=2, heldout_fraction=0.0, seed=0).heldout) == 0


# --- demo corpora ----------------------------------------------------------------------------------


def test_grammar_corpus_is_seeded_and_well_formed():
    a = grammar_corpus(300, seed=4)
    assert a == grammar_corpus(300, seed=4) and a != grammar_corpus(300, seed=5)
    lines = a.splitlines()
    assert len(lines) == 300
    assert all(line[0].isupper() and line[-1] in ".?" for line in lines)
    rules = tx._rules()
    terminals = {w.lower() for opts in rules.values() for _, exp, _ in opts for w in exp if w not in rules}
    assert set(tokenize(a)) <= terminals
    assert set(tokenize(grammar_corpus(2000, seed=0))) == terminals  # every word is reachable
    # number agreement: in "The <noun> <verb> ..." the verb belongs to that subject
    sg_nouns = {s for s, _ in tx._NOUNS}
    pl_nouns = {p for _, p in tx._NOUNS}
    sg_verbs = {s for _, s in tx._VT + tx._VI}
    base_verbs = {b for b, _ in tx._VT + tx._VI}
    checked = 0
    for line in lines:
        w = tokenize(line)
        if w[0] == "the" and w[2] in sg_verbs | base_verbs:
            assert (w[1] in sg_nouns) == (w[2] in sg_verbs), line
            assert (w[1] in pl_nouns) == (w[2] in base_verbs), line
            checked += 1
    assert checked > 10
    assert demo_corpus() == grammar_corpus(2000, seed=0)


def test_stdlib_corpus_reads_zen_and_docstrings_without_importing():
    if importlib.util.find_spec("this") is None or importlib.util.find_spec("this").loader.get_source("this") is None:
        pytest.skip("this Python ships without the source of 'this'")
    text = stdlib_corpus(("this", "textwrap"))
    assert text.startswith("The Zen of Python, by Tim Peters")
    assert "Beautiful is better than ugly." in text
    assert "wrap" in text.lower()
    assert demo_corpus("stdlib") == stdlib_corpus()


def test_stdlib_corpus_errors():
    with pytest.raises(RuntimeError, match="found no module source"):
        stdlib_corpus(("sys",))  # built in: no source anywhere
    with pytest.raises(TypeError, match="modules must be a sequence of module names"):
        stdlib_corpus("this")
    with pytest.raises(ValueError, match="name must be one of"):
        demo_corpus("ptb")
    assert tx.STDLIB_MODULES[0] == "this"
