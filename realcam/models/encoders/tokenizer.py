"""CLIP byte-level BPE tokenizer that reproduces `open_clip.tokenize` (what DynamiCrafter's text encoder uses).

The vocabulary is never fetched here: it is read from local files that come with the weights, either the Hugging Face
pair `vocab.json` + `merges.txt` (e.g. of `laion/CLIP-ViT-H-14-laion2B-s32B-b79K`) or OpenCLIP's
`bpe_simple_vocab_16e6.txt.gz`.

Steps of `encode` (OpenCLIP's order): ftfy text repair, HTML unescape (twice), strip; collapse whitespace runs to one
space; lower-case; split with the CLIP regex; map each piece's UTF-8 bytes to printable characters; BPE-merge each
piece with '</w>' marking its end; look up ids. `__call__` wraps ids in SOT/EOT, pads with 0 (OpenCLIP's padding,
not Hugging Face's EOT padding) and truncates to the context length keeping EOT last.
"""

from __future__ import annotations

import functools
import gzip
import html
import json
from pathlib import Path

import regex
import torch
from torch import Tensor

SOT_TEXT = "<start_of_text>"
EOT_TEXT = "<end_of_text>"
# Hugging Face's names for the same two entries in vocab.json.
_HF_SPECIAL = {SOT_TEXT: "<|startoftext|>", EOT_TEXT: "<|endoftext|>"}
OPENCLIP_NUM_MERGES = 49152 - 256 - 2  # merges OpenCLIP keeps from bpe_simple_vocab_16e6 (vocab 49408 in total)

# CLIP's pre-tokenisation pattern: special tokens, English contractions, letter runs, single digits, runs of other
# non-space characters. Case-insensitive, as in OpenCLIP (the text is lower-cased before anyway).
_PATTERN = regex.compile(
    rf"{SOT_TEXT}|{EOT_TEXT}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]|[^\s\p{{L}}\p{{N}}]+",
    regex.IGNORECASE,
)


@functools.cache
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable character table, in vocabulary order.

    Printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves and come first; the remaining 68 bytes
    follow in byte order, mapped to chr(256), chr(257), ...
    """
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in keep}
    rest = [b for b in range(256) if b not in table]
    table.update({b: chr(256 + n) for n, b in enumerate(rest)})
    return table


def base_vocabulary() -> list[str]:
    """The first 512 entries of a CLIP vocabulary: the 256 byte characters, then the same with '</w>'."""
    chars = list(bytes_to_unicode().values())
    return chars + [c + "</w>" for c in chars]


def clean_text(text: str) -> str:
    """OpenCLIP's `basic_clean` + `whitespace_clean` + lower-casing."""
    import ftfy

    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text)).strip()
    return regex.sub(r"\s+", " ", text).strip().lower()


class CLIPTokenizer:
    """Text -> (b context_length) int64 ids, like `open_clip.tokenize`.

    Args:
        encoder: token string -> id; must contain every merge result, the 512 base tokens and the two specials.
        merges: BPE merge pairs in priority order (earlier = applied first).
        sot_id / eot_id: ids of start/end of text (49406 / 49407 for the real vocabulary).
        context_length: output length (77).
    """

    def __init__(
        self,
        encoder: dict[str, int],
        merges: list[tuple[str, str]],
        *,
        sot_id: int,
        eot_id: int,
        context_length: int = 77,
    ) -> None:
        if context_length < 2:
            raise ValueError(f"context_length must be >= 2, got {context_length}")
        self.encoder = dict(encoder)
        self.decoder = {i: s for s, i in self.encoder.items()}
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.sot_id, self.eot_id = sot_id, eot_id
        self.context_length = context_length
        self._byte_encoder = bytes_to_unicode()
        self._byte_decoder = {c: b for b, c in self._byte_encoder.items()}
        self._cache: dict[str, tuple[str, ...]] = {}
        self._specials = {SOT_TEXT: sot_id, EOT_TEXT: eot_id}

    @classmethod
    def from_files(
        cls,
        vocab_json: str | Path,
        merges_txt: str | Path,
        *,
        context_length: int = 77,
        max_merges: int = OPENCLIP_NUM_MERGES,
    ) -> CLIPTokenizer:
        """Load the Hugging Face pair: `vocab.json` (token -> id) and `merges.txt` (a header line, then 'a b' lines;
        at most `max_merges` are used, as both OpenCLIP and Hugging Face do)."""
        encoder = json.loads(Path(vocab_json).read_text(encoding="utf-8"))
        merges = _parse_merges(Path(merges_txt).read_text(encoding="utf-8").split("\n"))[:max_merges]
        ids = {}
        for ours, theirs in _HF_SPECIAL.items():
            name = theirs if theirs in encoder else ours
            if name not in encoder:
                raise ValueError(f"{vocab_json}: no entry for {theirs!r} (or {ours!r})")
            ids[ours] = int(encoder[name])
        return cls(encoder, merges, sot_id=ids[SOT_TEXT], eot_id=ids[EOT_TEXT], context_length=context_length)

    @classmethod
    def from_bpe_gz(
        cls, path: str | Path, *, context_length: int = 77, max_merges: int = OPENCLIP_NUM_MERGES
    ) -> CLIPTokenizer:
        """Load OpenCLIP's gzipped merge list (first line a header); ids are implied by the order, as in OpenCLIP:
        512 base tokens, one token per kept merge (at most `max_merges`), then SOT and EOT."""
        lines = gzip.open(path, "rt", encoding="utf-8").read().split("\n")
        merges = _parse_merges(lines)[:max_merges]
        vocab = base_vocabulary() + ["".join(m) for m in merges] + [SOT_TEXT, EOT_TEXT]
        encoder = {token: i for i, token in enumerate(vocab)}
        return cls(encoder, merges, sot_id=len(vocab) - 2, eot_id=len(vocab) - 1, context_length=context_length)

    def bpe(self, piece: str) -> tuple[str, ...]:
        """Merge one pre-token (already byte-mapped) into vocabulary tokens; the last symbol carries '</w>'."""
        if piece in self._cache:
            return self._cache[piece]
        word = [*piece[:-1], piece[-1] + "</w>"]
        while len(word) > 1:
            pairs = {(a, b) for a, b in zip(word, word[1:])}
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(word):  # merge every occurrence, left to right
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        result = tuple(word)
        self._cache[piece] = result
        return result

    def encode(self, text: str) -> list[int]:
        """Ids of `text` without SOT/EOT. Raises ValueError for a token missing from the vocabulary."""
        ids: list[int] = []
        for piece in _PATTERN.findall(clean_text(text)):
            if piece in self._specials:
                ids.append(self._specials[piece])
                continue
            mapped = "".join(self._byte_encoder[b] for b in piece.encode("utf-8"))
            for token in self.bpe(mapped):
                if token not in self.encoder:
                    raise ValueError(f"token {token!r} is not in the vocabulary (inconsistent vocab and merges)")
                ids.append(self.encoder[token])
        return ids

    def decode(self, ids: list[int]) -> str:
        """Inverse for inspection: ids (optionally with SOT, EOT and padding) -> text, '</w>' read as a space.

        Stops at the first EOT, because OpenCLIP's padding id 0 is also the token '!'.
        """
        tokens = []
        for i in ids:
            if i == self.eot_id:
                break
            if i != self.sot_id:
                tokens.append(self.decoder[i])
        out = bytearray()
        for token in tokens:
            core = token.removesuffix("</w>")
            out.extend(self._byte_decoder[c] for c in core)
            if core != token:
                out.extend(b" ")
        return out.decode("utf-8", "replace").strip()

    def __call__(self, texts: list[str] | str) -> Tensor:
        """Shapes: texts (b) -> (b context_length) int64: [SOT, ids..., EOT, 0, ...], truncated keeping EOT last."""
        if isinstance(texts, str):
            texts = [texts]
        out = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text), self.eot_id]
            if len(ids) > self.context_length:
                ids = ids[: self.context_length]
                ids[-1] = self.eot_id
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


def _parse_merges(lines: list[str]) -> list[tuple[str, str]]:
    """Merge pairs from the lines of a merges file.

    The first line is a header and is always dropped, as OpenCLIP and Hugging Face do (real merges may start with
    '#', so the header is not recognised by content). Blank lines are skipped.
    """
    merges = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise ValueError(f"merges line {number}: expected two symbols, got {line!r}")
        merges.append((parts[0], parts[1]))
    return merges
