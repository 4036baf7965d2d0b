"""Which sentences an extractive answer keeps: Korean and English continuations, FAQ replies,
reasons, remarks, defaults, pronouns, titles and chunks read together (rag.pipelines.extractive)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from citation_helpers import answer_from, cite, joined

from rag.keywords import KeywordTokenizer
from rag.pipelines.companions import continues
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.extractive_rules import Candidate
from rag.pipelines.statements import fragment, statements, title
from rag.types import Citation, Location

if TYPE_CHECKING:
    from rag.embeddings.onnx import OnnxEmbedder


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
    ("The smallest is the bee hummingbird of Cuba") does, and joins; so does the list item
    naming what "If it is unset, ..." is about. A pronoun after a semicolon's clause is no
    subject of the sentence."""
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
    unset = _quoted(
        "Everybody gets logged out whenever I restart it. Why?",
        "Variables without a key in the file:\n\n- `WREN_LOG_FORMAT` is `text` or `json`.\n"
        "- `WREN_SECRET_KEY` signs web sessions. If it is unset, a random key is made at start, "
        "so everyone is logged out on each restart.",
    )
    assert "`WREN_SECRET_KEY`" in unset, unset
    # "this file" is what the sentence before names
    ignore = _quoted(
        "which file lets one host skip some files, in a way every machine shares?",
        "Yes. List them in `.quillignore` at the top of the repository, one glob per line. "
        "Unlike `skip` in the settings file, this file is committed and shared by every machine.",
    )
    assert "`.quillignore`" in ignore, ignore


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


def _point_back(*cases: tuple[str, bool]) -> None:
    """Each sentence points back (``POINTS_BACK``) or not, as its case says."""
    from rag.pipelines.companions import POINTS_BACK

    for sentence, points in cases:
        assert bool(POINTS_BACK.search(sentence)) is points, sentence


def test_that_after_a_verb_or_preposition_points_back() -> None:
    """ "`--store pgvector` uses that server" does not say which server: the sentence before
    does. "that" as a conjunction ("so that the", "to that it") points nowhere."""
    _point_back(
        ("While `pg_dsn` is unset, `--store pgvector` uses that server.", True),
        ("and its path relative to that root", True),
        ("It checks so that the store is never left half-written.", False),
        ("Note that the file is read once.", False),
    )
    answer = answer_from(
        "if pg_dsn isn't set, what does --store pgvector connect to?",
        "## pgvector\n\n`rag db start` runs a local PostgreSQL server with pgvector on port "
        "5433. While `pg_dsn` is unset, `--store pgvector` uses that server.",
    )
    assert "local PostgreSQL server" in answer.text and "uses that server [1]." in answer.text


def test_then_such_and_therefore_point_back() -> None:
    """ "The job then ends with exit code 137" does not say what ends it, "Such eruptions" which
    ones, "... therefore steps 230 volts down" by what rule: the sentence before does. "then"
    deep in a sentence ("If it fails, then ...") opens no reference."""
    _point_back(
        ("The job then ends with exit code 137.", True),
        ("He then made hollow wooden cylinders.", True),
        ("Then take a snapshot of your home directory:", True),
        ("Such explosive eruptions can send pyroclastic flows down the slopes.", True),
        ("A primary of 1,000 turns and a secondary of 50 turns therefore steps it down.", True),
        ("If the file is missing, the command then exits with status 2.", False),
        ("The job ends with exit code 137.", False),
    )
    answer = answer_from(
        "my job ended with exit code 137, what happened?",
        "A step that runs out of memory is killed by the kernel. "
        "The job then ends with exit code 137. Logs are kept for a week.",
    )
    assert "runs out of memory" in answer.text and "137" in answer.text, answer


def test_a_records_long_title_line_is_no_answer() -> None:
    """A record's title line ("Why a door handle gives you a static shock", followed by a blank
    line) names the topic; it is not quoted, however many of the question's words it holds."""
    from rag.pipelines.statements import opening_title

    text = (
        "Why a door handle gives you a static shock\n\n"
        "Dry winter air lets charge build up on your body as you walk. "
        "The spark jumps when your finger nears the metal."
    )
    assert opening_title(text) == "Why a door handle gives you a static shock"
    assert opening_title("One sentence here.\n\nAnother.") == ""
    assert opening_title("no blank line after\nthe first") == ""
    answer = ExtractiveAnswerer().compose(
        "why does a door handle give you a static shock?", [cite(1, text)], lang="en"
    )
    assert "Why a door handle" not in answer.text, answer
    assert not answer.abstained, answer


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


def test_a_yes_no_question_is_not_answered_by_a_bare_line_of_code() -> None:
    """ "Does importing rag also import LlamaIndex?" is answered by the sentence saying it
    never does, not by the import line of an example, which says neither yes nor no."""
    page = cite(
        1,
        "Python > LlamaIndex\n\nUse rag's index from LlamaIndex:\n\n```python\n"
        "from rag.integrations.llamaindex import RagRetriever\n```\n\n"
        "Install it with `pip install 'rag[llamaindex]'`; importing `rag` never imports "
        "LlamaIndex.",
    )
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, second_ratio=1.0)
    answer = answerer.compose("Does importing rag also import LlamaIndex?", [page], lang="en")
    assert answer.text.startswith("Install it with"), answer.text


def test_a_belief_is_quoted_with_the_sentence_correcting_it() -> None:
    """ "..., so most people assume it has simply lost water" says what is not so; the next
    sentence ("In fact ...") corrects it, and joins. A plain statement reports no belief, and
    only an opening "In fact" corrects."""
    page = (
        "Stale biscuits feel soft, so most people assume they have simply soaked up water. "
        "In fact the starch inside them slowly changes its structure as it cools. "
        "Warming them for a few minutes undoes some of the change."
    )
    answer = answer_from("do biscuits go soft just because they soak up water?", page)
    assert "most people assume" in answer.text, answer
    assert "starch inside them slowly changes" in answer.text, answer
    from rag.pipelines.companions import _BELIEVED, _CORRECTS

    assert not _BELIEVED.search("Biscuits go soft as the starch absorbs moisture.")
    assert _BELIEVED.search("It is often said that bats are blind.")
    assert _CORRECTS.match("In fact a sealed tin keeps them crisp.")
    assert not _CORRECTS.match("A sealed tin, in fact, keeps them crisp.")
