"""Which sentences an extractive answer keeps: table rows, Korean continuations, and the
"when" gate (rag.pipelines.extractive, rag.pipelines.answer_types)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from citation_helpers import cite, joined

from rag.evals.metrics import best_answer_scores
from rag.keywords import KeywordTokenizer
from rag.pipelines.answer_types import (
    CODE_TOKEN,
    NUMBER,
    PATH,
    TIME,
    answer_type,
    said_pattern,
    wants_quantity,
)
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.extractive_rules import Candidate, continues, row_key
from rag.pipelines.statements import fragment, statements, table_header, table_rows, title
from rag.types import Citation, Location

if TYPE_CHECKING:
    from rag.embeddings.onnx import OnnxEmbedder

RELEASES = (
    "version,released,codename,default_port,notes\n"
    '0.9.0,2019-03-14,Acorn,4100,"first release, JPEG only"\n'
    '2.0.0,2021-06-07,Dogwood,4480,"new default port, AVIF output"\n'
    '3.0.0,2023-10-10,Fir,4480,"GIF input removed, needs glibc 2.31"\n'
)
EXIT_CODES = (
    "Exit codes are listed below.\n\n| code | meaning |\n|------|---------|\n"
    "| 0 | every link answered |\n| 3 | the config file could not be read |\n"
)


def test_each_row_of_a_table_is_a_statement_of_its_own() -> None:
    assert statements(RELEASES) == RELEASES.splitlines()[1:]
    assert statements(EXIT_CODES) == [
        "Exit codes are listed below.",
        "| 0 | every link answered |",
        "| 3 | the config file could not be read |",
    ]
    # wrapped prose with the same commas on every line is no table
    prose = ["Gears trade speed, for force, and back, again", "so a rider, on a hill, a"]
    assert table_rows([*prose, "third line, of it, ends, here."]) is None
    verse = [
        "The first thing, the second thing, and the third thing",
        "then another one, a long one too, and more of it",
        "so it goes on, line after line, without a stop",
    ]
    assert table_rows(verse) is None
    # a chunk that starts mid-table: its first line is a row, not a header
    assert table_rows(
        ["0.9.0,2019-03-14,Acorn", "1.0.0,2019-09-02,Birch", "2.0.0,2021,Dogwood"]
    ) == [
        "0.9.0,2019-03-14,Acorn",
        "1.0.0,2019-09-02,Birch",
        "2.0.0,2021,Dogwood",
    ]
    assert table_rows(["| `port` | `8080` |", "| `workers` | `4` |"]) == [
        "| `port` | `8080` |",
        "| `workers` | `4` |",
    ]


def test_a_table_question_is_answered_with_its_row() -> None:
    answer = ExtractiveAnswerer().compose(
        "When was gritmill 2.0.0 released?", [cite(1, RELEASES)], lang="en"
    )
    assert '2.0.0,2021-06-07,Dogwood,4480,"new default port, AVIF output" [1]' in answer.text
    assert "version,released" not in answer.text  # the header is no statement
    # the cells of a row are not glued together when the answer is scored
    assert best_answer_scores(answer.text, ["2021-06-07"])[2] == 1.0
    code = ExtractiveAnswerer().compose(
        "Which exit code means the config file could not be read?", [cite(1, EXIT_CODES)], lang="en"
    )
    assert code.text == "| 3 | the config file could not be read | [1]"


def test_a_korean_sentence_that_carries_on_joins_the_answer() -> None:
    """The next sentence joins when it refers back (이를 ...) or names no subject of its own;
    one that starts a new subject does not (``follow_when="always"`` keeps it anyway)."""
    lease = cite(
        1,
        "전입신고와 확정일자를 갖추면 집이 경매에 넘어가도 보증금을 먼저 돌려받을 수 있다. "
        "이를 우선변제권이라 한다. 집주인은 계약 기간 안에 보증금을 올릴 수 없다.",
    )
    question = "경매 넘어가도 보증금 먼저 받는 권리 이름이 뭐야?"
    answer = ExtractiveAnswerer().compose(question, [lease], lang="ko")
    assert "우선변제권" in answer.text and "집주인은" not in answer.text
    exam = cite(
        1,
        "수능은 대학 입학에 필요한 능력을 평가하는 전국 단위 시험이다. 1994학년도 입시부터 "
        "도입되었다. 시험 과목은 해마다 조금씩 바뀐다.",
    )
    assert (
        "1994학년도"
        in ExtractiveAnswerer().compose("수능은 무슨 시험이야?", [exam], lang="ko").text
    )
    own_subject = cite(
        1,
        "수능은 대학 입학에 필요한 능력을 평가하는 전국 단위 시험이다. 시험 과목은 해마다 "
        "조금씩 바뀐다.",
    )
    alone = ExtractiveAnswerer().compose("수능은 무슨 시험이야?", [own_subject], lang="ko")
    assert alone.text == "수능은 대학 입학에 필요한 능력을 평가하는 전국 단위 시험이다 [1]."
    both = ExtractiveAnswerer(follow_when="always").compose(
        "수능은 무슨 시험이야?", [own_subject], lang="ko"
    )
    assert "시험 과목은" in both.text


def test_a_when_question_accepts_a_relative_time() -> None:
    """ "언제" is answered by 마지막에 or 끓기 전에 as well as by a date; a sentence with no
    time at all still abstains."""
    assert said_pattern("두부는 언제 넣어?") is TIME
    assert said_pattern("When does the tide turn?") is TIME
    assert said_pattern("몇 년에 만들었어?") is not TIME
    assert said_pattern("How many ships?").search("twelve ships sailed")
    stew = cite(
        1,
        "된장찌개는 감자처럼 익는 데 오래 걸리는 재료를 먼저 넣고 두부와 파는 마지막에 "
        "넣는 것이 좋다. 두부는 단단한 부침용보다 찌개용이 부드럽다.",
    )
    when = ExtractiveAnswerer().compose("된장찌개에 두부는 언제 넣는 게 맞나요?", [stew], lang="ko")
    assert not when.abstained and "마지막에" in when.text
    never = ExtractiveAnswerer().compose("찌개용 두부는 언제 처음 팔렸어?", [stew], lang="ko")
    assert never.abstained
    apples = cite(1, "Honeycrisp apples ripen in September in the north orchard.")
    month = ExtractiveAnswerer().compose("When do Honeycrisp apples ripen?", [apples], lang="en")
    assert month.text == "Honeycrisp apples ripen in September in the north orchard [1]."
    pears = cite(1, "Pears ripen in the north orchard and may be picked green.")
    assert ExtractiveAnswerer().compose("When do pears ripen?", [pears], lang="en").abstained


FAQ = (
    "acme FAQ\n\nDoes acme work offline?\nNo. It needs a licence server on first start; after "
    "that it caches the licence\nfor 14 days.\n\nWhere are the logs?\nIn ~/.acme/logs, one file "
    "per day.\n"
)


def test_an_faq_question_is_answered_by_the_lines_after_it() -> None:
    """A question line shares the user's words but says nothing: the answer is what follows
    it, with a one-word reply ("No.") kept at the front of the sentence it opens — unless the
    user asks what rather than whether."""
    assert statements(FAQ) == [
        "Does acme work offline?",
        "No. It needs a licence server on first start; after that it caches the licence for 14 "
        "days.",
        "Where are the logs?",
        "In ~/.acme/logs, one file per day.",
    ]
    answer = ExtractiveAnswerer().compose("Does acme work offline?", [cite(1, FAQ)], lang="en")
    assert answer.text.startswith("No. It needs a licence server")
    assert "?" not in answer.text
    # asked what, not whether: the reply that answers the FAQ's own yes/no question is dropped
    asked_what = ExtractiveAnswerer().compose(
        "What does acme need on its first start?", [cite(1, FAQ)], lang="en"
    )
    assert asked_what.text.startswith("It needs a licence server"), asked_what.text
    ko_faq = cite(
        1, "도움말\n\n인터넷이 필요한가요?\n아니요. 처음 실행할 때만 라이선스 서버에 연결합니다.\n"
    )
    assert (
        ExtractiveAnswerer()
        .compose("처음 실행할 때 무엇에 연결하나요?", [ko_faq], lang="ko")
        .text.startswith("처음 실행할 때만")
    )
    assert (
        ExtractiveAnswerer()
        .compose("처음 실행할 때 인터넷이 필요한가요?", [ko_faq], lang="ko")
        .text.startswith("아니요.")
    )
    question_last = cite(1, "acme FAQ\n\nDoes acme work offline?")
    assert (
        ExtractiveAnswerer()
        .compose("Does acme work offline?", [question_last], lang="en")
        .abstained
    )


def test_an_faq_question_asking_what_the_user_asks_is_answered_by_its_reply(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """Another page's sentence sharing more words ("by default") loses to the reply of an FAQ
    question close in meaning to the user's (the packaged MiniLM's cosine >= 0.8)."""
    root = Path(__file__).resolve().parents[2] / "examples"
    faq = (root / "faq.txt").read_text().split("\n\n")[-1]  # "Which model answers?" + reply
    intro = (root / "getting-started.md").read_text().split("## Install")[0]
    sources = [cite(1, faq), cite(2, intro)]
    question = "Which model answers by default?"
    answer = ExtractiveAnswerer(embedder=onnx_embedder).compose(question, sources, lang="en")
    assert answer.text == "By default SmolLM2-135M-Instruct through llama.cpp [1]."
    # the rule off: the words win, and the answer is about the embedding model
    words = ExtractiveAnswerer(embedder=onnx_embedder, faq_cosine=1.1)
    assert words.compose(question, sources, lang="en").text.startswith("It runs offline")
    # a question the FAQ does not ask alike keeps the word scores
    other = ExtractiveAnswerer(embedder=onnx_embedder).compose(
        "Which vector store is used by default?", sources, lang="en"
    )
    assert "Chroma" in other.text


def test_a_table_row_is_as_close_in_meaning_as_its_first_cell(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """A "how to" table's row embeds far from the question (pipes, paths: cosine 0.34 under
    the 0.35 floor, so the answer abstained); its first cell names what it is about."""
    table = cite(
        1,
        "Where to change what\n\n| to | open |\n|---|---|\n"
        "| add an LLM backend | `rag/llms/<name>.py` implementing `rag/llms/base.py:LLM` "
        "(hosted ones share `rag/llms/_hosted.py`); add it to `rag/llms/__init__.py:make_llm` "
        "and a price in `rag/costs/prices.toml` |\n"
        "| add a vector store | `stores/<name>.py` implementing `stores/base.py:Store`; register "
        "it in `stores/__init__.py:make_store` |\n",
    )
    answer = ExtractiveAnswerer(embedder=onnx_embedder).compose(
        "How do I add a backend?", [table], lang="en"
    )
    assert answer.text.startswith("| add an LLM backend |"), answer.reason
    assert answer.closeness is not None and answer.closeness > 0.6
    assert row_key("| add a vector store | `stores/<name>.py` |") == "add a vector store"
    assert row_key("add a vector store") == "" and row_key("| lone cell |") == ""


def test_a_chunk_opening_mid_table_keeps_its_first_row() -> None:
    """A table row opening a chunk (the table's header is in the chunk before) is a row, not
    the lower-case tail of a cut sentence: it stays a candidate and answers."""
    chunk = (
        "| change the call log or budgets | `rag/costs/calllog.py` (SQLite `CallLog`) |\n"
        "| add a loader | `connectors/<format>.py` |\n"
    )
    assert not fragment("| change the call log or budgets | `rag/costs/calllog.py` |", chunk)
    answer = ExtractiveAnswerer().compose(
        "Which file do I change for the call log?", [cite(1, chunk)], lang="en"
    )
    assert answer.text.startswith("| change the call log or budgets |"), answer.reason


def test_a_second_sentence_from_another_source_must_come_close_in_meaning() -> None:
    """The runner-up joins the best sentence when it scores nearly as well; from another
    source it must also mean what was asked (its cosine at least the floor), or words it
    shares by chance tag an unrelated rule along."""
    candidates = [
        Candidate(0, 0, "The call log is the SQLite file calls.db."),
        Candidate(1, 0, "Per-call facts travel in returned values, never on shared objects."),
        Candidate(0, 1, "It records tokens and cost."),
    ]
    by_source = {0: [0, 2], 1: [1]}

    def with_meaning(meaning: list[float] | None) -> list[int]:
        question = "Where is the call log written?"
        order, scores = [0, 1, 2], [1.0, 0.95, 0.5]
        return joined(order, scores, candidates, by_source, question, meaning=meaning, floor=0.45)

    assert with_meaning([0.7, 0.3, 0.4]) == [0]  # far in meaning: left out
    assert with_meaning([0.7, 0.5, 0.4]) == [0, 1]  # close enough: joins
    assert with_meaning(None) == [0, 1]  # no meaning signal (a language the embedder lacks)


def test_a_short_remark_stays_with_the_sentence_before_it() -> None:
    """ "Default: 50." after a flag's description is that flag's default, not a statement of
    its own: it is quoted with the description, so a question about the default is answered."""
    options = (
        "`--rate N`: requests per second, summed over all workers. Default: 50.\n"
        "`--duration SECONDS`: how long the test runs. Default: 30 seconds.\n"
    )
    assert statements(options) == [
        "`--rate N`: requests per second, summed over all workers. Default: 50.",
        "`--duration SECONDS`: how long the test runs. Default: 30 seconds.",
    ]
    answer = ExtractiveAnswerer().compose(
        "How many requests per second are sent if I give no rate?", [cite(1, options)], lang="en"
    )
    assert answer.text == (
        "`--rate N`: requests per second, summed over all workers. Default: 50 [1]."
    )
    # a short reply after a question line is its answer, not part of the question
    assert statements("Is it free?\nYes, always.") == ["Is it free?", "Yes, always."]


def test_korean_native_numerals_count_as_a_quantity() -> None:
    """여섯 시간, 스물네 자 are quantities (an 얼마 question is answered by them, not abstained
    on); a numeral syllable inside a word (간이과세자) is none."""
    for said in ("여섯 시간에서 여덟 시간", "스물네 자", "수천 년", "세 번", "일곱 가지"):
        assert NUMBER.search(said), said
    for word in ("간이과세자는", "한자로 쓴다", "세자가 되었다", "네모난 상자"):
        assert not NUMBER.search(word), word
    yogurt = cite(
        1, "요구르트는 우유에 유산균을 넣고 40도 안팎에서 발효시킨다. 보통 일곱 시간쯤 둔다."
    )
    answer = ExtractiveAnswerer().compose("요구르트는 얼마나 오래 발효시켜?", [yogurt], lang="ko")
    assert not answer.abstained and "일곱 시간" in answer.text


def test_a_why_question_is_answered_with_the_reason_before_that_is_why() -> None:
    """ "That is why X" / "이 때문에 X" repeats the question; the sentence before it is the
    reason, and joins the answer."""
    roads = cite(
        1,
        "Councils keep lorries ready from November. Salt lowers the freezing point of water, so "
        "ice on a salted road melts even below zero. That is why councils spread salt on roads "
        "in winter.",
    )
    answer = ExtractiveAnswerer().compose(
        "Why do councils spread salt on roads in winter?", [roads], lang="en"
    )
    assert "Salt lowers the freezing point" in answer.text and "lorries" not in answer.text
    typhoon = cite(
        1,
        "태풍은 북반구에서 시계 반대 방향으로 돈다. 그래서 진행 방향의 오른쪽은 바람과 이동 "
        "속도가 더해져 피해가 크다. 이 때문에 오른쪽을 위험 반원이라고 부른다.",
    )
    ko = ExtractiveAnswerer().compose(
        "태풍 오른쪽을 왜 위험 반원이라고 불러?", [typhoon], lang="ko"
    )
    assert "피해가 크다" in ko.text


def test_a_lowercase_sentence_after_a_heading_is_quotable_a_cut_one_is_not() -> None:
    """A chunk boundary may cut a sentence, leaving its lower-case tail first in the chunk;
    a sentence under a title or heading starts a paragraph, whatever its case."""
    assert fragment("logship reads `logship.toml` first.")
    headed = "logship > Configuration\n\n## Configuration\n\nlogship reads `logship.toml` first."
    assert not fragment("logship reads `logship.toml` first.", headed)
    cut = "in some containers. Start brindle with `--poll` there."
    assert fragment("in some containers.", cut)
    assert not fragment("in some containers.", "- in some containers.")  # a list item
    config = cite(1, headed + " It reads `LOGSHIP_` variables after it.")
    answer = ExtractiveAnswerer().compose(
        "Which file does logship read first?", [config], lang="en"
    )
    assert "`logship.toml`" in answer.text and "[1]" in answer.text
    tail = cite(1, "at more than 40 metres a day. The upper ice is brittle.")
    answer = ExtractiveAnswerer().compose("How fast does the ice move?", [tail], lang="en")
    assert "40 metres" not in answer.text  # the tail of a cut sentence is never quoted


def test_a_where_question_prefers_the_sentence_with_a_path() -> None:
    """In documentation "where does X put / keep ..." is answered by a path; a sentence
    holding one wins over one that only shares the question's words."""
    assert answer_type("Where does the install script put the program?") is PATH
    assert answer_type("Which file holds my entries?") is CODE_TOKEN
    assert CODE_TOKEN.search("In ~/.local/share/clockrow/entries.db, a single SQLite file.")
    assert PATH.search("The script copies the binary to ~/.local/bin and never asks.")
    assert not PATH.search("Use red and/or blue paint.")
    install = cite(
        1,
        "## Install\n\nThe install script downloads the program for your system. The script "
        "copies the binary to `~/.local/bin` and never asks for root.",
    )
    answer = ExtractiveAnswerer().compose(
        "Where does the install script put the program?", [install], lang="en"
    )
    assert "~/.local/bin" in answer.text


def test_a_measure_question_prefers_a_number_in_its_unit() -> None:
    """ "How hot" wants degrees, not the first number in sight; the abstention check still
    takes any number (a unit these patterns miss must not silence an answer)."""
    hot = answer_type("How hot does the middle of a compost pile get?")
    assert hot is not None and hot is not NUMBER
    assert hot.search("the middle reaches 65 degrees Celsius") and not hot.search("in two months")
    fast = answer_type("How fast can the glacier move?")
    assert fast is not None and fast.search("at more than 40 metres a day")
    assert answer_type("How many jobs run at once?") is NUMBER
    heap = cite(
        1,
        "The middle of a hot compost heap turns to crumbly soil in about two months. Microbes "
        "push its temperature to 65 degrees Celsius, which kills weed seeds.",
    )
    answer = ExtractiveAnswerer(second_ratio=1.0).compose(
        "How hot does the middle of a compost heap get?", [heap], lang="en"
    )
    assert "65 degrees" in answer.text  # (the number alone: only "two months" was quoted)
    said = ExtractiveAnswerer().compose(
        "How far does the beam reach?",
        [cite(1, "The beam reaches about thirty leagues.")],
        lang="en",
    )
    assert not said.abstained  # a number in a unit the patterns do not know still answers


def test_a_version_question_wants_a_version_number() -> None:
    """ "Which Python version does X need?" asks for a number: a sentence naming only the
    ``--version`` flag does not answer it, one saying "Python 3.9 or later" does."""
    assert wants_quantity("Which Python version does hopline need?")
    assert wants_quantity("Since which gritmill version can it output WebP?")
    assert not wants_quantity("Which flag prints the version?")
    flag = cite(1, "The tool prints its version and exits when run as `hopline --version`.")
    question = "Which Python version does hopline need?"
    assert ExtractiveAnswerer().compose(question, [flag], lang="en").abstained
    needs = cite(1, "The hopline tool needs Python 3.9 or later and runs on Linux and macOS.")
    answer = ExtractiveAnswerer().compose(question, [needs], lang="en")
    assert not answer.abstained and "3.9" in answer.text


def test_a_how_many_question_wants_a_count_not_a_measure() -> None:
    """ "How many times does it retry?" is not answered by "30 seconds" (a measure in another
    unit) nor by a decade; a bare number, a number of the thing asked, or one of the asked
    unit ("6 hours" for how many hours) answers it."""
    retries = said_pattern("How many times does ferrule retry a failed request?")
    assert not retries.search("Default: 30 seconds.") and not retries.search("in the 1980s")
    assert not retries.search("It fails 5% of them.")
    assert retries.search("It retries 3 times.") and retries.search("Default: 5.")
    assert retries.search("it retries twice")
    hours = said_pattern("How many hours does the battery last?")
    assert hours.search("about 6 hours") and hours.search("ten hours on one charge")
    wait = cite(1, "The ferrule client retries a failed request after a wait of 30 seconds.")
    question = "How many times does ferrule retry a failed request?"
    assert not ExtractiveAnswerer(type_gate=False).compose(question, [wait], lang="en").abstained
    assert ExtractiveAnswerer().compose(question, [wait], lang="en").abstained


def test_a_version_a_year_or_a_length_counts_nothing() -> None:
    """ "How many flags can a project hold?" is not answered by "Python 3.9 or later", by a
    release "2.0.0", by "in 1742" or "196 BC", nor by "112 centimetres"; a count beside them
    still answers."""
    flags = said_pattern("How many flags can a single vanefly project hold?")
    assert not flags.search("Install it with pip (Python 3.9 or later).")
    assert not flags.search("Release 2.0.0 came out on 2021-06-07.")
    assert not flags.search("Hunters came in 1742; the decree dates from 196 BC.")
    assert not flags.search("The slab is about 112 centimetres tall and 760 kilograms heavy.")
    assert flags.search("Since version 2.0 a project holds up to 500 flags.")
    assert flags.search("In 1840 there were 300 of them.")
    install = cite(1, "Install vanefly with pip install vanefly (Python 3.9 or later).")
    question = "How many flags can a single vanefly project hold?"
    assert ExtractiveAnswerer().compose(question, [install], lang="en").abstained


def test_a_status_code_is_a_number_of_digits() -> None:
    """ "What status code comes back?" wants "202 Accepted" or "exit status 3", not the "one
    line per job" of a command named `status`: that sentence shared the word and won."""
    wants = answer_type("What status code comes back when I start a run by hand with a POST?")
    assert wants is not None
    assert wants.search("The call returns `202 Accepted` and the new run's id.")
    assert not wants.search("`tarnhook status` prints one line per job: its id and next run.")
    api = cite(
        1,
        "`tarnhook status` prints one line per job: its id, next run and last result. "
        "A POST to `/v1/jobs/NAME/run` starts a run by hand. The call returns `202 Accepted` "
        "and the new run's id.",
    )
    question = "What status code comes back when I start a run by hand with a POST?"
    assert "202" in ExtractiveAnswerer().compose(question, [api], lang="en").text


def test_a_table_header_is_said_by_each_of_its_rows() -> None:
    """A CSV's header names what each row's cells are: "Does CockroachDB get transactional
    DDL?" is answered by the CockroachDB row (under ``transactional_ddl``), which lost to the
    MySQL row whose notes happen to say "DDL" (here they tie, and both are quoted)."""
    assert table_header(
        "docs/db.csv\n\ndatabase,minimum_version,transactional_ddl\na,1,yes\nb,2,no"
    ) == ("database,minimum_version,transactional_ddl")
    assert table_header("| key | meaning |\n|---|---|\n| a | b |") == "| key | meaning |"
    assert table_header("Just prose. No table here.") == ""
    csv_page = cite(
        1,
        "docs/databases.csv\n\n"
        "database,minimum_version,transactional_ddl,lock_method,notes\n"
        'PostgreSQL,12,yes,pg_advisory_lock,"indexes built concurrently need their own file"\n'
        'MySQL,8.0,no,GET_LOCK,"each DDL statement commits implicitly"\n'
        'CockroachDB,23.1,partial,lease row,"schema changes run asynchronously"',
    )
    answer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch).compose(
        "Does CockroachDB get transactional DDL with tidewright?", [csv_page], lang="en"
    )
    assert "CockroachDB,23.1,partial" in answer.text  # alone, the MySQL row won by "DDL"


def test_a_price_question_wants_a_sum_of_money() -> None:
    """ "수수료가 얼마" is not answered by the passport's 10 years; a sum in 원 (or a share, or
    "free") answers it. 값 ("a value") asks for no money."""
    fee = said_pattern("10년짜리 여권 발급 수수료가 얼마예요?")
    assert not fee.search("성인의 일반 여권은 유효기간이 10년이다.")
    assert fee.search("수수료는 5만 3천 원이다.") and fee.search("발급 수수료는 무료다.")
    assert said_pattern("How much is the entry fee?").search("The fee is $12 a person.")
    assert said_pattern("BM25의 값 b는 보통 얼마 써?").search("b는 보통 0.75를 쓴다.")
    passport = cite(1, "성인의 여권 발급은 구청에서 하며, 유효기간은 10년이다.")
    question = "성인 여권 발급 수수료는 얼마예요?"
    ungated = ExtractiveAnswerer(type_gate=False).compose(question, [passport], lang="ko")
    assert not ungated.abstained
    assert ExtractiveAnswerer().compose(question, [passport], lang="ko").abstained


def test_chunks_of_a_document_that_touch_read_as_one() -> None:
    """A record cut into chunks: the best sentence opens a chunk ("그래서 ... 절대 경로로
    적는다"), its reason closes the chunk before it, retrieved second. The reason joins the
    answer, before it (reading order), and the sentence after the last chunk's end does not
    pretend to follow a chunk that does not touch it."""
    first = "cron은 명령을 정해진 시각에 실행한다. cron으로 실행되는 명령은 로그인했을 때와 환경 변수가 다르다."
    then = "그래서 스크립트 안에서는 명령과 파일을 절대 경로로 적는 편이 안전하다."
    far = "crontab -l로 목록을 볼 수 있다."
    question = "cron 스크립트에서 절대 경로 쓰라는 이유가 뭐예요?"
    joined = [
        cite(1, then, record="cron", span=(len(first) + 1, len(first) + 1 + len(then))),
        cite(2, first, record="cron", span=(0, len(first))),
        cite(3, far, record="cron", span=(400, 400 + len(far))),
    ]
    answer = ExtractiveAnswerer().compose(question, joined, lang="ko")
    assert answer.text.splitlines() == [
        "cron으로 실행되는 명령은 로그인했을 때와 환경 변수가 다르다 [2].",
        "그래서 스크립트 안에서는 명령과 파일을 절대 경로로 적는 편이 안전하다 [1].",
    ]
    unplaced = [cite(1, then, record="cron"), cite(2, first, record="cron")]
    alone = ExtractiveAnswerer().compose(question, unplaced, lang="ko")
    assert "환경 변수" not in alone.text, "without spans, chunks stay apart (stored before)"


def _quoted(question: str, text: str) -> str:
    """The default answerer's English answer to ``question`` from one source holding ``text``."""
    return ExtractiveAnswerer().compose(question, [cite(1, text)], lang="en").text


def test_the_default_given_right_after_the_best_sentence_joins_it() -> None:
    """Asked what holds when a setting "is left out", the best sentence names the setting and
    the one after it gives the default: it joins, and the answer does not abstain; when
    neither gives one, it abstains."""
    answer = _quoted(
        "If max_parallel is left out, how many runs can execute at the same time?",
        "`max_parallel` caps how many runs may execute at once across all jobs. When it is not "
        "set, the cap is twice the number of CPU cores. Logs are kept for 90 days.",
    )
    assert "twice the number of CPU cores" in answer and "90 days" not in answer
    unset = "If TOKEN isn't set, where does the client take the API token from?"
    token = "`TOKEN` holds the API token; if it is unset, the client reads `~/.token`."
    assert "~/.token" in _quoted(unset, token)
    other = cite(1, "`TOKEN` holds the API token the client sends. Create one with `new`.")
    assert ExtractiveAnswerer().compose(unset, [other], lang="en").abstained


def test_an_english_sentence_carrying_on_joins_the_best_one() -> None:
    """ "He began to recover, but ... he died" carries on from the sentence naming the
    patient, and "Many species therefore enter torpor" from the danger it follows: each joins
    the best sentence. A sentence opening with another subject does not."""
    story = (
        "The first patient, a police constable named Albert Alexander, was treated in February "
        "1941. He began to recover, but the supply ran out and he died. Large-scale production "
        "came later."
    )
    answer = _quoted("What happened to the first patient treated with penicillin?", story)
    assert "he died" in answer and "Large-scale" not in answer
    assert continues("Many species therefore enter torpor, a state of low energy.")
    assert continues("Its decay acts as a clock, so a finder could work out its age.")
    assert continues("Once it is released, they find nothing pending and exit at once.")
    assert not continues("This page lists the settings.")
    assert not continues("Large-scale production came in the United States.")
    korean_only = ExtractiveAnswerer(follow=frozenset({"ko"})).compose(
        "What happened to the first patient treated with penicillin?", [cite(1, story)], lang="en"
    )
    assert "he died" not in korean_only.text


def test_a_best_sentence_with_a_pronoun_subject_takes_the_one_naming_it() -> None:
    """ "..., it is the smallest living bird" does not say what "it" is; the sentence before
    ("The smallest is the bee hummingbird of Cuba") does, and joins. A pronoun after a
    semicolon's clause is no subject of the sentence."""
    birds = _quoted(
        "What is the smallest living bird in the world?",
        "Hummingbirds live only in the Americas. The smallest is the bee hummingbird of Cuba. "
        "About 5 to 6 centimetres long and weighing under 2 grams, it is the smallest living "
        "bird in the world.",
    )
    assert "bee hummingbird of Cuba" in birds and "Americas" not in birds
    limit = _quoted(
        "Why do uploads fail with a 413 error through the proxy?",
        "Set the proxy address first. Uploads are limited to 25 MB; if uploads fail with a 413 "
        "error, it is usually the proxy's own limit.",
    )
    assert "Set the proxy" not in limit


def test_a_sentence_pointing_back_takes_the_statement_before_it() -> None:
    """ "..., so set this one" does not say which one: the list item before it does."""
    proxy = cite(
        1,
        "## Proxies\n\n- `FERRULE_PROXY`: the proxy every request goes through.\n\n"
        "ferrule deliberately ignores the usual `HTTPS_PROXY`, so set this one instead.",
    )
    answer = ExtractiveAnswerer(second_ratio=1.0).compose(
        "ferrule ignores my HTTPS_PROXY. What should I set instead?", [proxy], lang="en"
    )
    assert answer.text.splitlines()[0].startswith("`FERRULE_PROXY`")
    assert "set this one instead [1]." in answer.text


def chunk_of(number: int, record: str, text: str) -> Citation:
    """A chunk of record ``record`` of one JSONL file."""
    return cite(number, text, record=record)


GOUT_TITLE = chunk_of(
    1,
    "gout",
    "통풍\n\n통풍은 핏속의 요산 결정이 관절에 쌓여 갑작스러운 염증을 일으키는 병이다. "
    "통증은 밤이나 새벽에 찾아오는 일이 많다.",
)
GOUT_DETAIL = chunk_of(
    2,
    "gout",
    "환자의 약 90%가 남성인데, 여성은 폐경 전까지 에스트로겐이 요산 배출을 돕기 때문이다.",
)


def test_a_documents_title_counts_for_each_of_its_sentences() -> None:
    """The record's title names the topic once; the sentence giving the answer need not
    repeat it to beat the sentence that does."""
    answer = ExtractiveAnswerer().compose(
        "통풍 환자는 남성이 얼마나 돼요?", [GOUT_TITLE, GOUT_DETAIL], lang="ko"
    )
    assert not answer.abstained
    assert answer.text.startswith("환자의 약 90%가 남성"), answer.text
    assert title(GOUT_TITLE) == "통풍" and title(GOUT_DETAIL) == ""
    heading = cite(
        1,
        "Vector stores > pgvector\nInstall the extra first.",
        heading=("Vector stores", "pgvector"),
    )
    assert title(heading) == "Vector stores pgvector"


def test_whether_to_abstain_is_judged_on_a_documents_chunks_together() -> None:
    """A chunk after the first carries neither the title nor the topic: judged alone it
    covers too little of the question it answers; with its document's other chunk, enough."""
    question = "통풍 환자 중에 남성 비율이 얼마야?"
    other_record = chunk_of(1, "tea", "통풍이 잘되는 곳에 찻잎을 말린다.")
    alone = ExtractiveAnswerer().compose(question, [GOUT_DETAIL, other_record], lang="ko")
    together = ExtractiveAnswerer().compose(question, [GOUT_DETAIL, GOUT_TITLE], lang="ko")
    assert alone.abstained and alone.coverage < together.coverage
    assert not together.abstained and "90%" in together.text


def test_how_many_seconds_wants_seconds_and_how_long_a_duration() -> None:
    """ "After how many seconds" is not answered by exit statuses 0, 1 and 2, nor "how long
    did he boil them" by the year 1810."""
    seconds = said_pattern("After how many seconds does palebrook give up on a page?")
    assert not seconds.search("Exit status is 0 when every page matches, 1 when one differs.")
    assert seconds.search("It gives up after 30 s.") and seconds.search("after 45 seconds")
    lasting = said_pattern("How long did Appert boil his sealed bottles?")
    assert not lasting.search("Appert received the prize in 1810.")
    assert lasting.search("He boiled them for five hours.") and lasting.search("about an hour")
    assert said_pattern("How long is the bridge?").search("It is 1,280 metres long.")
    assert said_pattern("How many retries are there?").search("It retries 5 times.")
    boiled = cite(1, "Appert sealed food in bottles and heated them. He won the prize in 1810.")
    question = "How long did Appert heat the sealed bottles of food?"
    assert not ExtractiveAnswerer(type_gate=False).compose(question, [boiled], lang="en").abstained
    assert ExtractiveAnswerer().compose(question, [boiled], lang="en").abstained


def test_korean_counters_written_another_way() -> None:
    """몇 장 is answered by 3부 (copies of a document), 몇 글자 by 한 글자, 몇 제곱킬로미터 by an
    area, not a depth."""
    assert said_pattern("같은 문서를 몇 장 뽑아 가야 돼?").search("같은 문서를 3부 준비해 낸다.")
    assert said_pattern("?는 몇 글자랑 매칭돼요?").search("`?`는 정확히 한 글자를 뜻한다.")
    assert not said_pattern("한글 한 글자는 몇 바이트예요?").search("1992년에 고안됐다.")
    area = said_pattern("바이칼 호 면적은 몇 제곱킬로미터야?")
    assert area.search("면적은 3만 1,500제곱킬로미터다.") and not area.search("수심은 1,642m다.")


def test_a_line_holding_the_whole_question_is_no_answer() -> None:
    """An example command that quotes the question (``rag ask "...?"``) repeats what was
    asked: neither it nor its source's other lines answer; the explanation does."""
    example = cite(
        1, '## 예시\n\n```bash\nrag ingest ./문서\nrag ask "형태소 분석이 왜 필요한가요?"\n```'
    )
    reason = cite(
        2,
        "## 형태소와 조사\n\n띄어쓰기 단위로만 자르면 검색 품질이 떨어집니다. 형태소 분석기는 "
        "어절을 어간과 조사로 나누어 이 문제를 줄입니다.",
    )
    answer = ExtractiveAnswerer().compose(
        "형태소 분석이 왜 필요한가요?", [example, reason], lang="ko"
    )
    assert "rag " not in answer.text and "[2]" in answer.text, answer.text


def test_a_sections_heading_is_its_own_not_its_neighbours() -> None:
    """In one Markdown file every section has its own heading: "pgvector" is the topic of
    the pgvector section's sentences, not of the Memory section's, and the gate weighs terms
    by what the sentences themselves say (one file uploaded alone still answers)."""

    def section(number: int, heading: str, text: str) -> Citation:
        path = ("Vector stores", heading)
        return Citation(
            number=number,
            source="/docs/stores.md",
            location=Location(heading_path=path),
            chunk_id=f"s{number}",
            text=f"{' > '.join(path)}\n## {heading}\n\n{text}",
            score=1.0,
        )

    pg = section(
        1,
        "pgvector",
        "PostgreSQL with the pgvector extension suits teams that already run PostgreSQL and "
        "want SQL access to their chunks. Install the extra first:\n\n"
        "```bash\npip install 'rag[pgvector]'\n```\n\n"
        "Point rag at a database with a DSN, on the command line or in the environment:\n\n"
        "```bash\nrag ingest ./docs --store pgvector --dsn postgresql://u@localhost:5432/rag\n"
        "export RAG_PG_DSN=postgresql://u@localhost:5432/rag\n```",
    )
    server = section(
        2,
        "pgvector",
        "No PostgreSQL at hand? `rag db start` creates and starts a local PostgreSQL server "
        "with pgvector. While `pg_dsn` is unset, `--store pgvector` uses that server.",
    )
    memory = section(
        3,
        "Memory",
        "`--store memory` keeps everything in process memory. It is meant for tests and "
        "experiments: nothing survives the process.",
    )
    collections = section(
        4,
        "Collections",
        "Each store holds named collections (`--collection`, default `default`). Ingest "
        "different document sets into different collections and ask each separately.",
    )
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    sections = [pg, server, memory, collections]
    answer = answerer.compose("How do I switch to pgvector?", sections, lang="en")
    assert not answer.abstained and answer.coverage >= 0.25, answer
    assert "--store pgvector" in answer.text


def test_a_chunk_cut_inside_a_code_block_is_read_as_such() -> None:
    """A chunk that ends inside a code block (its one fence opens ```toml, or a heading comes
    before it) starts in prose; one that starts inside a block closes it with a bare fence."""
    ends_inside = (
        "## Settings\n\nIt reads `app.toml` first. Then it reads the environment.\n\n"
        "```toml\n[books]\nport = 8640\n"
    )
    assert statements(ends_inside)[0] == "It reads `app.toml` first."
    starts_inside = "port = 8640\nbind = localhost\n```\n\nA flag always beats the file."
    assert statements(starts_inside) == [
        "`port = 8640`",
        "`bind = localhost`",
        "A flag always beats the file.",
    ]


def test_a_records_fields_are_one_statement_it_can_quote() -> None:
    """A CSV row or a JSON object is loaded as ``field: value`` lines (``examples/models.csv``).
    Its opening "backend: ..." starts in lower case, so it was dropped as the cut tail of a
    sentence and "What do I install for Anthropic?" had nothing to quote. Each field line is
    now a statement of its own, as each row of a table is: the answer is the field asked."""
    from rag.keywords import KeywordTokenizer

    def row(number: int, backend: str, spec: str, extra: str) -> Citation:
        text = f"backend: {backend}\nspec: {spec}\nkey: {backend.upper()}_API_KEY\ninstall: {extra}"
        return cite(number, text, record=str(number))

    anthropic = row(1, "Anthropic", "anthropic:MODEL", "pip install 'rag[anthropic]'")
    local = row(2, "llama.cpp", "local", "pip install 'rag[local]'")
    assert statements(anthropic.text) == [
        "backend: Anthropic",
        "spec: anthropic:MODEL",
        "key: ANTHROPIC_API_KEY",
        "install: pip install 'rag[anthropic]'",
    ]
    answer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch).compose(
        "What do I install for Anthropic?", [anthropic, local], lang="en"
    )
    assert answer.text == "install: pip install 'rag[anthropic]' [1]", answer.text
    # prose that merely opens with a word and a colon is not taken for fields
    assert statements("Note: the index is rebuilt.\nIt takes a minute.") == [
        "Note: the index is rebuilt.",
        "It takes a minute.",
    ]
