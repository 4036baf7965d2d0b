"""Text and metadata no store can hold as they are: every store stores the same mapped form."""

from __future__ import annotations

from typing import Any

from rag.sanitize import MAX_KEY_CHARS, clean_metadata, clean_text
from rag.stores.base import Store
from rag.testing.store_contract._base import StoreFixture, make_chunk, unit, vectors
from rag.types import Chunk, Location

HOSTILE_KEYS: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "$": 1,
    "#tag": "x",
    "": "empty key",
    "a.b": "dotted",
    "meta.x": "looks escaped",
    "chroma:document": "reserved by Chroma",
    "chroma:x": "dropped by Chroma",
    "source": "a user field named source",
    "rag_text": "a user field named like Chroma's text key",
    "content_hash": "another reserved name",
    "k" * (MAX_KEY_CHARS + 40): "over-long key",
    "title": "Cfg",
}
"""Metadata keys some backend reserves or refuses; every one reads back as written (or, for
the over-long one, as ``rag.sanitize`` maps it)."""

DIRTY: dict[str, Any] = {
    "nul\x00key": "NUL in the key",
    "value": "x\x00y",
    "lone": "a \udfff b",
    "pair": "\ud83d\ude00",
    "controls": "\x01\x1f\x7f",
    "big": 2**70,
    "nan": float("nan"),
    "int64": -(2**63),
    "float": 0.1 + 0.2,
}
"""Values (and a key) no store holds as they are: NUL, surrogates, numbers out of range."""


def _read_back(store: Store, chunk_id: str) -> Chunk:
    (hit,) = [h for h in store.query(unit(0), k=10) if h.chunk.id == chunk_id]
    return hit.chunk


class SanitizeTests(StoreFixture):
    """The same input gives the same stored result on every store (``rag.sanitize``)."""

    def test_reserved_and_refused_keys_read_back_unchanged(self, store: Store) -> None:
        """Metadata keys a backend reserves or refuses (``$``/``#``-prefixed, empty, dotted,
        ``chroma:``, the store's own field names) are stored and read back as the user wrote
        them; an over-long key as ``rag.sanitize.clean_key`` cuts it.

        If this fails, the store rejects or drops a key: escape it reversibly where the record
        is built and undo that where it is read (``rag.stores.chroma_records.stored_key``).
        """
        chunk = make_chunk("hostile", "a config file", "/docs/cfg.json", **HOSTILE_KEYS)
        store.write([chunk], vectors(unit(0)))
        got = _read_back(store, "hostile")
        assert got.metadata == clean_metadata(HOSTILE_KEYS)
        assert "$schema" in got.metadata and "" in got.metadata
        assert got.source == "/docs/cfg.json"
        assert got.text == "a config file"

    def test_nul_and_surrogates_are_mapped_the_same_everywhere(self, store: Store) -> None:
        """Text, metadata and location with NUL, lone surrogates and numbers out of a store's
        range are stored as ``rag.sanitize`` maps them (NUL removed, lone surrogate U+FFFD,
        pair joined, huge int and NaN as text), on every store, with no error.

        If this fails, pass the chunk through ``rag.sanitize.clean_chunk`` in ``write``
        before building the backend's record.
        """
        text = "nul \x00 here, lone \udfff, pair \ud83d\ude00, tab\tbell\x07"
        location = Location(record="r\x00\udfff", heading_path=("H\x00", "\udfff"))
        chunk = Chunk(
            id="dirty",
            text=text,
            source="/docs/m.jsonl",
            location=location,
            content_hash="0" * 64,
            metadata=DIRTY,
        )
        store.write([chunk], vectors(unit(0)))
        got = _read_back(store, "dirty")
        assert got.text == clean_text(text) == "nul  here, lone \ufffd, pair 😀, tab\tbell\x07"
        assert got.metadata == clean_metadata(DIRTY)
        assert got.metadata["nan"] == "nan" and got.metadata["big"] == str(2**70)
        assert got.metadata["int64"] == -(2**63) and got.metadata["float"] == 0.1 + 0.2
        assert got.location.record == "r\ufffd"
        assert got.location.heading_path == ("H", "\ufffd")
