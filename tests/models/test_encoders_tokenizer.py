"""CLIP BPE tokenizer on tiny vocabularies written here (the real one ships with the weights, never in tests)."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from parity import fixture

from realcam.models.encoders.tokenizer import CLIPTokenizer, base_vocabulary, bytes_to_unicode, clean_text

# Hand-made merges, in priority order. Ids: 512 base tokens, then one per merge, then SOT and EOT.
TINY_MERGES = ["h e", "l l", "he ll", "hell o</w>", "w o", "r l", "rl d</w>"]
HELLO, WO, RLD, LL = 515, 516, 518, 513  # 'hello</w>', 'wo', 'rld</w>', 'll'
SOT, EOT = 519, 520


def base_id(char: str, end: bool = False) -> int:
    """Id of a printable ASCII character token (GPT-2 byte table: '!' is 0), with '</w>' when `end`."""
    return (256 if end else 0) + ord(char) - ord("!")


@pytest.fixture(scope="module")
def tiny_gz(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "tiny_bpe.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("tiny_bpe.txt#version: 0.2\n" + "\n".join(TINY_MERGES) + "\n")
    return CLIPTokenizer.from_bpe_gz(path)


def test_byte_table_and_base_vocabulary():
    table = bytes_to_unicode()
    assert len(table) == 256 and len(set(table.values())) == 256
    assert table[ord("a")] == "a" and table[ord(" ")] == chr(256 + 32)  # space is the 33rd non-printable byte
    vocab = base_vocabulary()
    assert vocab[0] == "!" and vocab.index("a</w>") == 320 and vocab.index(",</w>") == 267  # the real CLIP ids


def test_bpe_merges_in_rank_order(tiny_gz):
    tok = tiny_gz
    assert (tok.sot_id, tok.eot_id) == (SOT, EOT)
    assert tok.bpe("hello") == ("hello</w>",)
    assert tok.bpe("world") == ("wo", "rld</w>")
    # Left-to-right, non-overlapping: l l l -> 'll' + 'l</w>'; l l l l -> 'll' 'l' 'l</w>' ('l l</w>' is no merge).
    assert tok.encode("lll") == [LL, base_id("l", end=True)]
    assert tok.encode("llll") == [LL, base_id("l"), base_id("l", end=True)]
    # 'hell o</w>' merges only at the end of the piece: 'hell' 'o' 'hello</w>'.
    assert tok.encode("hellohello") == [514, base_id("o"), HELLO]


def test_call_sot_eot_zero_padding(tiny_gz):
    ids = tiny_gz(["Hello World", ""])
    assert ids.shape == (2, 77) and ids.dtype == torch.long
    assert ids[0, :5].tolist() == [SOT, HELLO, WO, RLD, EOT]
    assert ids[1, :2].tolist() == [SOT, EOT]
    assert torch.all(ids[0, 5:] == 0) and torch.all(ids[1, 2:] == 0)
    assert tiny_gz("hello").shape == (1, 77)


def test_cleanup_and_lower_casing(tiny_gz):
    assert clean_text("  HELLO&amp;amp;\n\t  World  ") == "hello& world"  # html unescaped twice, whitespace collapsed
    assert clean_text("cafÃ©") == "café"  # ftfy repairs mojibake
    assert tiny_gz.encode("  HELLO&amp;amp;\n\tWorld ") == [HELLO, base_id("&", end=True), WO, RLD]


def test_clip_regex_pieces(tiny_gz):
    tok = tiny_gz
    assert tok.encode("2024") == [base_id(d, end=True) for d in "2024"]  # one piece per digit
    assert tok.encode("don't") == [base_id("d"), base_id("o"), base_id("n", end=True), base_id("'"), base_id("t", True)]
    assert tok.encode("hello!!") == [HELLO, base_id("!"), base_id("!", end=True)]  # punctuation run is one piece
    # Non-ASCII letters go through their UTF-8 bytes: 'é' = C3 A9, both printable Latin-1.
    assert tok.encode("é") == [tok.encoder["Ã"], tok.encoder["©</w>"]]
    assert tok.decode(tok("hello world, é")[0].tolist()) == "hello world , é"


def test_truncation_keeps_eot(tiny_gz):
    ids = tiny_gz(["a " * 100])[0]
    assert ids[0] == SOT and ids[-1] == EOT
    assert torch.all(ids[1:-1] == base_id("a", end=True))
    exact = tiny_gz(["a " * 75])[0]  # 75 + 2 = 77: fits without truncation
    assert exact[-1] == EOT and exact[-2] == base_id("a", end=True)


def test_hugging_face_files_give_the_same_ids(tiny_gz, tmp_path):
    vocab = base_vocabulary() + ["".join(m.split()) for m in TINY_MERGES] + ["<|startoftext|>", "<|endoftext|>"]
    (tmp_path / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(vocab)}), encoding="utf-8")
    (tmp_path / "merges.txt").write_text("#version: 0.2\n" + "\n".join(TINY_MERGES) + "\n", encoding="utf-8")
    tok = CLIPTokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    texts = ["Hello World", "llll & 2024", ""]
    torch.testing.assert_close(tok(texts), tiny_gz(texts), atol=0, rtol=0)
    (tmp_path / "bad.json").write_text(json.dumps({"a": 0}), encoding="utf-8")
    with pytest.raises(ValueError, match="startoftext"):
        CLIPTokenizer.from_files(tmp_path / "bad.json", tmp_path / "merges.txt")


def test_first_merges_line_is_a_header_even_if_it_looks_like_a_merge(tmp_path):
    path = tmp_path / "m.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("h e\nl l\n")
    tok = CLIPTokenizer.from_bpe_gz(path)
    assert tok.bpe("he") == ("h", "e</w>") and tok.bpe("ll") == ("l", "l</w>") and tok.eot_id == 514


def test_inconsistent_vocabulary_raises(tmp_path):
    (tmp_path / "vocab.json").write_text(
        json.dumps({**{t: i for i, t in enumerate(base_vocabulary())}, "<|startoftext|>": 600, "<|endoftext|>": 601})
    )
    (tmp_path / "merges.txt").write_text("#version: 0.2\nh e\n")
    tok = CLIPTokenizer.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("hex")  # merges to "he", which vocab.json lacks


def test_fixture_prompt_ids_with_a_vocabulary_that_places_its_words():
    """Item i's prompt gives the recorded ids when the vocabulary holds each whole word at its recorded id.

    The real vocabulary is not in the repo, so this pins everything but the real merge table: cleanup, the CLIP
    regex split (',' separate), the 512 base ids ('a</w>' 320, ',</w>' 267), SOT/EOT 49406/49407 and zero padding.
    """
    f = fixture("256", "i_conditioning")
    prompt = f["inputs"]["prompts"][0]
    recorded = f["tokens"][0].tolist()
    words = clean_text(prompt).replace(",", " ,").split()
    word_ids = recorded[1 : 1 + len(words)]
    encoder = {t: i for i, t in enumerate(base_vocabulary())}
    merges: list[tuple[str, str]] = []
    spare = iter(range(1000, 40000))
    for word, word_id in zip(words, word_ids):
        symbols = [*word[:-1], word[-1] + "</w>"]
        prefix = symbols[0]
        for nxt in symbols[1:]:
            if (prefix, nxt) not in merges:
                merges.append((prefix, nxt))
            prefix += nxt
            encoder.setdefault(prefix, next(spare))
        encoder[prefix] = word_id
    tok = CLIPTokenizer(encoder, merges, sot_id=49406, eot_id=49407)
    ids = tok(f["inputs"]["prompts"])
    torch.testing.assert_close(ids, f["tokens"], atol=0, rtol=0)
    torch.testing.assert_close(fixture("512", "i_conditioning")["tokens"], f["tokens"], atol=0, rtol=0)
