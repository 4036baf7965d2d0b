"""The support check of generated answers and the extractive answerer (rag.pipelines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from citation_helpers import cite, gate_declines

from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.grounding import (
    SupportChecker,
    abstain_text,
    claim_parts,
    is_abstention,
    markers_of,
    split_claims,
    strip_markers,
)
from rag.pipelines.statements import statements

STORES = (
    "rag keeps chunks in a vector store. PostgreSQL with the pgvector extension suits teams "
    "that already run PostgreSQL. Install the extra first:\n\n```bash\npip install "
    "'rag[pgvector]'\n```\n\nPoint rag at a database with a DSN:\n\n```bash\nrag ingest "
    "./docs --store pgvector --dsn postgresql://localhost:5432/rag\n```\n"
)
COSTS = "Every call is logged with its tokens, latency and cost. Prices come from prices.toml."


SOURCES = [cite(1, STORES), cite(2, COSTS)]


def test_claims_keep_their_markers_and_layout() -> None:
    text = "Use it [1]. Then 3.5 GB at ./docs is fine. [2] Next line\n\n- `pip install x` [1]"
    assert split_claims(text) == [
        "Use it [1].",
        "Then 3.5 GB at ./docs is fine. [2]",
        "Next line",
        "- `pip install x` [1]",
    ]
    assert [sep for _, sep in claim_parts(text)] == [" ", " ", "\n\n", ""]
    assert markers_of("a [2, 1] b [2]") == [2, 1]


def test_a_marker_written_as_code_is_text_not_a_citation() -> None:
    """A source that shows the marker syntax ("cites its sources as `[1]`, `[2]`, ...") is
    quoted whole; its `[1]` and `[2]` are text, not citations: the support check does not
    count source 2 as cited (it had lowered citation precision), and the marker stays."""
    sentence = (
        "The answer cites its sources as `[1]`, `[2]`, ... and each citation points back "
        "to the file and the place in it [2]."
    )
    assert markers_of(sentence) == [2]
    assert strip_markers(sentence) == sentence.replace(" [2]", "")
    source = cite(2, sentence.replace(" [2]", ""))
    checked = SupportChecker().check(sentence, [cite(1, COSTS), source])
    assert checked.sentences[0].citations == [2] and checked.sentences[0].supported
    assert checked.text == sentence


def test_a_one_word_reply_is_no_claim_of_its_own() -> None:
    assert split_claims("No. It needs a licence server first [1].") == [
        "No. It needs a licence server first [1]."
    ]
    assert split_claims("It works. Fine [2].") == ["It works.", "Fine [2]."]


def test_a_short_remark_is_checked_with_the_claim_before_it() -> None:
    """ "Default: 50." says more of the sentence before it (as ``statements`` quotes them);
    after a question, or in Korean, it stays a claim of its own."""
    assert split_claims("`--rate N`: requests per second. Default: 50 [1].\nNext [2].") == [
        "`--rate N`: requests per second. Default: 50 [1].",
        "Next [2].",
    ]
    assert split_claims("Is it free? Yes, always [1].") == ["Is it free?", "Yes, always [1]."]
    assert split_claims("Is it free? [2] Yes, always [1].") == [  # a cited question too
        "Is it free? [2]",
        "Yes, always [1].",
    ]
    assert split_claims("LoRA는 기법이다. 이를 QLoRA라 한다 [1].") == [
        "LoRA는 기법이다.",
        "이를 QLoRA라 한다 [1].",
    ]


def test_supported_sentence_gets_the_right_marker() -> None:
    checked = SupportChecker().check("Every call is logged with its tokens [1].", SOURCES)
    (sentence,) = checked.sentences
    assert sentence.supported is True and sentence.citations == [2]
    assert checked.text == "Every call is logged with its tokens [2]."
    assert checked.grounded == 1.0 and not checked.abstained


def test_missing_marker_is_added_and_layout_kept() -> None:
    text = "Install the extra first.\n\n- pip install 'rag[pgvector]'"
    checked = SupportChecker().check(text, SOURCES)
    assert checked.text == "Install the extra first [1].\n\n- pip install 'rag[pgvector]' [1]"
    assert [s.citations for s in checked.sentences] == [[1], [1]]


def test_invented_facts_are_flagged_and_lose_their_marker() -> None:
    text = (
        "To switch to pgvector, you need to install the RAG_PG_DSN command-line tool [1]. "
        "The server listens on port 6543 [1]. Install the extra first [1]."
    )
    checked = SupportChecker().check(text, SOURCES)
    verdicts = [s.supported for s in checked.sentences]
    assert verdicts == [False, False, True]
    assert "[1]" not in checked.sentences[0].text and "[1]" not in checked.sentences[1].text
    assert checked.grounded == 1 / 3


def test_a_number_missing_from_the_source_is_never_supported() -> None:
    source = [cite(1, "The default port is 5432 for PostgreSQL servers.")]
    assert SupportChecker().check("The default port is 5432.", source).grounded == 1.0
    assert SupportChecker().check("The default port is 5433.", source).grounded == 0.0


def test_abstentions_are_neither_supported_nor_not() -> None:
    checked = SupportChecker().check("The sources do not say.", SOURCES)
    assert checked.abstained and checked.grounded is None
    assert checked.sentences[0].supported is None
    assert is_abstention(abstain_text("ko")) and is_abstention("I don't know.")
    assert not is_abstention("Install the extra first.")


def test_extractive_answer_copies_source_sentences_with_their_numbers() -> None:
    composed = ExtractiveAnswerer().compose("What is logged for every call?", SOURCES, lang="en")
    assert not composed.abstained
    assert composed.text.startswith("Every call is logged with its tokens, latency and cost [2].")
    for sentence in composed.sentences:
        assert sentence.supported is True and sentence.citations == [2]
    # grounded by construction: the checker agrees
    assert SupportChecker().check(composed.text, SOURCES).grounded == 1.0


def test_extractive_how_question_takes_the_command_and_its_introduction() -> None:
    composed = ExtractiveAnswerer().compose(
        "How do I install pgvector support?", SOURCES, lang="en"
    )
    assert "`pip install 'rag[pgvector]'` [1]" in composed.text
    assert "Install the extra first: [1]" in composed.text


def test_extractive_abstains_when_no_source_covers_the_question() -> None:
    composed = ExtractiveAnswerer().compose(
        "Which GPU vendors are supported by the tokenizer?", SOURCES, lang="en"
    )
    assert composed.abstained and composed.text == abstain_text("en")
    korean = ExtractiveAnswerer().compose("화성의 위성은 몇 개인가?", SOURCES, lang="ko")
    assert korean.abstained and korean.text == abstain_text("ko")
    assert ExtractiveAnswerer().compose("Anything?", [], lang="en").abstained


def test_source_statements_skip_breadcrumbs_titles_and_fences() -> None:
    chunk = "Vector stores > pgvector\nrag ask 'x' --store pgvector\n```\n\nNo server? Start one."
    crumbs = cite(1, chunk, heading=("Vector stores", "pgvector"))
    composed = ExtractiveAnswerer().compose("How do I ask with pgvector?", [crumbs], lang="en")
    assert "Vector stores > pgvector" not in composed.text
    assert statements("LoRA 미세 조정\n\nLoRA는 기법이다. 이를 QLoRA라 한다.") == [
        "LoRA는 기법이다.",
        "이를 QLoRA라 한다.",
    ]
    # a chunk that starts inside a code block: its first line is code
    assert statements("rag ask 'x' --store pgvector\n```\n\nNo server? Start one.")[0] == (
        "`rag ask 'x' --store pgvector`"
    )


def test_abstain_below_is_a_setting(tmp_path: Path) -> None:
    from rag import RAG
    from rag.stores.memory import MemoryStore
    from rag.testing import FakeEmbedder, ScriptedLLM

    def make(**kw: object) -> RAG:
        return RAG(
            store=MemoryStore("ab"),
            embedder=FakeEmbedder(),
            llm=ScriptedLLM(),
            data_dir=tmp_path,
            answer_mode="extractive",
            **kw,  # type: ignore[arg-type]
        )

    assert make().query_pipeline.extractor.min_coverage == 0.19
    assert make(abstain_below=0.5).query_pipeline.extractor.min_coverage == 0.5


class Closeness:
    """An English embedder whose every sentence has cosine ``c`` to every question."""

    languages = frozenset({"en"})
    name = "sentence-transformers/all-MiniLM-L6-v2"  # the scale the floor was chosen on

    def __init__(self, c: float) -> None:
        self.c = c

    def embed(self, texts: list[str], *, input_type: str = "document") -> object:
        import numpy as np

        row = [1.0, 0.0] if input_type == "query" else [self.c, (1 - self.c**2) ** 0.5]
        return np.array([row] * len(texts))


def test_extractive_abstains_when_no_sentence_means_what_was_asked() -> None:
    """The question's words are all in the sources (full coverage), but where the embedder
    covers the language a best sentence under ``cosine_floor`` means something else; within
    ``lenient_margin`` of it, a question the best source mostly covers is answered, and within
    ``long_margin`` a long question; one it covers nearly whole (``floorless_coverage``) is
    answered whatever the cosine."""
    from rag.testing import FakeEmbedder

    def answerer(**options: Any) -> ExtractiveAnswerer:
        # these questions ask no type; ``untyped_margin`` has a test of its own
        return ExtractiveAnswerer(untyped_margin=0.0, **options)

    question = "Which PostgreSQL extension is logged for every call?"
    far = answerer(embedder=Closeness(0.3)).compose(question, SOURCES, lang="en")
    assert far.abstained and far.coverage > 0.5 and far.closeness == 0.3
    # a best source holding ``floorless_coverage`` of the question's weighted terms waives the
    # floor: such a question is not near-topic
    assert far.coverage < 0.6
    waived = answerer(embedder=Closeness(0.3), floorless_coverage=far.coverage)
    assert not waived.compose(question, SOURCES, lang="en").abstained
    near = answerer(embedder=Closeness(0.7)).compose(question, SOURCES, lang="en")
    assert not near.abstained
    assert (
        not answerer(embedder=Closeness(0.3), cosine_floor=0.0)
        .compose(question, SOURCES, lang="en")
        .abstained
    )
    # just under the floor: a question the best source mostly covers is answered, one it
    # covers less is not
    mostly = answerer(embedder=Closeness(0.4)).compose(question, SOURCES, lang="en")
    assert not mostly.abstained and mostly.coverage >= 0.5
    partly = answerer(embedder=Closeness(0.4)).compose(
        "Which PostgreSQL extension keeps the audit trail of each user?", SOURCES, lang="en"
    )
    assert partly.abstained and 0.18 <= partly.coverage < 0.5, partly
    # a long question spreads its meaning over many words: ``long_margin`` under the floor, a
    # question of ``long_question`` words or more is answered where a short one is not
    long = (
        "We run PostgreSQL for billing and auth already; which extension lets it hold the "
        "chunks for our documents too?"
    )
    assert len(long.split()) >= 14
    close = answerer(embedder=Closeness(0.42))
    answered = close.compose(long, SOURCES, lang="en")
    assert not answered.abstained and answered.coverage < 0.5, answered
    short = close.compose(
        "Which extension lets it hold the chunks for our documents too?", SOURCES, lang="en"
    )
    assert short.abstained and short.coverage < 0.5, short
    assert answerer(embedder=Closeness(0.38)).compose(long, SOURCES, lang="en").abstained
    other = answerer(embedder=Closeness(0.3)).compose(question, SOURCES, lang="ko")
    assert answerer(embedder=FakeEmbedder()).cosine_floor == 0.0, "uncalibrated scale"
    assert not other.abstained, "no floor where the embedder does not cover the language"


def test_a_question_asking_no_type_gets_a_lower_floor() -> None:
    """A question asking how, what happens or which thing, rather than a number, a name, a
    date or yes or no, is answered ``untyped_margin`` under the floor: it is seldom worded as
    its answer is. A yes/no question and one asking a number keep the floor."""
    close = ExtractiveAnswerer(embedder=Closeness(0.4))
    for question in (
        "How do I make the pgvector extension keep the audit trail?",
        "Does the pgvector extension keep the audit trail?",
        "How many days does the pgvector extension keep the audit trail?",
    ):
        strict = ExtractiveAnswerer(embedder=Closeness(0.4), untyped_margin=0.0)
        assert strict.compose(question, SOURCES, lang="en").abstained, question
    how = close.compose(
        "How do I make the pgvector extension keep the audit trail?",
        SOURCES,
        lang="en",
    )
    assert not how.abstained and how.coverage < 0.5, how
    whether = close.compose("Does the pgvector extension keep the audit trail?", SOURCES, lang="en")
    assert whether.abstained and "close in meaning" in whether.reason, whether
    counted = close.compose(
        "How many days does the pgvector extension keep the audit trail?",
        SOURCES,
        lang="en",
    )
    assert counted.abstained, counted


BLACK_HOLE = cite(
    1,
    "블랙홀 주변에는 빛조차 빠져나올 수 없는 경계가 있는데, 이를 사건의 지평선이라고 부른다. "
    "블랙홀은 별이 무너져 생긴다.",
)


def test_korean_match_counts_character_bigrams_where_no_embedder_covers_korean() -> None:
    """Without a meaning signal, an inflected paraphrase shares few whole terms with its
    source but many character bigrams: it is answered, a near-topic question is not."""
    question = "블랙홀에서 빛이 못 빠져나오는 경계를 뭐라고 해?"
    blended = ExtractiveAnswerer().compose(question, [BLACK_HOLE, cite(2, COSTS)], lang="ko")
    assert not blended.abstained and "사건의 지평선" in blended.text
    terms_only = ExtractiveAnswerer(bigram_languages=frozenset()).compose(
        question, [BLACK_HOLE, cite(2, COSTS)], lang="ko"
    )
    assert terms_only.abstained and terms_only.coverage < blended.coverage
    near_topic = ExtractiveAnswerer().compose("블랙홀의 온도는 몇 도야?", [BLACK_HOLE], lang="ko")
    assert near_topic.abstained


def test_korean_sentence_choice_counts_character_bigrams() -> None:
    """Spacing differs from the source ("빠져나오지못하는"), so whole terms point at the
    sentence that merely names the topic; its character bigrams point at the answer."""
    source = cite(
        1,
        "블랙홀 관측은 어렵다. 빛조차 빠져나오지 못하는 경계를 사건의 지평선이라 한다. "
        "블랙홀은 별이 무너져 생긴다.",
    )
    question = "빛도빠져나오지못하는 블랙홀 경계선은?"
    terms_only = ExtractiveAnswerer(sentence_bigram_weight=0.0, follow=False).compose(
        question, [source], lang="ko"
    )
    assert terms_only.text == "블랙홀 관측은 어렵다 [1]."
    answer = ExtractiveAnswerer(follow=False).compose(question, [source], lang="ko")
    assert answer.text == "빛조차 빠져나오지 못하는 경계를 사건의 지평선이라 한다 [1]."


def test_abstention_is_decided_on_the_best_ranked_sources() -> None:
    """The answer may come from any source, but when neither of the ``gate_sources`` best
    ranked covers the question, retrieval found nothing that answers it: abstain."""
    question = "Where are call costs logged?"
    chunker = cite(2, "The chunker splits Markdown by headings. Code blocks stay whole.")
    sources = [cite(1, STORES), chunker, cite(3, COSTS)]
    assert ExtractiveAnswerer().compose(question, sources, lang="en").abstained
    answered = ExtractiveAnswerer(gate_sources=3).compose(question, sources, lang="en")
    # (a "where" question: the next sentence joins, as it names a file, prices.toml)
    assert (
        answered.text.splitlines()[0]
        == "Every call is logged with its tokens, latency and cost [3]."
    )
    ranked_first = ExtractiveAnswerer().compose(question, [sources[2], *sources[:2]], lang="en")
    assert ranked_first.text == answered.text


def test_a_question_for_a_quantity_abstains_when_the_answer_gives_none() -> None:
    """The sources are on topic, but the sentence that matches best holds no number in the
    unit asked for: the sources do not say."""
    kimchi = cite(
        1,
        "배추김치를 담글 때 가장 먼저 할 일은 배추를 소금에 절이는 것이다. "
        "배추는 6시간에서 8시간쯤 절인다.",
    )
    gate_declines("배추를 소금에 절이는 것은 소금 몇 컵으로 해?", [kimchi], lang="ko")
    hours = ExtractiveAnswerer().compose("배추는 몇 시간 절여?", [kimchi], lang="ko")
    assert "6시간에서 8시간" in hours.text


def test_the_unit_asked_for_may_be_written_another_way() -> None:
    from rag.pipelines.answer_units_ko import asked_unit

    def holds(question: str, text: str) -> bool:
        unit = asked_unit(question)
        assert unit is not None
        return unit.search(text) is not None

    assert holds("한강 길이는 몇 km예요?", "길이는 약 494킬로미터이다")
    assert holds("몇 달 평균이야?", "지난 2~3개월의 평균")
    assert holds("1분에 몇 번 눌러?", "분당 100회에서 120회")
    assert holds("하루에 몇 알까지?", "하루 열 알 안팎")
    assert holds("몇 퍼센트야?", "6.5% 이상")
    assert not holds("몇 척이었어?", "1592년에 시작되었다")
    assert asked_unit("벡터 차원 몇까지 지원해?") is None
    # a word after 몇 that is no counter names no unit: any number answers
    assert asked_unit("70억 파라미터 모델 16비트로 로드하면 메모리 몇 필요?") is None
    assert asked_unit("합격자가 몇이었어?") is None
    assert holds("강아지가 몇 마리야?", "강아지 세 마리를 키운다")
    assert asked_unit("How many?") is None
