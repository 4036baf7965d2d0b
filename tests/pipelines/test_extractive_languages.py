"""An English question over a page in a language the embedder does not cover, what a quantity
question wants ("how long" a time, a version in a table row, a sum of money), and the reason
joining a "why" answer (rag.pipelines.extractive, rag.pipelines.answer_types)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from citation_helpers import cite, gate_declines, joined

from rag.keywords import KeywordTokenizer
from rag.pipelines.answer_types import DURATION, LASTING, answer_type, said_pattern
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.extractive_rules import Candidate, related_cover
from rag.pipelines.faqs import asks_whether

if TYPE_CHECKING:
    from rag.embeddings.onnx import OnnxEmbedder

DRIFT_KO = (
    "## 스키마 드리프트\n\n"
    "`tidewright drift` 명령은 모든 마이그레이션을 임시 데이터베이스에 적용한 뒤 대상 "
    "데이터베이스와 비교합니다. 컬럼 순서나 인덱스 이름처럼 무시해도 되는 차이는 "
    "`--ignore column-order,index-names`로 제외할 수 있습니다."
)
ROLLBACK_EN = (
    "## Rolling back\n\n`tidewright down` undoes the newest applied migration. "
    "Rollbacks are recorded like any other step, with the column `direction` set to `down`."
)


def test_a_page_the_embedder_cannot_read_is_judged_on_its_words(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """The packaged MiniLM reads English only: its cosine for a Korean sentence says nothing,
    and the best one (0.43) fell under the floor, so the answer abstained though the Korean
    page gives the flag. A Korean sentence is not embedded and counts as at the floor; the
    floor is not applied when the page the words found best is such a page."""
    question = "how do I make the drift comparison ignore differences in column order"
    sources = [cite(1, DRIFT_KO), cite(2, ROLLBACK_EN)]
    answer = ExtractiveAnswerer(embedder=onnx_embedder).compose(question, sources, lang="en")
    assert not answer.abstained, answer.reason
    assert "`--ignore column-order,index-names`" in answer.text
    assert answer.text.endswith("[1].")
    # closeness is the best cosine of the sentences the embedder read (the English page's),
    # under the floor: the Korean page the words found best answered all the same
    assert answer.closeness is not None and answer.closeness < 0.45


def test_only_foreign_sources_leave_no_meaning_signal(onnx_embedder: OnnxEmbedder) -> None:
    answer = ExtractiveAnswerer(embedder=onnx_embedder).compose(
        "Which flag ignores column order in tidewright drift?", [cite(1, DRIFT_KO)], lang="en"
    )
    assert answer.closeness is None
    assert "`--ignore column-order,index-names`" in answer.text, answer.reason


def test_how_long_a_thing_lives_or_takes_asks_for_a_time_not_a_length() -> None:
    lives = "How long do the monarchs that fly south to Mexico live?"
    assert said_pattern(lives) is DURATION and answer_type(lives) is DURATION
    assert not DURATION.search("a journey of up to about 4,000 kilometres")
    assert DURATION.search("It lives up to eight months")
    assert said_pattern("How long does the backup take?") is DURATION
    assert said_pattern("How long is a token valid?") is DURATION
    # "how long is" a canal or a river may ask either
    assert said_pattern("How long is the Panama Canal?") is LASTING
    assert LASTING.search("about 82 kilometres")


def test_a_named_version_may_sit_in_the_next_cell_of_a_table_row() -> None:
    wanted = answer_type("What's the oldest MariaDB version tidewright works with?")
    assert wanted is not None
    assert wanted.search("MariaDB,10.6,no,GET_LOCK")
    assert wanted.search("| MariaDB | 10.6 | no |")
    assert wanted.search("MariaDB 10.6 or newer")
    assert not wanted.search("macOS 13 or newer, MariaDB too")


def test_a_page_in_another_language_need_only_hold_a_number(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """ "How long ... by default" wants "90 days"; a Korean page writes 90일, a unit the English
    patterns do not read, and the answer abstained though it quoted the right sentence."""
    page = cite(
        1,
        "## tarnhook 로그\n\ntarnhook은 실행 로그(run logs)를 기본(default)으로 90일 동안 "
        "보관합니다. 그보다 오래된 로그는 `tarnhook prune`이 지웁니다.",
    )
    answer = ExtractiveAnswerer(embedder=onnx_embedder).compose(
        "How long does tarnhook keep run logs by default?", [page], lang="en"
    )
    assert not answer.abstained, answer.reason
    assert "90일" in answer.text


def test_what_doing_something_costs_and_an_amount_want_a_sum_of_money() -> None:
    """ "맞는 데 얼마" (what a shot costs) is not answered by "2회 접종"; "하한액" is an amount
    of money, 위액 (gastric juice) is not, and "얼마나 걸려" asks for a time."""
    shot = said_pattern("대상포진 백신 한 번 맞는 데 얼마예요?")
    assert not shot.search("재조합 백신은 2~6개월 간격으로 2회 접종한다.")
    assert shot.search("한 번에 20만 원 안팎이다.")
    floor = said_pattern("실업급여 하루 하한액은 얼마예요?")
    assert floor.search("하루 하한액은 64,192원이다.") and not floor.search("하루 8시간 기준")
    assert said_pattern("소액 재판 청구 금액 한도가 얼마야?").search("3천만 원 이하인 사건")
    assert said_pattern("사람 위액의 pH는 대략 얼마입니까?").search("pH 1.5에서 3.5")
    stamp = said_pattern("소액사건 소장 낼 때 인지대는 얼마 내야 해?")  # a charge: a sum
    assert stamp.search("인지대는 1만 원이다.") and not stamp.search("2주 안에 이의를 신청")
    from rag.pipelines.answer_amounts import MONEY

    assert said_pattern("그 시대는 얼마나 이어졌어?") is not MONEY  # 얼마나: how long, not a sum
    assert said_pattern("주민등록증 새로 나오는 데 얼마나 걸리나요").search("보통 2~3주")
    # an English unit of money is a whole word: no sum in "5 europeans" or "3 centuries"
    assert MONEY.search("Entry is 5 euros.") and MONEY.search("12 dollars, or 10 pounds")
    assert not MONEY.search("5 europeans") and not MONEY.search("over 3 centuries")
    assert not MONEY.search("7 wonders of the world")


def test_a_korean_measure_of_something_else_is_no_answer() -> None:
    """ "탁구 라켓 무게는 몇 g" is not answered by the ball's 2.7g: what is measured (라켓) is
    named neither in the sentence, the one before it nor the title, and the answer declines
    (named in the sentence before, the ball's weight is quoted, for the reader to judge);
    asked of the ball (탁구공, a compound whose first syllables the title names) it answers."""
    from rag.pipelines.subjects import measured_subject

    assert measured_subject("탁구 라켓 무게는 몇 g까지 허용돼?") == "라켓"
    assert measured_subject("울릉도에서 독도까지 거리가 얼마나 돼?") == "독도"
    assert measured_subject("높이는 몇 미터야?") is None
    page = cite(
        1,
        "탁구\n\n탁구는 네트를 사이에 두고 작은 공을 쳐 넘기는 경기다. 공은 지름 40mm, "
        "무게 2.7g의 플라스틱 공을 쓴다.",
        heading=("탁구",),
    )
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    racket = answerer.compose("탁구 라켓 무게는 몇 g까지 허용돼?", [page], lang="ko")
    assert racket.abstained and "라켓" in racket.reason, racket
    ball = answerer.compose("탁구공 무게는 몇 g이야?", [page], lang="ko")
    assert "2.7g" in ball.text, ball
    named = cite(1, page.text.replace("작은 공을", "작은 공을 라켓으로"), heading=("탁구",))
    assert not answerer.compose("탁구 라켓 무게는 몇 g까지 허용돼?", [named], lang="ko").abstained


def test_asked_which_museum_a_sentence_naming_none_is_no_answer() -> None:
    """ "어느 박물관에 있어?" is not answered by what the thing is or that it survives: members of
    such kinds carry the kind in their name (국립고궁박물관), so a sentence naming none declines;
    one naming it answers. Kinds whose members do not (어느 나라: 신라) ask nothing of the sentence."""
    from rag.pipelines.subjects import asked_kind

    assert asked_kind("보물 앙부일구는 지금 어느 박물관에 있어?") == "박물관"
    assert asked_kind("우륵은 어느 나라로 넘어갔어?") is None
    page = cite(
        1,
        "앙부일구\n\n앙부일구는 조선 세종 때 만든 솥 모양의 해시계다. 지금 남아 있는 "
        "앙부일구 가운데 하나는 보물로 지정되어 있다.",
        heading=("앙부일구",),
    )
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    question = "보물 앙부일구는 지금 어느 박물관에 있어?"
    declined = answerer.compose(question, [page], lang="ko")
    assert declined.abstained and "박물관" in declined.reason, declined
    shown = cite(
        1, page.text + " 이 앙부일구는 국립고궁박물관에 전시되어 있다.", heading=("앙부일구",)
    )
    assert "국립고궁박물관" in answerer.compose(question, [shown], lang="ko").text


def test_to_a_why_question_the_next_sentence_giving_the_reason_joins() -> None:
    """ "Acidity matters especially for rye bread." names the topic, not the reason; the sentence
    after it, which says what the acid does, joins. A best sentence giving a reason itself
    ("because ...") is answer enough; what scientists think or believe explains too."""
    candidates = [
        Candidate(0, 0, "Acidity matters especially for rye bread."),
        Candidate(0, 1, "Rye is rich in enzymes, and the acid slows them down, so the crumb sets."),
    ]

    def with_best(question: str, best: str) -> list[int]:
        candidates[0] = Candidate(0, 0, best)
        return joined([0, 1], [1.0, 0.5], candidates, {0: [0, 1]}, question)

    why = "Why do bakers use sourdough for rye bread in particular?"
    assert with_best(why, "Acidity matters especially for rye bread.") == [0, 1]
    assert with_best(why, "Rye needs acid because its enzymes would gum the crumb.") == [0]
    assert with_best("Which bread needs acid most?", "Acidity matters especially for rye.") == [0]
    # an explanation held by those who know ("scientists think") is a reason too
    candidates[1] = Candidate(0, 1, "Most scientists think it exploded in the air.")
    crater = "If something came down at Tunguska, why was there never a crater?"
    assert with_best(crater, "Yet no impact crater was ever found.") == [0, 1]
    candidates[1] = Candidate(0, 1, "흰자의 황과 노른자의 철이 만나 황화철이 생기기 때문이다.")
    egg = "달걀 오래 삶으면 노른자 겉이 왜 초록빛으로 변해요?"
    assert with_best(egg, "15분 넘게 삶으면 노른자 겉이 녹회색으로 변한다.") == [0, 1]


SOURDOUGH = (
    "Sourdough bread is leavened not by packaged baker's yeast but by a starter, a paste of "
    "flour and water colonised by wild yeasts and lactic acid bacteria. The bacteria usually "
    "outnumber the yeasts by about a hundred to one. The starter is fed with fresh flour and "
    "water every day."
)


def test_a_sentence_is_ranked_by_its_meaning_under_its_heading(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """ "The bacteria outnumber the yeasts ..." does not say it is about a starter; read under
    its section's heading it comes closest to a question about a starter's ratio, and the
    answer is that sentence alone. Without a heading the topic sentence leads."""
    question = "roughly what's the ratio of bacteria to yeast in a sourdough starter?"
    answerer = ExtractiveAnswerer(embedder=onnx_embedder)
    headed = answerer.compose(
        question, [cite(1, SOURDOUGH, heading=("Sourdough starters",))], lang="en"
    )
    assert headed.text == "The bacteria usually outnumber the yeasts by about a hundred to one [1]."
    bare = answerer.compose(question, [cite(1, SOURDOUGH)], lang="en")
    assert bare.text.startswith("Sourdough bread is leavened")
    # the gate's closeness is the sentences' own, as the floor was chosen on it
    assert headed.closeness == bare.closeness


def test_a_korean_sentence_pointing_back_takes_the_sentence_it_points_to() -> None:
    """ "그때까지는 어린이집에 보내지 않는다" does not say until when; the sentence before it does.
    이를 닦다 ("brush the teeth") points nowhere."""
    candidates = [
        Candidate(0, 0, "수두에 걸린 아이는 모든 물집에 딱지가 앉을 때까지 병을 옮길 수 있다."),
        Candidate(0, 1, "그때까지는 어린이집이나 학교에 보내지 않는다."),
    ]

    def with_best(best: str, before: float = 0.5) -> list[int]:
        candidates[1] = Candidate(0, 1, best)
        question = "수두 걸린 아이 어린이집은 언제부터 보내도 돼요?"
        return joined([1, 0], [before, 1.0], candidates, {0: [0, 1]}, question)

    assert with_best("그때까지는 어린이집이나 학교에 보내지 않는다.") == [0, 1]
    assert with_best("이를 계기로 널리 퍼졌다.") == [0, 1]
    assert with_best("이를 닦지 않으면 치태가 낀다.") == [1]
    assert with_best("딱지가 모두 앉으면 보내도 된다.") == [1]
    # the sentence before, pointed to and nearly as good, is quoted once
    assert with_best("그때까지는 어린이집이나 학교에 보내지 않는다.", before=0.95) == [0, 1]


THINK = (
    "## Steps\n\nEach step sends one request.\n\n```yaml\nsteps:\n  - get: /cart\n"
    "    think: 800ms\n```\n\n`think` is the pause after a step. It is jittered by ±20% so "
    "that users drift out of lockstep; without it, the next request fires immediately."
)


def test_a_statement_saying_only_what_the_question_says_does_not_answer_it(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """`think: 800ms` holds every word of "... when think is 800ms" and tells nothing new; the
    sentences about `think` answer. To a yes/no question, restating it is the answer."""
    question = "do all users wait exactly 800ms when think is 800ms, or is there some randomness?"
    source = [cite(1, THINK, heading=("Steps",))]
    answer = ExtractiveAnswerer(embedder=onnx_embedder).compose(question, source, lang="en")
    assert "±20%" in answer.text and "`think: 800ms`" not in answer.text
    unweighted = ExtractiveAnswerer(embedder=onnx_embedder, restate_weight=0.0)
    assert unweighted.compose(question, source, lang="en").text == "`think: 800ms` [1]"
    telemetry = cite(
        1,
        "Self-hosted installs make only two kinds of outgoing connection: the daily "
        "exchange-rate fetch and the emails you send. There is no telemetry.",
    )
    whether = ExtractiveAnswerer(embedder=onnx_embedder).compose(
        "Does ledgerline send telemetry?", [telemetry], lang="en"
    )
    assert whether.text.endswith("There is no telemetry [1].")
    # the statements restating a yes/no question are not held back
    assert asks_whether("Does ledgerline send telemetry?")
    assert not asks_whether(question)  # "..., or is there ...?" offers a choice
    assert not asks_whether("펀드도 예금자 보호 대상인가요?")


def test_a_korean_word_close_in_meaning_counts_for_part_of_the_question_term() -> None:
    """Korean has no meaning signal from the packaged embedder; kiwi's morpheme embeddings
    (``related_morphemes``) lend a question term part of its weight where a sentence says it in
    other words: 값 asked, 가격 said. Without them the sentence sharing more of the question's
    words led; with them the one giving the price is the whole answer."""
    page = cite(1, "## 책\n\n이 책은 2010년에 처음 나왔다. 이 책의 가격은 15,000원이다.")
    question = "이 책 값은 얼마예요?"
    tokenize = KeywordTokenizer().tokenize_batch
    word_for_word = ExtractiveAnswerer(tokenize, related=None).compose(question, [page], lang="ko")
    assert word_for_word.text.startswith("이 책은 2010년"), word_for_word
    answer = ExtractiveAnswerer(tokenize).compose(question, [page], lang="ko")
    assert answer.text == "이 책의 가격은 15,000원이다 [1].", answer
    assert answer.coverage > word_for_word.coverage


def test_a_korean_source_saying_it_in_other_words_is_not_abstained_on() -> None:
    """색깔 asked, 빛깔 written: the gate counts the related word for half of the term it stands
    for, and the source covers enough of the question to be quoted."""
    page = cite(1, "## 사진 복원\n\n빛바랜 사진의 빛깔은 스캔한 뒤 보정 프로그램으로 되살린다.")
    question = "오래된 사진 색깔을 되살리는 방법은?"
    tokenize = KeywordTokenizer().tokenize_batch
    word_for_word = ExtractiveAnswerer(tokenize, related=None).compose(question, [page], lang="ko")
    assert word_for_word.abstained, word_for_word
    answer = ExtractiveAnswerer(tokenize).compose(question, [page], lang="ko")
    assert not answer.abstained and "빛깔" in answer.text, answer


def test_related_cover_counts_a_missing_term_at_its_closeness() -> None:
    related = {"값": {"가격": 0.8}}.get

    def lookup(term: str) -> dict[str, float]:
        return related(term) or {}

    weights = {"값": 1.0, "책": 1.0}
    assert related_cover({"값", "책"}, {"책", "가격"}, weights, lookup) == 0.4
    assert related_cover({"값", "책"}, {"값", "책"}, weights, lookup) == 0.0  # nothing missing
    assert related_cover({"값", "책"}, {"책"}, weights, lookup) == 0.0  # nothing close
    assert related_cover({"값"}, {"가격"}, {"값": 0.0}, lookup) == 0.0  # no weight at all


def test_asked_one_of_a_contrasted_pair_the_other_is_no_answer() -> None:
    """ "하루 하한액은?" is not answered by "하루 상한액은 66,000원", nor "동쪽 문" by the north
    gate: the answer declines and says which word the sentences gave instead."""
    from rag.pipelines.subjects import contrasted

    assert contrasted("경복궁 동쪽 문 이름이 뭐야?", "북쪽 담에는 신무문이 나 있다") == (
        "동쪽",
        "북쪽",
    )
    assert contrasted("경복궁 동쪽 문 이름이 뭐야?", "동쪽에는 건춘문이 있다") is None
    assert contrasted("최대 몇 명까지 돼?", "정원은 30명이다") is None  # no contrast given
    _declined_until_stated(
        "실업급여 하루 하한액은 얼마예요?",
        "## 실업급여\n\n구직급여 지급액은 이직 전 평균임금의 60%이다. 하루 상한액은 2025년 "
        "기준 66,000원이다.",
        instead="상한",
        stated=" 하한액은 최저임금의 80%로 정한다.",
        answer="하한액",
    )


def test_asked_one_named_member_the_sources_give_its_sibling() -> None:
    """ "한라급은 몇 kg 이하?" is not answered by "백두급은 140kg 이하", nor 흥보가's length by
    춘향가's: a name of the same length and last syllable stands where the asked one does not."""
    from rag.keywords import proper_compounds
    from rag.pipelines.subjects import sibling

    assert proper_compounds("씨름 한라급은 몇 kg 이하예요?") == {"한라급"}
    assert "쌍둥이자리" in proper_compounds("쌍둥이자리 유성우는 소행성에서 온다")
    assert proper_compounds("What is it?") == frozenset()
    asked = "흥보가를 완창하면 몇 시간 걸려요?"
    for said, given in (
        ("춘향가는 여덟 시간 걸린다", ("흥보가", "춘향가")),
        ("흥보가는 다섯 시간, 춘향가는 여덟 시간 걸린다", None),  # the asked one is there
        ("판소리는 길다", None),  # no sibling given
    ):
        assert sibling(asked, said) == given, said
    assert sibling("재두루미는 천연기념물 몇 호야?", "두루미는 천연기념물 제202호다") == (
        "재두루미",
        "두루미",
    )  # the plain kind given, not the one asked
    assert sibling("재두루미는 몇 호야?", "재두루미는 제203호, 두루미는 제202호다") is None
    _declined_until_stated(
        "씨름 한라급은 몇 kg 이하예요?",
        "## 씨름\n\n체급은 몸무게에 따라 태백, 금강, 한라, 백두로 나뉘며, 백두급은 140kg "
        "이하의 가장 무거운 체급이다.",
        instead="백두급",
        stated=" 한라급은 105kg 이하다.",
        answer="105kg",
    )


def _declined_until_stated(
    question: str, page: str, *, instead: str, stated: str, answer: str
) -> None:
    """A Korean answer from ``page`` declines, its reason naming what the page gives
    ``instead``; with the asked thing ``stated`` too, it quotes the ``answer``."""
    terms = KeywordTokenizer().tokenize_batch
    # name_gate off: a page that never writes the asked name declines at that gate first
    declined = gate_declines(question, [cite(1, page)], lang="ko", terms=terms, name_gate=False)
    assert instead in declined.reason, declined
    told = cite(1, page + stated)
    assert answer in ExtractiveAnswerer(terms).compose(question, [told], lang="ko").text


def test_asked_who_a_best_sentence_saying_he_brings_the_one_naming_him() -> None:
    """Asked who, a best sentence whose person is a pronoun ("그는 ...", "In 1833 he ...")
    brings the sentence before it, which names the person."""
    from rag.pipelines.companions import means_someone_before

    assert means_someone_before("In 1833 he sent ice to Calcutta.")
    assert means_someone_before("그는 겨울에도 실내에서 할 수 있는 운동을 찾았다.")
    assert not means_someone_before("The first game was played in 1891.")
    page = cite(
        1,
        "## 농구\n\n농구는 1891년 미국 매사추세츠주의 체육 교사 제임스 네이스미스가 만들었다. "
        "그는 겨울에도 실내에서 할 수 있는 운동을 찾다가 복숭아 바구니를 난간에 매달아 첫 "
        "경기를 치렀다.",
    )
    answer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch).compose(
        "복숭아 바구니 매달아서 실내 운동 만든 사람 누구야?", [page], lang="ko"
    )
    assert "네이스미스" in answer.text, answer


def test_a_korean_name_no_source_writes_declines() -> None:
    """ "인천공항 어디서 긴급여권 만들어요?" is not answered by a passport page that never writes
    인천공항: the name asked about (``proper_compounds``) is in no source. Spaces, a particle
    kiwi left on the name and a suffix do not count as another name."""
    from rag.pipelines.subjects import unwritten_names

    page = "여권은 구청에서 만든다. 잃어버려 다시 만들 때는 본인이 직접 가야 한다."
    assert unwritten_names("인천공항 어디서 긴급여권 만들어요?", [page]) == ["인천공항"]
    assert unwritten_names("바이칼호 깊이는?", ["바이칼 호는 깊다"]) == []
    assert unwritten_names("병자호란때 인조는 어디 갔어?", ["병자호란 때 인조는 산성에 갔다"]) == []
    assert unwritten_names("함흥냉면집 어디 모여 있어?", ["함흥냉면 가게들이 모여 있다"]) == []
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    question = "여권 잃어버렸을 때 인천공항 어디서 긴급여권 만들어요?"
    declined = answerer.compose(question, [cite(1, page)], lang="ko")
    assert declined.abstained and "인천공항" in declined.reason, declined
    told = cite(1, page + " 인천공항 3층 영사민원센터에서 긴급여권을 만들 수 있다.")
    assert "영사민원센터" in answerer.compose(question, [told], lang="ko").text
