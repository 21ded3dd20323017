"""A minimal reader of the WordNet 3.0 noun database (Debian's `wordnet-base`): just what the
biology domain needs (senses of a word, hypernyms, member holonyms), without NLTK.

Format (wndb(5WN)): `index.noun` lines are `lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt
tagsense_cnt synset_offset...`; `data.noun` lines are `offset lex_filenum ss_type w_cnt word lex_id
... p_cnt [ptr offset pos source/target]... | gloss`, looked up by byte offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ksmith.errors import WorldError

#: Where Debian's wordnet-base puts the database.
WORDNET_DIR = Path("/usr/share/wordnet")


@dataclass(frozen=True)
class Synset:
    offset: int
    words: tuple[str, ...]
    hypernyms: tuple[int, ...]
    member_holonyms: tuple[int, ...]
    gloss: str


class WordNet:
    """Noun synsets by offset and senses by lemma (most frequent sense first)."""

    def __init__(self, root: Path = WORDNET_DIR) -> None:
        index, data = root / "index.noun", root / "data.noun"
        if not index.is_file() or not data.is_file():
            raise WorldError(
                f"WordNet noun database not found in {root}; install Debian's wordnet-base "
                "(`apt-get install wordnet-base`) or run `make real-world`"
            )
        self._data = data.read_bytes()
        self._senses: dict[str, tuple[int, ...]] = {}
        for line in index.read_text(encoding="utf-8").splitlines():
            if line.startswith(" "):
                continue
            parts = line.split()
            lemma, n_synsets, n_ptrs = parts[0], int(parts[2]), int(parts[3])
            offsets = parts[6 + n_ptrs:6 + n_ptrs + n_synsets]
            self._senses[lemma] = tuple(int(o) for o in offsets)
        self._cache: dict[int, Synset] = {}

    def senses(self, lemma: str) -> tuple[int, ...]:
        return self._senses.get(lemma.replace(" ", "_").lower(), ())

    def synset(self, offset: int) -> Synset:
        got = self._cache.get(offset)
        if got is not None:
            return got
        end = self._data.index(b"\n", offset)
        line = self._data[offset:end].decode("utf-8")
        head, _, gloss = line.partition(" | ")
        parts = head.split()
        n_words = int(parts[3], 16)
        words = tuple(parts[4 + 2 * i].replace("_", " ") for i in range(n_words))
        i = 4 + 2 * n_words
        n_ptrs = int(parts[i])
        hyper: list[int] = []
        member: list[int] = []
        for j in range(n_ptrs):
            symbol, target, pos = parts[i + 1 + 4 * j], int(parts[i + 2 + 4 * j]), parts[i + 3 + 4 * j]
            if pos != "n":
                continue
            if symbol in ("@", "@i"):
                hyper.append(target)
            elif symbol == "#m":
                member.append(target)
        syn = Synset(offset, words, tuple(hyper), tuple(member), gloss.strip())
        self._cache[offset] = syn
        return syn

    def ancestors(self, offset: int) -> list[int]:
        """Hypernym ancestors, nearest first (first hypernym at each step)."""
        out: list[int] = []
        syn = self.synset(offset)
        while syn.hypernyms:
            nxt = syn.hypernyms[0]
            if nxt in out:
                break
            out.append(nxt)
            syn = self.synset(nxt)
        return out
