"""Keyword tokenization (Korean morphemes, English stems) and BM25 on every store: the same
scores from the memory and SQLite sidecars and from pgvector's tables."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.keywords import RELATED_MIN, KeywordTokenizer, has_hangul, related_morphemes
from rag.stores.base import KeywordSearchStore, keyword_search
from rag.stores.bm25 import bm25_idf
from rag.stores.bm25_sidecar import SQLiteBM25, sidecar_path
from rag.testing import FakeEmbedder
from rag.types import Chunk, Location


@pytest.fixture(scope="module")
def tok() -> KeywordTokenizer:
    return KeywordTokenizer()


# -- tokenization ------------------------------------------------------------------------------


def test_korean_particles_and_endings_are_dropped(tok: KeywordTokenizer) -> None:
    assert KeywordTokenizer(korean_stopwords=()).tokenize("LoRA는 무엇인가?") == ["lora", "무엇"]
    assert tok.tokenize("LoRA는 무엇인가?") == ["lora"]  # 무엇: a Korean stopword
    passage = tok.tokenize("LoRA를 사용하면 모델을 빠르게 미세조정할 수 있다.")
    assert "lora" in passage and "모델" in passage and "미세" in passage and "조정" in passage
    for particle in ("는", "를", "을", "다", "면", "하"):
        assert particle not in passage
    # the same noun with different particles gives the same term
    assert tok.tokenize("검색은") == tok.tokenize("검색을") == tok.tokenize("검색이") == ["검색"]


def test_korean_verb_and_adjective_stems_are_kept(tok: KeywordTokenizer) -> None:
    assert tok.tokenize("주가가 올랐다") == ["주가", "오르"]
    assert "오르" in tok.tokenize("주가가 오르는 이유")


def test_english_lowercased_stemmed_and_stopwords_dropped(tok: KeywordTokenizer) -> None:
    assert tok.tokenize("The runner was Running; it runs!") == ["runner", "run", "run"]
    assert tok.tokenize("studies") == tok.tokenize("studying") == ["studi"]
    assert tok.tokenize("IL-6 levels in 2023") == ["il", "6", "level", "2023"]


def test_english_text_never_loads_kiwi() -> None:
    fresh = KeywordTokenizer()
    fresh.tokenize_batch(["Dense retrieval and BM25.", "Nothing Korean here: café, naïve."])
    assert not fresh.kiwi_loaded
    fresh.tokenize("한국어")
    assert fresh.kiwi_loaded


def test_related_morphemes_come_from_kiwis_embeddings() -> None:
    """kiwi's CoNg model ships in kiwipiepy_model: no download, the same in every process."""
    assert related_morphemes("값")["가격"] >= RELATED_MIN
    assert "남성" in related_morphemes("남자")
    assert all(score >= RELATED_MIN for score in related_morphemes("색깔").values())
    assert "색깔" not in related_morphemes("색깔")  # a word is not its own neighbour
    assert related_morphemes("price") == {} and related_morphemes("") == {}
    with pytest.raises(TypeError):  # cached and shared: callers cannot change it
        related_morphemes("값")["가격"] = 0.0  # type: ignore[index]


def test_mixed_text_handles_each_script(tok: KeywordTokenizer) -> None:
    terms = tok.tokenize("Transformers 모델은 attention을 사용하며 running 속도가 빠르다")
    assert {"transform", "모델", "attent", "사용", "run", "속도", "빠르"} <= set(terms)
    assert has_hangul("a 한 b") and not has_hangul("abc 123")


def test_names_inside_korean_text_also_give_the_terms_english_text_gives(
    tok: KeywordTokenizer,
) -> None:
    """Kiwi splits Latin names its own way (CP949 -> cp + 949, glyphcut -> gli + phcut), so an
    English question never found a Korean page by a name, nor a Korean question an English
    page. A Korean text also gives each name as an English text does; kiwi's terms stay (a
    keyword index written before still matches), numbers and plain words are not doubled."""
    cases = {
        "CP949로 저장된 파일도 읽는다": "CP949",
        "`glyphcut.json`을 수정한다": "glyphcut.json",
        "SmolLM2-135M 모델을 쓴다": "SmolLM2-135M",
        "EC2 인스턴스에서 GPT-4o를 부른다": "GPT-4o on EC2",
    }
    for korean, english in cases.items():
        assert set(tok.tokenize(english)) <= set(tok.tokenize(korean)), korean
    assert {"cp", "949", "cp949"} <= set(tok.tokenize("CP949로 저장된 파일"))
    for plain in ("LoRA를 사용하면 32배 빠르고 400만 개", "Transformers 모델은 attention을 쓴다"):
        terms = tok.tokenize(plain)
        assert len(terms) == len(set(terms)), terms


def test_an_english_question_finds_a_korean_page_by_a_name_and_back(
    tok: KeywordTokenizer,
) -> None:
    from rag.stores.memory import MemoryStore

    pages = [
        chunk("ko", "rag는 CP949로 저장된 파일도 읽는다.", lang="ko"),
        chunk("en", "Set the encoding to cp949 for legacy Korean files.", "/d/b.md", lang="en"),
        chunk("other", "파일 인코딩은 자동으로 감지한다.", "/d/c.md", lang="ko"),
    ]
    store = MemoryStore("names")
    store.write(pages, embed(pages), terms=tok.tokenize_batch([c.text for c in pages]))
    english = {h.chunk.id for h in store.keyword_query(tok.tokenize("Can rag read CP949?"), 3)}
    korean = {h.chunk.id for h in store.keyword_query(tok.tokenize("CP949 인코딩"), 3)}
    assert "ko" in english and "en" in korean


def test_batch_equals_one_by_one(tok: KeywordTokenizer) -> None:
    texts = ["LoRA를 썼다", "plain English words", "", "혼합 mixed 텍스트", "12 34"]
    assert tok.tokenize_batch(texts) == [tok.tokenize(t) for t in texts]


# -- BM25 --------------------------------------------------------------------------------------


def chunk(cid: str, text: str, source: str = "/d/a.md", **meta: str | int) -> Chunk:
    return Chunk(
        id=cid,
        text=text,
        source=source,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
        metadata=dict(meta),
    )


CORPUS = [
    chunk("en1", "The cat sat on the mat.", lang="en"),
    chunk("en2", "Dogs and cats are pets; the dog barks at the cat.", lang="en"),
    chunk("en3", "Stock markets rose sharply today.", "/d/b.md", lang="en"),
    chunk("ko1", "LoRA를 사용하면 대형 언어 모델을 적은 비용으로 미세조정할 수 있다.", lang="ko"),
    chunk("ko2", "삼성전자의 주가가 어제 크게 올랐다.", "/d/b.md", lang="ko"),
    chunk("ko3", "한국어 검색은 형태소 분석기로 조사를 떼어 낸다.", lang="ko"),
]


def embed(chunks: list[Chunk]):  # type: ignore[no-untyped-def]
    return FakeEmbedder().embed([c.text for c in chunks])


@pytest.fixture(params=["memory", "sqlite", "pgvector", "qdrant"])
def index(
    request: pytest.FixtureRequest, tmp_path: Path, tok: KeywordTokenizer
) -> Iterator[KeywordSearchStore]:
    """The same corpus, chunks and terms in one write, in every store: memory (in-process
    sidecar), Chroma and Qdrant (SQLite sidecar) and pgvector (its own tables)."""
    from rag.stores.memory import MemoryStore

    store: KeywordSearchStore
    if request.param == "memory":
        store = MemoryStore("docs")
    elif request.param == "sqlite":
        from rag.stores.chroma import ChromaStore

        store = ChromaStore("docs", path=tmp_path / "chroma")
    elif request.param == "qdrant":
        from rag.stores.qdrant import QdrantStore

        store = QdrantStore("docs", path=tmp_path / "qdrant")
    else:
        from rag.stores.pgvector import PgVectorStore

        store = PgVectorStore(request.getfixturevalue("pg_dsn"), f"kw_{uuid.uuid4().hex[:8]}")
    terms = tok.tokenize_batch([c.text for c in CORPUS])
    assert store.write(CORPUS, embed(CORPUS), terms=terms) == len(CORPUS)
    yield store
    store.close()


def test_bm25_finds_korean_across_particles(
    index: KeywordSearchStore, tok: KeywordTokenizer
) -> None:
    hits = index.keyword_query(tok.tokenize("LoRA는 무엇인가?"), 3)
    assert [h.chunk.id for h in hits] == ["ko1"]
    assert hits[0].chunk.text == CORPUS[3].text and hits[0].chunk.metadata == {"lang": "ko"}
    hits = index.keyword_query(tok.tokenize("주가가 오른 회사는?"), 3)
    assert hits[0].chunk.id == "ko2"


def test_bm25_english_ranking_and_filters(index: KeywordSearchStore, tok: KeywordTokenizer) -> None:
    hits = index.keyword_query(tok.tokenize("cats"), 5)
    assert [h.chunk.id for h in hits] == ["en2", "en1"]  # en2 has "cat" twice
    assert hits[0].score > hits[1].score > 0
    assert index.keyword_query(tok.tokenize("cats"), 5, {"source": "/d/b.md"}) == []
    both = index.keyword_query(tok.tokenize("cat stock"), 5, {"lang": "en"})
    assert both[0].chunk.id == "en3"  # the rarer term weighs more
    assert {h.chunk.id for h in both} == {"en1", "en2", "en3"}
    assert index.keyword_query(tok.tokenize("cat stock"), 5, {"lang": "ko"}) == []
    assert [h.chunk.id for h in index.keyword_query(tok.tokenize("cats"), 1)] == ["en2"]
    assert index.keyword_query(tok.tokenize("unrelated zebra"), 5) == []
    assert index.keyword_query([], 5) == []


def test_bm25_score_matches_hand_computation(
    index: KeywordSearchStore, tok: KeywordTokenizer
) -> None:
    """'stock' occurs once in en3 (and nowhere else): idf * tf*(k1+1) / (tf + k1*(1-b+b*|d|/avgdl))."""
    lengths = [len(t) for t in tok.tokenize_batch([c.text for c in CORPUS])]
    avgdl = sum(lengths) / len(lengths)
    idf = math.log(1 + (6 - 1 + 0.5) / (1 + 0.5))
    assert bm25_idf(6, 1) == pytest.approx(idf)
    expected = idf * 1 * 2.2 / (1 + 1.2 * (1 - 0.75 + 0.75 * lengths[2] / avgdl))
    (hit,) = index.keyword_query(["stock"], 3)
    assert hit.chunk.id == "en3" and hit.score == pytest.approx(expected, rel=1e-9)


def test_delete_and_replace(index: KeywordSearchStore, tok: KeywordTokenizer) -> None:
    assert index.keyword_count() == 6
    assert index.keyword_ids(["en1", "nope", "ko1"]) == {"en1", "ko1"}
    assert index.ids_for_source("/d/b.md") == {"en3", "ko2"}
    assert index.delete_ids(["en1", "nope"]) == 1
    assert [h.chunk.id for h in index.keyword_query(tok.tokenize("cat"), 5)] == ["en2"]
    assert index.delete_source("/d/b.md") == 2
    assert index.keyword_count() == 3 and index.keyword_query(["stock"], 5) == []
    # re-writing an id replaces its terms
    replaced = chunk("en2", "Only zebras now.")
    index.write([replaced], embed([replaced]), terms=[tok.tokenize(replaced.text)])
    assert index.keyword_query(tok.tokenize("cat"), 5) == []
    assert index.keyword_query(tok.tokenize("zebra"), 5)[0].chunk.id == "en2"
    assert index.keyword_count() == 3


def test_sqlite_index_persists_and_checks_collection(tmp_path: Path, tok: KeywordTokenizer) -> None:
    path = tmp_path / "kw.sqlite"
    first = SQLiteBM25(path, "docs")
    first.add(CORPUS, tok.tokenize_batch([c.text for c in CORPUS]))
    first.close()
    again = SQLiteBM25(path, "docs")
    assert again.count() == 6 and again.search(["stock"], 1)[0].chunk.id == "en3"
    again.close()
    from rag.errors import StoreError

    with pytest.raises(StoreError, match="belongs to collection 'docs'"):
        SQLiteBM25(path, "other")


def test_sqlite_index_from_before_the_covering_index_gets_it(
    tmp_path: Path, tok: KeywordTokenizer
) -> None:
    """Search reads lengths from the (id, length) index, never the stored chunk rows, and a
    file written before that index existed gains it on open with its scores unchanged."""
    import sqlite3

    path = tmp_path / "kw.sqlite"
    idx = SQLiteBM25(path, "docs")
    idx.add(CORPUS, tok.tokenize_batch([c.text for c in CORPUS]))
    before = [(h.chunk.id, h.score) for h in idx.search(tok.tokenize("stock market"), 3)]
    idx.close()
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX docs_id_length")
    again = SQLiteBM25(path, "docs")
    assert [(h.chunk.id, h.score) for h in again.search(tok.tokenize("stock market"), 3)] == before
    plan = again._db.execute("EXPLAIN QUERY PLAN SELECT count(*), sum(length) FROM docs").fetchall()
    assert "COVERING INDEX" in " ".join(str(row[-1]) for row in plan)
    again.close()


def test_every_store_declares_keyword_search_and_chroma_keeps_its_sidecar(
    tmp_path: Path,
) -> None:
    from rag.config import load_settings
    from rag.stores import make_store
    from rag.stores.chroma import ChromaStore

    memory = make_store(load_settings(data_dir=tmp_path, store="memory", collection="xyz"))
    assert keyword_search(memory) is memory
    chroma = make_store(load_settings(data_dir=tmp_path, store="chroma", collection="notes"))
    assert isinstance(chroma, ChromaStore) and keyword_search(chroma) is chroma
    expected = tmp_path / "keyword/notes.sqlite"
    assert chroma.keyword_path == sidecar_path(tmp_path / "keyword", "notes") == expected
    assert not expected.exists()  # opened on first use
    chroma.write([CORPUS[0]], embed([CORPUS[0]]), terms=[["cat", "mat"]])
    assert expected.exists() and chroma.keyword_query(["mat"], 1)[0].chunk.id == "en1"
    chroma.close()


def test_an_english_corpus_never_loads_the_korean_analyzer(tok: KeywordTokenizer) -> None:
    """SciFact (5,000+ English records) is tokenized without kiwi, every record gets terms, and
    the batch equals one-at-a-time tokenization. Its speed is measured by bench/keywords.py."""
    import json

    corpus = Path("/work/shared/evaldata/scifact/corpus.jsonl")
    if not corpus.exists():
        pytest.skip("SciFact corpus not present")
    texts = [f"{d['title']} {d['text']}" for d in map(json.loads, corpus.read_text().splitlines())]
    fresh = KeywordTokenizer()
    terms = fresh.tokenize_batch(texts)
    assert len(terms) == len(texts) > 5000 and not fresh.kiwi_loaded
    assert all(terms), "every record has at least one term"
    assert terms[:50] == [KeywordTokenizer().tokenize(t) for t in texts[:50]]


# -- compound nouns, Korean stopwords, the title field (issue #17) -------------------------------


def test_adjacent_nouns_are_also_joined_so_spacing_does_not_matter(tok: KeywordTokenizer) -> None:
    spaced, joined = tok.tokenize("기준 금리"), tok.tokenize("기준금리")
    assert {"기준", "금리", "기준금리"} <= set(spaced)
    assert {"기준", "금리", "기준금리"} <= set(joined)
    plain = KeywordTokenizer(compounds=False)
    assert plain.tokenize("기준 금리") == ["기준", "금리"]


def test_a_compound_kiwi_keeps_whole_also_gives_its_parts(tok: KeywordTokenizer) -> None:
    assert tok.tokenize("장마철에는") == ["장마철", "장마"]  # 철: one syllable, not emitted
    assert set(tok.tokenize("우리은하")) == {"우리은하", "우리", "은하"}
    # not all nouns when read in parts (a suffix, a verb): not a compound
    assert tok.tokenize("수묵화") == ["수묵화"]
    assert tok.tokenize("발원지") == ["발원지"]
    assert KeywordTokenizer(compounds=False).tokenize("장마철에는") == ["장마철"]


def test_korean_question_words_and_light_verbs_are_stopwords(tok: KeywordTokenizer) -> None:
    assert tok.tokenize("낙동강 발원지가 어디예요?") == ["낙동강", "발원지", "낙동강발원지"]
    assert tok.tokenize("월급을 못 받았으면 어디에 신고해요?") == ["월급", "받", "신고"]
    assert "있" in KeywordTokenizer(korean_stopwords=()).tokenize("책이 있다")
    assert "있" not in tok.tokenize("책이 있다")


def test_chunk_text_puts_the_title_field_first_title_weight_times() -> None:
    chunk = Chunk(
        id="c",
        text="본문 내용",
        source="/d/a.md",
        location=Location(heading_path=("설치", "윈도우")),
        content_hash="h",
        metadata={"title": "사용 설명서"},
    )
    assert KeywordTokenizer(title_weight=0).chunk_text(chunk) == "본문 내용"
    assert (
        KeywordTokenizer(title_weight=1).chunk_text(chunk) == "사용 설명서\n설치\n윈도우\n본문 내용"
    )
    twice = KeywordTokenizer(title_weight=2).tokenize(
        KeywordTokenizer(title_weight=2).chunk_text(chunk)
    )
    assert twice.count("설명서") == 2 and twice.count("본문") == 1
    bare = chunk.model_copy(update={"metadata": {}, "location": Location()})
    assert KeywordTokenizer().chunk_text(bare) == "본문 내용"


def test_settings_survive_pickling() -> None:
    import pickle

    tok = KeywordTokenizer(compounds=False, title_weight=3, korean_stopwords=("책",))
    back = pickle.loads(pickle.dumps(tok))
    assert (back.compounds, back.title_weight) == (False, 3)
    assert back.tokenize("책이 있다") == ["있"]


def test_kiwi_warmed_in_the_background_is_the_one_tokenizers_use() -> None:
    """``warm_kiwi`` (what ``rag ask`` starts for a Korean question) loads the process's one
    Kiwi in a thread; a tokenizer made meanwhile waits for it and uses it, with the same
    terms as ever."""
    from rag import keywords

    thread = keywords.warm_kiwi()
    terms = KeywordTokenizer().tokenize("형태소 분석기가 조사를 나눕니다")
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert keywords._KIWI and len(keywords._KIWI) == 1
    assert {"형태소", "분석기"} <= set(terms)
