"""Hybrid retrieval: RRF and MMR arithmetic, and end to end where only the keyword leg finds
the passage (Korean particles defeat the bag-of-words fake embedder, not kiwi)."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import pytest

from rag import RAG
from rag.chunking import TokenChunker
from rag.config import load_settings
from rag.errors import CollectionNotFoundError, ConfigError
from rag.keywords import KeywordTokenizer
from rag.pipelines.hybrid import HybridRetriever, convex_fuse, minmax, mmr_select, rrf_fuse
from rag.pipelines.ingest import IngestPipeline
from rag.stores.base import KeywordSearchStore, Store, keyword_search
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder

TOKENIZER = KeywordTokenizer()

# -- fusion arithmetic ---------------------------------------------------------------------------


def test_rrf_fuse_hand_computed() -> None:
    fused = dict(rrf_fuse([["a", "b", "c"], ["c", "a"]], [1.0, 1.0], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert [i for i, _ in rrf_fuse([["a", "b", "c"], ["c", "a"]], [1.0, 1.0], k=60)] == [
        "a",
        "c",
        "b",
    ]


def test_rrf_weights_and_k() -> None:
    fused = rrf_fuse([["x", "y"], ["y", "x"]], [1.0, 3.0], k=1)
    # y: 1/(1+2) + 3/(1+1) = 1.8333; x: 1/2 + 3/3 = 1.5
    assert fused == [("y", pytest.approx(1 / 3 + 3 / 2)), ("x", pytest.approx(1 / 2 + 3 / 3))]
    # a zero weight removes a leg; ties keep first-seen order
    assert [i for i, _ in rrf_fuse([["p", "q"], ["q", "p"]], [1.0, 0.0])] == ["p", "q"]
    assert [i for i, _ in rrf_fuse([["p"], ["q"]], [1.0, 1.0])] == ["p", "q"]
    with pytest.raises(ValueError):
        rrf_fuse([["a"]], [1.0, 1.0])


def test_mmr_select_hand_computed() -> None:
    q = np.array([1.0, 0.0], dtype=np.float32)
    cands = np.array([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0]], dtype=np.float32)
    # lambda = 1: pure relevance order
    assert mmr_select(q, cands, 3, 1.0) == [0, 1, 2]
    # lambda = 0.5: after 0, candidate 1 scores 0.5*0.99 - 0.5*0.99 = 0, candidate 2 scores
    # 0.5*0 - 0.5*0 = 0 -> tie to the earlier row... so use 0.4: 1 -> 0.4*.99-.6*.99 < 0 = 2
    assert mmr_select(q, cands, 2, 0.4) == [0, 2]
    assert mmr_select(q, cands, 0) == [] and mmr_select(q, cands[:0], 3) == []


# -- end to end ----------------------------------------------------------------------------------

TARGET = "LoRA를 쓰면 큰 언어 모델을 적은 메모리로 미세조정할 수 있다."
DISTRACTORS = [  # the question's words (stopwords to BM25) plus distinct topics
    "what is it about cooking pasta with fresh basil and garlic",
    "what is it about mountain hiking trails in early autumn",
    "what is it about jazz records from the fifties",
    "what is it about chess openings for beginners",
    "what is it about sailing boats on windy lakes",
]
QUESTION = "LoRA는 what is it about?"


def write_corpus(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "target.txt").write_text(TARGET)
    for i, text in enumerate(DISTRACTORS):
        (root / f"d{i}.txt").write_text(text)


def build(store: Store, root: Path) -> FakeEmbedder:
    embedder = FakeEmbedder()
    IngestPipeline(
        store,
        embedder,
        TokenChunker(embedder.tokenizer, 60, 10),
        keyword_tokenizer=TOKENIZER,
    ).run(root)
    return embedder


def searchable(store: Store) -> KeywordSearchStore:
    kw = keyword_search(store)
    assert kw is not None
    return kw


def retriever(
    store: Store,
    index: KeywordSearchStore,
    embedder: FakeEmbedder,
    mode: str,
    fusion: str = "rrf",
) -> HybridRetriever:
    return HybridRetriever(store, embedder, index, TOKENIZER, mode=mode, top_k=3, fusion=fusion)


@pytest.fixture(params=["memory", "chroma", "pgvector", "qdrant"])
def parts(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A store of each kind, its keyword search (the store itself) and the embedder."""
    store: Store
    if request.param == "memory":
        store = MemoryStore("h")
    elif request.param == "chroma":
        from rag.stores.chroma import ChromaStore

        store = ChromaStore("hyb", path=tmp_path / "chroma", keyword_dir=tmp_path / "kw")
    elif request.param == "qdrant":
        from rag.stores.qdrant import QdrantStore

        store = QdrantStore("hyb", path=tmp_path / "qdrant")
    else:
        from rag.stores.pgvector import PgVectorStore

        store = PgVectorStore(request.getfixturevalue("pg_dsn"), f"h_{uuid.uuid4().hex[:8]}")
    write_corpus(tmp_path / "docs")
    embedder = build(store, tmp_path / "docs")
    yield store, searchable(store), embedder
    store.close()


def test_keyword_leg_finds_what_dense_misses(parts) -> None:  # type: ignore[no-untyped-def]
    store, index, embedder = parts
    dense = retriever(store, index, embedder, "dense").retrieve(QUESTION)
    assert all("LoRA" not in h.chunk.text for h in dense)
    keyword = retriever(store, index, embedder, "keyword").retrieve(QUESTION)
    assert [h.chunk.text for h in keyword] == [TARGET]  # the rest are stopwords
    hybrid = retriever(store, index, embedder, "hybrid")
    hits = hybrid.retrieve(QUESTION)
    assert hits[0].chunk.text == TARGET
    # target: keyword #1 + its dense rank; fused scores are RRF sums
    assert hits.mode == "hybrid" and len(hits.ranks) == len(hits)
    debug = hits.ranks[0]
    assert debug.chunk_id == hits[0].chunk.id and hits.rank_of(debug.chunk_id) == debug
    assert debug.keyword_rank == 1 and debug.dense_rank is not None and debug.dense_rank > 3
    assert hits[0].score == pytest.approx(1 / 61 + 1 / (60 + debug.dense_rank))
    assert "keyword #1" in debug.describe()
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # convex fusion (the default): the keyword leg's only hit ties with the dense leg's first
    # (1/2 each; the target is the dense leg's last), and the chunk both legs found wins
    convex = retriever(store, index, embedder, "hybrid", fusion="convex").retrieve(QUESTION)
    assert convex[0].chunk.text == TARGET and convex.ranks[0].keyword_rank == 1
    assert [h.score for h in convex] == sorted((h.score for h in convex), reverse=True)


def test_hybrid_respects_filters_and_k(parts) -> None:  # type: ignore[no-untyped-def]
    store, index, embedder = parts
    h = retriever(store, index, embedder, "hybrid")
    target = next(s for s in store.sources() if s.endswith("target.txt"))
    hits = h.retrieve(QUESTION, filters={"source": {"$ne": target}}, k=2)
    assert len(hits) == 2 and all(x.chunk.source != target for x in hits)
    with pytest.raises(ConfigError):
        h.retrieve(QUESTION, filters={"bad field!": 1})


def test_duplicates_dropped_and_mmr(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "a.txt").write_text("Chroma stores vectors on disk for retrieval.")
    (root / "b.txt").write_text("Chroma stores vectors on disk for retrieval.")  # same text
    (root / "c.txt").write_text("Chroma stores the vectors on a disk, for retrieval!")  # near
    (root / "d.txt").write_text("PostgreSQL with pgvector keeps vectors in tables.")
    store = MemoryStore("m")
    index = searchable(store)
    embedder = build(store, root)
    plain = HybridRetriever(store, embedder, index, KeywordTokenizer(), top_k=3)
    hits = plain.retrieve("chroma vectors disk")
    texts = [h.chunk.text for h in hits]
    assert len(texts) == 2 and texts[0].startswith("Chroma") and "pgvector" in texts[1]
    with_mmr = HybridRetriever(store, embedder, index, KeywordTokenizer(), top_k=2, mmr=True)
    assert {h.chunk.source for h in with_mmr.retrieve("chroma vectors disk")} == {
        h.chunk.source for h in hits
    }


def test_empty_store_and_bad_mode(tmp_path: Path) -> None:
    store = MemoryStore("e")
    r = HybridRetriever(store, FakeEmbedder(), store, KeywordTokenizer())
    with pytest.raises(CollectionNotFoundError, match="rag ingest"):
        r.retrieve("anything")
    with pytest.raises(ConfigError, match="retrieval_mode"):
        HybridRetriever(store, FakeEmbedder(), None, None, mode="sparse")
    with pytest.raises(ConfigError, match="keyword index"):
        HybridRetriever(store, FakeEmbedder(), None, None, mode="hybrid")


def test_rag_api_hybrid_on_chroma_persists_the_keyword_index(tmp_path: Path) -> None:
    from rag.stores.chroma import ChromaStore

    docs = tmp_path / "docs"
    write_corpus(docs)
    embedder = FakeEmbedder()

    def make(**overrides: object) -> RAG:
        settings = load_settings(data_dir=tmp_path / "data", store="chroma", top_k=3)
        return RAG(
            settings,
            embedder=embedder,
            chunker=TokenChunker(embedder.tokenizer, 60, 10),
            **overrides,
        )

    with make() as r:
        assert r.ingest(docs).files_new == 6
        assert isinstance(r.store, ChromaStore) and r.store.supports_keyword_search
        assert r.store.keyword_path == tmp_path / "data" / "keyword" / "default.sqlite"
        assert r.store.keyword_path.exists()
    with make() as r:  # a new process: the index is read back from disk
        assert r.retrieve(QUESTION)[0].chunk.text == TARGET
        assert all("LoRA" not in h.chunk.text for h in r.retrieve(QUESTION, k=3)[1:])
    with make(retrieval_mode="dense") as r:
        assert all("LoRA" not in h.chunk.text for h in r.retrieve(QUESTION))
    # an unchanged re-run loads neither the embedder nor kiwi
    with make() as r:
        calls = embedder.calls
        assert r.ingest(docs).files_unchanged == 6
        assert embedder.calls == calls and not r.keyword_tokenizer.kiwi_loaded


# -- a leg that cannot inform the question gets no vote ------------------------------------------


class _EnglishOnly(FakeEmbedder):
    """A fake embedder that declares, like the packaged MiniLM's card, English only."""

    languages = frozenset({"en"})


def _docs_store(embedder: FakeEmbedder) -> MemoryStore:
    store = MemoryStore("lang")
    chunker = TokenChunker(embedder.tokenizer, 64, 8)
    from rag.types import Document

    docs = [
        Document(source="/d/lora.md", text="LoRA는 저랭크 행렬만 학습하는 미세 조정 방법이다."),
        Document(source="/d/rice.md", text="밥을 지을 때는 쌀을 먼저 씻어 불린다."),
        Document(source="/d/pg.md", text="pgvector stores embeddings inside PostgreSQL tables."),
    ]
    chunks = chunker.chunk(docs)
    terms = TOKENIZER.tokenize_batch([c.text for c in chunks])
    store.write(chunks, embedder.embed([c.text for c in chunks]), terms=terms)
    return store


def _retriever(embedder: FakeEmbedder, store: MemoryStore, **kw: object) -> HybridRetriever:
    return HybridRetriever(store, embedder, keyword_search(store), TOKENIZER, top_k=2, **kw)  # type: ignore[arg-type]


def test_a_question_outside_the_embedders_languages_ranks_by_keywords_alone() -> None:
    """MiniLM is English-only: for a Korean question its dense leg is noise, so it must not
    vote (no dense rank on any hit, and the query is never embedded)."""
    embedder = _EnglishOnly(32)
    store = _docs_store(embedder)
    with _retriever(embedder, store) as r:
        calls = embedder.calls
        got = r.retrieve("LoRA로 학습하면 뭐가 달라지나요?")
        assert got.hits[0].chunk.source == "/d/lora.md"
        assert all(rank.dense_rank is None for rank in got.ranks)
        assert embedder.calls == calls, "the Korean question was embedded for nothing"
        english = r.retrieve("Where does pgvector store embeddings?")
        assert english.hits[0].chunk.source == "/d/pg.md"
        assert any(rank.dense_rank is not None for rank in english.ranks)


def test_the_dense_leg_answers_when_the_keyword_leg_finds_nothing() -> None:
    embedder = _EnglishOnly(32)
    store = _docs_store(embedder)
    with _retriever(embedder, store) as r:
        none = r.retrieve("갑을병정무기경신")  # shares no term with any chunk
        assert none.hits and all(rank.keyword_rank is None for rank in none.ranks)


def test_an_explicit_weight_for_a_language_overrides_the_rule() -> None:
    embedder = _EnglishOnly(32)
    store = _docs_store(embedder)
    with _retriever(embedder, store, dense_weight_by_lang={"ko": 1.0}) as r:
        got = r.retrieve("LoRA로 학습하면 뭐가 달라지나요?")
        assert any(rank.dense_rank is not None for rank in got.ranks)


def test_an_embedder_that_declares_no_languages_votes_on_every_question() -> None:
    embedder = FakeEmbedder(32)
    store = _docs_store(embedder)
    with _retriever(embedder, store) as r:
        got = r.retrieve("LoRA로 학습하면 뭐가 달라지나요?")
        assert any(rank.dense_rank is not None for rank in got.ranks)


# -- convex fusion of normalised scores ---------------------------------------------------------


def test_minmax_maps_a_list_onto_0_1() -> None:
    assert minmax([3.0, 1.0, 2.0]) == [1.0, 0.0, 0.5]
    assert minmax([2.0, 2.0]) == [1.0, 1.0]
    assert minmax([]) == []


def test_convex_fuse_hand_computed() -> None:
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.5)]  # normalised: a 1, b 0.75, c 0
    keyword = [("c", 12.0), ("d", 4.0), ("a", 2.0)]  # normalised: c 1, d 0.2, a 0
    fused = dict(convex_fuse([dense, keyword], [0.6, 0.4]))
    assert fused["a"] == pytest.approx(0.6)
    assert fused["b"] == pytest.approx(0.45)
    assert fused["c"] == pytest.approx(0.4)
    assert fused["d"] == pytest.approx(0.08)
    assert [i for i, _ in convex_fuse([dense, keyword], [0.6, 0.4])] == ["a", "b", "c", "d"]
    # weight 0 for a leg: the other leg's order alone (ties in first-seen order)
    assert [i for i, _ in convex_fuse([dense, keyword], [0.0, 1.0])][:2] == ["c", "d"]
    with pytest.raises(ValueError):
        convex_fuse([dense], [0.5, 0.5])


def test_convex_keeps_a_clear_keyword_winner_first_where_rrf_ties_it() -> None:
    """RRF sees ranks only: a keyword hit far ahead of the rest ties with the dense leg's
    first pick among near-equal cosines. The convex combination keeps the margin."""
    dense = [("x", 0.51), ("k", 0.50), ("y", 0.10)]
    keyword = [("k", 30.0), ("x", 1.0), ("z", 0.5)]
    by_rank = rrf_fuse([[i for i, _ in dense], [i for i, _ in keyword]], [1.0, 1.0])
    assert by_rank[0][0] == "x"  # equal RRF scores: the first seen (dense) wins
    assert convex_fuse([dense, keyword], [0.5, 0.5])[0][0] == "k"


def test_the_retriever_fuses_by_convex_combination_when_asked() -> None:
    embedder = FakeEmbedder(32)
    store = _docs_store(embedder)
    with _retriever(embedder, store, fusion="convex", fusion_alpha=0.0) as r:
        got = r.retrieve("LoRA로 학습하면 뭐가 달라지나요?")
        assert got.hits[0].chunk.source == "/d/lora.md"
        assert got.ranks[0].keyword_rank == 1
        assert 0.0 <= got.hits[-1].score <= got.hits[0].score <= 1.0
    with _retriever(embedder, store, fusion="convex", fusion_alpha=1.0) as r:
        english = r.retrieve("Where does pgvector store embeddings?")
        dense_first = store.query(embedder.embed(["Where does pgvector store embeddings?"])[0], 1)
        assert english.hits[0].chunk.id == dense_first[0].chunk.id


def test_an_unknown_fusion_or_alpha_is_a_config_error() -> None:
    embedder = FakeEmbedder(32)
    store = _docs_store(embedder)
    with pytest.raises(ConfigError, match="fusion"):
        _retriever(embedder, store, fusion="max")
    with pytest.raises(ConfigError, match="fusion_alpha"):
        _retriever(embedder, store, fusion="convex", fusion_alpha=1.5)
