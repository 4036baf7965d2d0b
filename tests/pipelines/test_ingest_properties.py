"""Property-based: arbitrary text and metadata (NUL, surrogates, ``$``, ``.``, control
characters, very long keys) through the loaders and ``rag.sanitize`` into every store.

No exception escapes; every file is stored (in the manifest) or reported by name; what is
stored is exactly the sanitiser's documented mapping of what the loader read."""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import SPAN_KEY, TokenChunker
from rag.connectors import default_loaders
from rag.errors import LoadError
from rag.pipelines.ingest import IngestPipeline
from rag.sanitize import clean_document, clean_text
from rag.stores.base import Store
from rag.testing import FakeEmbedder
from rag.types import Chunk, Document

SPECIAL = ["\x00", "\udfff", "\ud800", "$", ".", "#", "\x01", "\x1f", "\x7f", "\ufffd", "é"]
chars = st.one_of(st.characters(codec=None), st.sampled_from(SPECIAL))
texts = st.text(chars, max_size=40)
keys = st.one_of(
    texts,
    st.sampled_from(["$schema", "$", "#x", "", "a.b", "meta.x", "chroma:document", "source"]),
    st.integers(300, 600).map(lambda n: "k" * n),  # very long keys
)
values = st.one_of(
    texts,
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.lists(st.integers(), max_size=3),
)
records = st.lists(
    st.fixed_dictionaries({"text": texts}, optional={"id": texts}).flatmap(
        lambda base: st.dictionaries(keys, values, max_size=4).map(lambda extra: {**extra, **base})
    ),
    min_size=1,
    max_size=4,
)
_runs = itertools.count()


def _write_files(root: Path, recs: list[dict[str, Any]], md: str) -> list[Path]:
    """One .jsonl, one .json and one .md file carrying the generated text and metadata."""
    jsonl = root / "r.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in recs) + "\n")  # \\uXXXX escapes
    obj = root / "o.json"
    obj.write_text(json.dumps({str(k): v for k, v in recs[0].items()}))
    page = root / "p.md"
    page.write_bytes(md.encode("utf-8", "surrogatepass"))  # may not even be UTF-8
    return [jsonl, obj, page]


def _check(store: Store, recs: list[dict[str, Any]], md: str) -> None:
    embedder = FakeEmbedder()
    ingest = IngestPipeline(store, embedder, TokenChunker(embedder.tokenizer, 40, 8))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / f"run{next(_runs)}"
        root.mkdir()
        files = _write_files(root, recs, md)
        report = ingest.run(root, prune=False)  # no exception escapes
        failed = {f.path for f in report.failures}
        manifest = store.sources()
        probe = embedder.embed(["x"])[0]
        for path in files:
            source = str(path.absolute())
            assert source in manifest or source in failed, f"{path.name} neither stored nor named"
            if store.count() == 0:
                continue
            stored = [h.chunk for h in store.query(probe, 1000, {"source": source})]
            try:
                expected = [clean_document(d) for d in default_loaders().iter_file(path)]
            except LoadError:
                expected = []
            for chunk in stored:
                # stored text is the documented mapping: clean, and part of the clean text
                assert clean_text(chunk.text) == chunk.text
                chunk.text.encode("utf-8")
                # records may share an id: the chunk comes from one of those with its id
                docs = [d for d in expected if d.location.record == chunk.location.record]
                if not docs:
                    continue
                assert any(_made_from(chunk, d) for d in docs), (path.name, chunk)


def _same_value(stored: object, given: object) -> bool:
    """Equal, but a float to 14 significant digits: Chroma gives some floats back a unit or two
    off in their last digits (``6.3238228790338445e-19`` as ``6.323822879033845e-19``), as
    its SQLite prints them (rag.sanitize's docstring)."""
    if isinstance(given, float) and isinstance(stored, float):
        return math.isclose(stored, given, rel_tol=1e-14, abs_tol=0.0)
    return stored == given


def _made_from(chunk: Chunk, doc: Document) -> bool:
    """``chunk`` holds part of ``doc``'s clean text and exactly its clean metadata (floats to
    14 significant digits, ``_same_value``)."""
    extra = set(chunk.metadata) - set(doc.metadata)
    same = all(_same_value(chunk.metadata.get(k), v) for k, v in doc.metadata.items())
    return chunk.text in doc.text and same and extra <= {"lang", SPAN_KEY}


def _property(store: Store) -> None:
    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(recs=records, md=texts)
    def run(recs: list[dict[str, Any]], md: str) -> None:
        _check(store, recs, md)

    run()


def test_any_text_and_metadata_on_every_store(any_store: Store) -> None:
    _property(any_store)
