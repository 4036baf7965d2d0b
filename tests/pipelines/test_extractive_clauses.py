"""A Korean answer to a quantity question quotes the clause giving the quantity, not its whole
sentence (rag.keywords.korean_clauses, rag.pipelines.clauses)."""

from __future__ import annotations

from citation_helpers import cite

from rag.keywords import KeywordTokenizer, korean_clauses
from rag.pipelines.clauses import number_clauses
from rag.pipelines.extractive import ExtractiveAnswerer

PROJECT = (
    "이 프로젝트는 2019년에 한 대학 연구실의 서버 관리자들이 시작했으며, "
    "지금은 다섯 명의 관리자가 유지하고 있습니다."
)
JUPITER = (
    "자전이 매우 빨라 하루가 약 10시간에 불과하지만, 태양을 한 바퀴 도는 데는 약 12년이 걸린다."
)


def test_a_sentence_is_cut_after_its_connective_endings() -> None:
    assert korean_clauses(PROJECT) == [
        "이 프로젝트는 2019년에 한 대학 연구실의 서버 관리자들이 시작했으며",
        "지금은 다섯 명의 관리자가 유지하고 있습니다.",  # not before 있다 (-고 있다)
    ]


def test_lists_conditions_and_joined_verbs_stay_in_their_clause() -> None:
    # the commas of a list cut nothing; -면 stays with what it conditions
    assert korean_clauses("개인 종목은 500m, 1000m, 1500m가 있고, 계주는 여자 3000m를 달린다.") == [
        "개인 종목은 500m, 1000m, 1500m가 있고",
        "계주는 여자 3000m를 달린다.",
    ]
    fee = "수수료는 방문하면 600원, 온라인으로 하면 500원이다."
    assert korean_clauses(fee) == [fee]
    # 읽고 쓸 수 있게: two verbs of one clause
    key = "`chmod 600`으로 본인만 읽고 쓸 수 있게 해야 한다."
    assert korean_clauses(key) == [key]


def test_a_quantity_answer_quotes_the_clause_of_the_kind_asked() -> None:
    assert number_clauses("목성 하루는 몇 시간이야?", [JUPITER]) == [
        "자전이 매우 빨라 하루가 약 10시간에 불과하지만 …"
    ]
    assert number_clauses("관리자는 몇 명이에요?", [PROJECT]) == [
        "지금은 다섯 명의 관리자가 유지하고 있습니다."
    ]
    # a sentence saying no quantity beside one that gives it is left out
    named = "이를 갈릴레이 위성이라 한다."
    found = "1610년 갈릴레오는 목성 주위를 도는 위성 네 개를 발견했다."
    assert number_clauses("갈릴레이 위성은 몇 개야?", [found, named]) == [found, None]


def test_a_sentence_is_kept_whole_when_its_clauses_do_not_tell_which_quantity() -> None:
    # two fees in two clauses: which is now is not told by the words
    limit = "보호 한도는 5,000만 원이었으나, 2025년 9월 1일부터 1억 원으로 올랐다."
    assert number_clauses("예금자 보호 한도 지금 얼마예요?", [limit]) == [limit]
    # the count asked is written in words, which the kind check does not read
    steps = "공을 든 채로는 세 걸음까지 걸을 수 있고, 3초 넘게 들고 있으면 반칙이다."
    assert number_clauses("공 들고 몇 걸음 걸을 수 있어?", [steps]) == [steps]
    # not a quantity question: nothing is cut
    assert number_clauses("이 프로젝트는 누가 시작했어?", [PROJECT]) == [PROJECT]


def test_the_answerer_quotes_the_clause_with_its_citation() -> None:
    question, jupiter = "목성의 하루는 몇 시간이야?", [cite(1, JUPITER, heading=("목성",))]
    terms = KeywordTokenizer().tokenize_batch
    answer = ExtractiveAnswerer(terms).compose(question, jupiter, lang="ko")
    assert answer.text == "자전이 매우 빨라 하루가 약 10시간에 불과하지만 … [1]", answer.reason
    whole = ExtractiveAnswerer(terms, number_clauses=False).compose(question, jupiter, lang="ko")
    assert whole.text == JUPITER.removesuffix(".") + " [1]."
