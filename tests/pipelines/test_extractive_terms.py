"""Terms and answer types of the extractive answerer: a name and its longer form, a named
version, a size in bytes, a default, a title's bigrams (rag.pipelines.extractive,
answer_types)."""

from __future__ import annotations

from citation_helpers import cite, gate_declines

from rag.keywords import KeywordTokenizer
from rag.pipelines.answer_amounts import NUMBER
from rag.pipelines.answer_specs import version_of
from rag.pipelines.answer_types import answer_type, wants_quantity
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.extractive_rules import with_prefixes
from rag.pipelines.prompt import simple_terms


def test_a_name_matches_its_longer_form() -> None:
    """ "postgres" in a question is "PostgreSQL" in the docs: no stemmer joins them, a shared
    beginning of five letters or more does (either way round); short words do not."""
    terms = KeywordTokenizer().tokenize_batch
    question, said = terms(["minimum postgres version", "PostgreSQL 13 or newer"])
    q = set(question)
    assert "postgr" in with_prefixes(q, said)
    assert "configuration" in with_prefixes({"configuration"}, ["config"])
    assert with_prefixes({"set"}, ["settings"]) == ["settings"]  # too short to tell
    assert with_prefixes({"서버"}, ["서버실"]) == ["서버실"]  # Latin names only
    storage = cite(
        1,
        "Out of the box the books live in one SQLite file, which suits a single user. "
        "For larger teams, the books can live in PostgreSQL instead.",
    )
    answer = ExtractiveAnswerer(terms, second_ratio=1.0).compose(
        "Can the books live in Postgres?", [storage], lang="en"
    )
    assert answer.text.startswith("For larger teams"), answer.text


def test_a_named_version_wants_that_name_and_a_number() -> None:
    """ "Which Python version ... with pipx?" is not answered by "macOS 12 or newer" beside
    "Python package": the sentence with "Python 3.10" joins. "Minimum X version", "version of
    X" ask for a number too."""
    assert wants_quantity("minimum sqlite version")
    assert wants_quantity("What version of Python does it need?")
    assert wants_quantity("What's the most reminders a client can get?")
    pattern = version_of("minimum postgres version for ledgerline?")
    assert pattern is not None and pattern.search("ledgerline can use PostgreSQL 13 or newer")
    assert not pattern.search("the same major version as the server 13")
    assert version_of("Which version added WebP?") is None
    added = answer_type("Which version added WebP?")  # names no product: a release number
    assert added is not None and added is not NUMBER
    assert added.search("WebP came in 1.5") and not added.search("up to 16 MB")
    install = cite(
        1,
        "You can get ledgerline as a static binary for macOS 12 or newer, or as a Python package "
        "for people who use pipx. The package runs on Python 3.10 or later.",
    )
    answer = ExtractiveAnswerer(second_ratio=1.0).compose(
        "Which Python version do I need if I install ledgerline with pipx?", [install], lang="en"
    )
    assert "3.10" in answer.text, answer.text


def test_how_much_memory_wants_a_size_in_bytes() -> None:
    """ "How much RAM" is answered by "60 MB", not by the first number in sight."""
    size = answer_type("How much RAM does the web server need?")
    assert size is not None and size.search("about 60 MB of memory")
    assert not size.search("a pool of 10 connections")
    server = cite(
        1,
        "The web server opens a pool of 10 connections by default. "
        "With two workers it needs about 60 MB of memory.",
    )
    answer = ExtractiveAnswerer(second_ratio=1.0).compose(
        "How much RAM does the web server need?", [server], lang="en"
    )
    assert "60 MB" in answer.text and "pool" not in answer.text, answer.text


def test_the_largest_file_wants_a_size_in_bytes_or_declines() -> None:
    """ "Is there a maximum size for one migration file?" is answered by "larger than 4 MiB", not
    by "kept in one folder"; a page that gives no size in bytes declines (the question's
    "one" would be any number's match)."""
    from rag.pipelines.answer_types import said_pattern

    asked = "Is there a maximum size for one migration file?"
    size = answer_type(asked)
    assert size is not None and size.search("anything larger than 4 MiB")
    assert not said_pattern(asked).search("kept in one folder")
    assert answer_type("What is the maximum size of a blue whale?") is not size  # not bytes
    folder = "Migrations are plain SQL files kept in one folder, `db/migrations`. "
    limit = "tidewright refuses a file larger than 4 MiB, so split bulk loads."
    answerer = ExtractiveAnswerer(second_ratio=1.0)
    answer = answerer.compose(asked, [cite(1, folder + limit)], lang="en")
    assert answer.text.startswith("tidewright refuses"), answer.text
    assert answerer.compose(asked, [cite(1, folder)], lang="en").abstained


def test_asked_for_a_maximum_an_example_value_is_no_answer() -> None:
    """ "What's the maximum number of workers?" over a page whose only number of workers is an
    example command (``--workers 4``) declines; a page stating a bound ("up to 16 workers")
    answers. "most of the prize money" asks for no bound."""
    from rag.pipelines.answer_types import asks_bound

    assert asks_bound("What is the highest value that max_parallel accepts?")
    assert not asks_bound("How old was Harrison when he got most of the prize money?")
    assert not asks_bound("How many tax codes can I define?")
    asked = "What's the maximum number of workers I can give ledgerline serve?"
    serve = "Serving\n\nStart the web server with several workers:\n\n"
    example = "```sh\nledgerline serve --db books.db --workers 4\n```"
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    declined = answerer.compose(asked, [cite(1, serve + example)], lang="en")
    assert declined.abstained and declined.reason == "the closest sentences give no limit"
    bound = serve + example + "\n\nledgerline serve accepts up to 16 workers."
    answer = answerer.compose(asked, [cite(1, bound)], lang="en")
    assert "up to 16 workers" in answer.text, answer.text


def test_a_table_column_written_in_snake_case_states_a_maximum() -> None:
    """A CSV whose column is ``max_upload_threads`` states the maximum in each row's cell;
    a setting named ``max_parallel = 8`` in a sentence states no bound on its own values."""
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    table = cite(
        1,
        "docs/targets.csv\n\nname,url_scheme,max_upload_threads,notes\n"
        "SFTP,sftp://host/path,8,needs an OpenSSH server\n"
        "Amazon S3,s3://bucket/prefix,64,set AWS_REGION",
    )
    answer = answerer.compose("max number of upload threads over sftp?", [table], lang="en")
    assert not answer.abstained and "8" in answer.text, answer.text
    setting = cite(1, "Scheduler\n\nJobs run side by side:\n\n`max_parallel = 8`")
    asked = "What is the highest value that max_parallel accepts?"
    declined = answerer.compose(asked, [setting], lang="en")
    assert declined.abstained and declined.reason == "the closest sentences give no limit"


def test_a_titles_bigrams_count_for_each_of_its_sentences() -> None:
    """Korean without a meaning signal also scores the question's character bigrams; the
    record's title lends its bigrams to every sentence, as it lends its terms, so the sentence
    naming the topic no longer wins a question about a detail."""
    fortress = cite(
        1,
        "수원 화성\n\n수원 화성은 조선 제22대 왕 정조가 아버지 사도세자의 무덤을 수원의 화산으로 "
        "옮긴 뒤, 그 곁에 새 도시를 일으키려고 쌓은 성곽이다. 1794년 1월에 공사를 시작해 "
        "1796년 9월에 마쳤으니 2년 9개월 남짓 걸린 셈이다.",
        record="hwaseong",
    )
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, second_ratio=1.0, follow=False)
    answer = answerer.compose("화성 쌓는 데 실제로 얼마나 걸렸어요?", [fortress], lang="ko")
    assert "2년 9개월" in answer.text, answer.text


def test_the_fallback_terms_keep_a_version_number_whole() -> None:
    assert simple_terms(["When was gritmill 2.0.0 released?"]) == [
        ["when", "was", "gritmill", "2.0.0", "released"]
    ]


def test_korean_questions_name_what_kind_of_quantity() -> None:
    """언제까지 wants "X까지", 얼마나 걸려 a duration, 길이가 어느 정도 a length: "제22대" or
    "1~2마리" beside the topic is no answer to them."""
    until = answer_type("반달가슴곰은 겨울잠을 언제까지 자나요?")
    assert until is not None and until.search("이듬해 3~4월까지 겨울잠을 잔다")
    assert not until.search("겨울잠을 자는 동안 새끼를 1~2마리 낳는다")
    lasting = answer_type("화성 쌓는 데 실제로 얼마나 걸렸어요?")
    assert lasting is not None and lasting.search("2년 9개월 남짓으로 줄였다")
    assert not lasting.search("조선 제22대 왕 정조가 쌓은 성곽")
    length = answer_type("수원 화성 성곽 한 바퀴 길이가 어느 정도야")
    assert length is not None and length.search("성벽 둘레는 약 5.7km이고")
    assert not length.search("1794년 1월에 시작해")
    assert not wants_quantity("수원 화성 성곽 한 바퀴 길이가 어느 정도야")  # the gate is unchanged
    bear = cite(
        1,
        "반달가슴곰\n\n암컷은 겨울잠을 자는 동안 새끼를 1~2마리 낳는다. 봄에는 새순을 먹으며, "
        "12월 무렵부터 이듬해 3~4월까지 바위굴에서 겨울잠을 잔다.",
        record="bear",
    )
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, second_ratio=1.0, follow=False)
    answer = answerer.compose("반달가슴곰은 겨울잠을 언제까지 자나요?", [bear], lang="ko")
    assert "3~4월까지" in answer.text and "1~2마리" not in answer.text, answer.text


def test_a_korean_question_naming_what_no_source_writes_abstains() -> None:
    """ "UTF-16" asked about, only UTF-8 in the sources: they do not cover it. Short words
    (DB, vs) and units (kcal) are no names; English questions are left to the other gates."""
    from rag.pipelines.extractive_rules import missing_names

    utf8 = cite(1, "UTF-8은 한 글자를 1~4바이트로 나타내며, 한글 한 글자는 3바이트다.")
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    asked = answerer.compose("UTF-16에서는 한글 한 글자가 몇 바이트야?", [utf8], lang="ko")
    assert asked.abstained
    named = answerer.compose("UTF-8에서 한글 한 글자는 몇 바이트예요?", [utf8], lang="ko")
    assert not named.abstained and "3바이트" in named.text
    assert (
        not ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, name_gate=False)
        .compose("UTF-16에서는 한글 한 글자가 몇 바이트야?", [utf8], lang="ko")
        .abstained
    )
    assert missing_names("KTX vs SRT, 더 빠른 쪽?", ["KTX는 시속 300km"]) == ["SRT"]
    assert missing_names("벡터 DB를 따로 두면?", ["벡터"]) == []
    assert missing_names("하루 몇 kcal 먹어?", ["하루"]) == []
    assert missing_names("Is there a Homebrew formula?", ["pipx"]) == []


def test_no_sentence_ends_at_an_abbreviation_or_an_initial() -> None:
    """ "Linus Yale Sr. in 1848 ..." was quoted from "in 1848" on; "J. R. R. Tolkien" lost the
    initials. A lower-case word after Sr., e.g., vs. and a capital after an initial or a title
    or place word (Dr., St.) go on with the sentence; a sentence that ends does not."""
    from rag.pipelines.grounding import split_claims
    from rag.pipelines.prompt import split_sentences
    from rag.pipelines.statements import statements

    assert statements(
        "The lock was developed by Linus Yale Sr. in 1848 and improved by his son. "
        "J. R. R. Tolkien wrote about it, e.g. in a letter from 1937."
    ) == [
        "The lock was developed by Linus Yale Sr. in 1848 and improved by his son.",
        "J. R. R. Tolkien wrote about it, e.g. in a letter from 1937.",
    ]
    # the answer's claims and the prompt's sentences are split alike, so a quoted sentence
    # keeps its one marker and counts as supported
    answer = "The lock was made by Linus Yale Sr. in 1848 [1]. His son patented a smaller key [1]."
    assert split_claims(answer) == [
        "The lock was made by Linus Yale Sr. in 1848 [1].",
        "His son patented a smaller key [1].",
    ]
    assert [s.strip() for s in split_sentences(answer)] == split_claims(answer)
    assert statements("It runs on the Mac. ledgerline reads its settings from one file.") == [
        "It runs on the Mac.",
        "ledgerline reads its settings from one file.",
    ]
    # a title or place word before a name: "near St. Louis, on 14 May 1804" is one sentence
    assert statements("The party left near St. Louis on 14 May. Dr. Watson came.") == [
        "The party left near St. Louis on 14 May.",
        "Dr. Watson came.",
    ]


def test_a_placeholder_ends_no_sentence_and_closing_quotes_stay() -> None:
    """ "How do I see what was sent to the model?" on ``examples/faq.txt`` was answered
    ``rag ask " [1]...``: the statement stopped at the placeholder ``"..."`` and lost its
    closing quote. An ellipsis ends a sentence only before a capital, and a sentence keeps
    the quote or bracket after its full stop, in the statements and in the answer's claims
    alike (so the support check sees what was quoted)."""
    from rag.pipelines.grounding import attach_markers, split_claims
    from rag.pipelines.prompt import split_sentences
    from rag.pipelines.statements import statements

    faq = (
        "How do I see what was sent to the model?\n"
        'rag ask "..." --show-prompt prints the exact prompt, and every call is logged with its\n'
        "tokens and cost; rag costs summarises the log.\n"
    )
    quoted = (
        'rag ask "..." --show-prompt prints the exact prompt, and every call is logged with its '
        "tokens and cost; rag costs summarises the log."
    )
    assert statements(faq) == ["How do I see what was sent to the model?", quoted]
    answer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch).compose(
        "How do I see what was sent to the model?", [cite(1, faq)], lang="en"
    )
    assert answer.text == quoted[:-1] + " [1].", answer.text
    prose = (
        "Keep the copy next to the database (see Backups.) The archive is written in one pass. "
        'The operator said "stop the server now." Then every worker process stopped... '
        "Nothing that the books held was lost."
    )
    sentences = [
        "Keep the copy next to the database (see Backups.)",
        "The archive is written in one pass.",
        'The operator said "stop the server now."',
        "Then every worker process stopped...",
        "Nothing that the books held was lost.",
    ]
    assert statements(prose) == sentences
    assert [s.strip() for s in split_sentences(prose)] == sentences
    cited = " ".join(attach_markers(s, [1]) for s in sentences)
    assert split_claims(cited) == [attach_markers(s, [1]) for s in sentences]
    assert attach_markers(sentences[3], [1]) == "Then every worker process stopped... [1]"
    # a quoted question goes on before a lower-case word; an FAQ's question line does not
    quoted_question = (
        'A question naming a document ("Which port does logship use?" is one) is ranked '
        "down. Why was a file skipped?\nrag only reads files it has a loader for."
    )
    said = [
        'A question naming a document ("Which port does logship use?" is one) is ranked down.',
        "Why was a file skipped?",
        "rag only reads files it has a loader for.",
    ]
    assert statements(quoted_question) == said
    assert split_claims(quoted_question) == said


def test_a_name_written_as_code_in_the_question_is_matched_letter_for_letter() -> None:
    """ "--encrypt" asked about: the sentence about the flag beats the one that only says
    "encrypt" in prose (both stem alike)."""
    from rag.pipelines.answer_types import code_names

    assert code_names("Is `rag ask` slow if due_days and HTTPS_PROXY are set in a.toml?") == {
        "rag ask",
        "due_days",
        "HTTPS_PROXY",
        "a.toml",
    }
    assert code_names("정규식에서 . 하나는? Is a well-known e-mail fine?") == set()
    backups = cite(
        1,
        "Backups\n\nThe passphrase used to encrypt backups is read from LEDGERLINE_PASSPHRASE, so "
        "you run the backup without typing it. `--encrypt` protects the archive with the "
        "passphrase; if it is empty, the command stops.",
    )
    question = "What happens if I run backup with --encrypt but forgot to set the passphrase?"
    terms = KeywordTokenizer().tokenize_batch
    answer = ExtractiveAnswerer(terms, second_ratio=1.0).compose(question, [backups], lang="en")
    assert answer.text.startswith("`--encrypt` protects"), answer.text
    plain = ExtractiveAnswerer(terms, second_ratio=1.0, code_weight=0.0)
    assert not plain.compose(question, [backups], lang="en").text.startswith("`--encrypt`")


def test_a_question_naming_a_document_is_answered_from_it() -> None:
    """ "Which port does logship listen on?" is not answered by another tool's port: a
    document's one-word name in the question (``statements.name``) must be in the document the
    sentence comes from; a title of several words names no document."""
    from rag.pipelines.statements import name

    assert name(cite(1, "x", heading=("logship", "Configuration"))) == "logship"
    assert name(cite(1, "Volcanoes\n\nA volcano forms ...")) == "Volcanoes"
    assert name(cite(1, "x", heading=("The water cycle",))) == ""
    logship = cite(
        1,
        "The logship server tails the files listed in logship.toml and ships each new line "
        "to the collector named there. It listens for agents on the port set in that file.",
        heading=("logship", "Configuration"),
    )
    vanefly = cite(
        2,
        "The vanefly server listens on port 7311 and reloads its flags when the file changes.",
        heading=("vanefly", "Quick start"),
    )
    question = "Which port does the logship server listen on?"
    terms = KeywordTokenizer().tokenize_batch
    answer = ExtractiveAnswerer(terms, second_ratio=1.0).compose(
        question, [logship, vanefly], lang="en"
    )
    assert "7311" not in answer.text, answer.text
    unnamed = ExtractiveAnswerer(terms, second_ratio=1.0, named_weight=0.0)
    assert "7311" in unnamed.compose(question, [logship, vanefly], lang="en").text


def test_a_question_asking_for_a_default_wants_one_said() -> None:
    """ "What is the default value of --max-p99?" over a page that describes the flag but gives
    no default abstains (another flag's default beside it does not answer); "unless you pass
    it" gives a default."""
    from rag.pipelines.answer_types import ASKS_DEFAULT, SAYS_DEFAULT

    assert ASKS_DEFAULT.search("What payment term do invoices get if due_days isn't set?")
    assert ASKS_DEFAULT.search("Where does it put the binary if I don't set a prefix?")
    assert not ASKS_DEFAULT.search("Which port does brindle listen on?")
    assert SAYS_DEFAULT.search("Another program holds port 8088, which brindle uses unless told")
    assert not SAYS_DEFAULT.search('`base_url = "/docs/"`')  # one user's value, not a default
    assert SAYS_DEFAULT.search("Leaving out `statement_timeout` does not remove the limit.")
    assert SAYS_DEFAULT.search("If it is unset, the client reads `~/.config/token`.")
    assert ASKS_DEFAULT.search("If max_parallel is left out, how many runs can execute?")
    # falling back to the default says there is one, not what it is
    assert not SAYS_DEFAULT.search("A typo such as `enviroment` falls back to the default.")
    assert SAYS_DEFAULT.search("`environment` defaults to `development`.")
    options = cite(
        1,
        "Options\n\n`--rate N`: requests per second, 50 unless you pass it.\n\n"
        "`--max-p99 MS`: fail the run when the 99th percentile latency of the requests is "
        "above MS milliseconds.",
        heading=("hopline", "Options"),
    )
    terms = KeywordTokenizer().tokenize_batch
    # no embedder here: the terms alone cover 18% of the question, and the default check,
    # not the coverage gate, is what this test is about
    asked = "What is the default value of hopline's --max-p99 flag?"
    declined = gate_declines(asked, [options], lang="en", terms=terms, min_coverage=0.1)
    assert "default" in declined.reason, declined
    answerer = ExtractiveAnswerer(terms, min_coverage=0.1)
    rate = answerer.compose("What request rate does hopline use by default?", [options], lang="en")
    assert rate.text.startswith("`--rate N`"), rate.text


def test_a_table_with_a_default_column_gives_each_rows_default() -> None:
    """A flag table whose header has a "default" column gives each row's default: "default
    ramp-up time if I don't pass --ramp" is answered by the row, not declined for want of the
    word "default" in it. The same table without that column gives none, and declines."""
    terms = KeywordTokenizer().tokenize_batch
    answerer = ExtractiveAnswerer(terms)
    asked = "default ramp-up time if I don't pass --ramp"
    rows = (
        "| `--users` | concurrent virtual users | 10 |\n"
        "| `--ramp` | time to go from 0 to `--users` | 30s |\n"
        "| `--duration` | length of the measured phase | 1m |"
    )
    flags = cite(
        1,
        f"Running a test\n\n| flag | meaning | default |\n|---|---|---|\n{rows}",
        heading=("Run",),
    )
    answer = answerer.compose(asked, [flags], lang="en")
    assert answer.text == "| `--ramp` | time to go from 0 to `--users` | 30s | [1]", answer.text
    plain = rows.replace(" | 10 |", " |").replace(" | 30s |", " |").replace(" | 1m |", " |")
    bare = cite(1, f"Running a test\n\n| flag | meaning |\n|---|---|\n{plain}", heading=("Run",))
    assert answerer.compose(asked, [bare], lang="en").abstained


def test_a_korean_page_gives_a_default_in_korean_words() -> None:
    """An English question asking what holds when nothing is set, over a Korean page: the page
    says it as 지정하지 않으면 ("if not specified"), which gives the default; 기본값 and 생략하면
    do too."""
    from rag.pipelines.answer_types import SAYS_DEFAULT

    assert SAYS_DEFAULT.search("포트의 기본값은 8080입니다.")
    assert SAYS_DEFAULT.search("`--ramp`를 생략하면 30초 동안 늘립니다.")
    assert not SAYS_DEFAULT.search("`order: shuffle`로 바꾸면 한 번만 섞습니다.")
    page = cite(
        1,
        "데이터 파일\n\n`data.file`에 CSV 파일을 지정하면 각 행을 사용자에게 나누어 줍니다. "
        "`order`를 지정하지 않으면 `sequential`로 동작하며, 위에서부터 차례대로 나누어 줍니다.",
        heading=("데이터 파일",),
    )
    answer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch).compose(
        "If I don't set order for the data file, in what order are rows handed out?",
        [page],
        lang="en",
    )
    assert not answer.abstained, answer.reason
    assert "`sequential`" in answer.text, answer.text


def test_a_maximum_number_or_size_wants_a_number() -> None:
    """ "max number of steps per scenario file?" asks for a count: the sentence giving "at most
    200 steps" wins over one about steps that gives none."""
    assert wants_quantity("max number of steps per scenario file?")
    assert wants_quantity("Is there a maximum size for the CSV data file?")
    assert wants_quantity("What is the minimum length of a password?")
    assert not wants_quantity("Is there a maximum?")  # what of is not said
    page = cite(
        1,
        "Scenarios\n\nPercentiles are computed per step, so a slow step in a scenario fails "
        "the test even when the combined numbers look healthy. One scenario may hold at most "
        "200 steps; split longer journeys into several files.",
        heading=("Scenarios",),
    )
    answer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, second_ratio=1.0).compose(
        "max number of steps per scenario file?", [page], lang="en"
    )
    assert answer.text.startswith("One scenario may hold at most 200 steps"), answer.text


def test_the_default_rule_reads_english_questions_only() -> None:
    """A Korean question that borrows the word "default" is not held to English wording (the
    Korean name gate, which would abstain on a Latin word no source writes, is off here)."""
    page = cite(1, "서버 설정\n\n서버 포트는 따로 정하지 않으면 8080 번을 쓴다.")
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, name_gate=False)
    answer = answerer.compose("서버 default 포트는 몇 번이야?", [page], lang="ko")
    assert "8080" in answer.text, answer.text


def test_an_abstention_says_why() -> None:
    """Each reason to decline is named: a name no source writes, a quantity or a default the
    closest sentences do not give, too little of the question covered."""
    terms = KeywordTokenizer().tokenize_batch
    answerer = ExtractiveAnswerer(terms)
    shell = cite(1, "셸 설정\n\nbash는 시작할 때 .bashrc 파일을 읽어 설정을 적용한다.")
    named = answerer.compose("zsh는 시작할 때 어떤 설정 파일을 읽어?", [shell], lang="ko")
    assert named.abstained and named.reason == "no source mentions zsh"
    options = cite(
        1,
        "`--max-p99 MS`: fail the run when the 99th percentile latency is above MS milliseconds.",
        heading=("hopline", "Options"),
    )
    default = answerer.compose("What is the default of hopline's --max-p99?", [options], lang="en")
    assert default.abstained and default.reason == "the closest sentence gives no default"
    lock = cite(1, "A pin tumbler lock holds a row of pins that a key pushes to the right heights.")
    count = answerer.compose("How many pins does a pin tumbler lock have?", [lock], lang="en")
    assert count.abstained and "no number" in count.reason
    covered = answerer.compose("Who painted the Mona Lisa in Florence?", [lock], lang="en")
    assert covered.abstained and "abstain_below" in covered.reason
    answered = answerer.compose("What does a key push in a pin tumbler lock?", [lock], lang="en")
    assert not answered.abstained and answered.reason == ""


def test_an_english_question_reads_a_korean_source_by_its_latin_words() -> None:
    """An English question shares only Latin words and numbers with a Korean page; they are
    read as the question's own are, without kiwi, which splits "CP949" into cp + 949 (and
    "glyphcut" into gli + phcut), so that the question's cp949 matched nothing. Kiwi (2-3 s
    and ~500 MB on a cold start) is not loaded at all."""
    tokenizer = KeywordTokenizer()
    korean = cite(
        1,
        "오래된 한국어 텍스트 파일은 UTF-8이 아니라 CP949나 EUC-KR로 저장된 경우가 많습니다. "
        "형태소 분석기 kiwipiepy는 rag와 함께 기본으로 설치됩니다.",
    )
    english = cite(2, "Chroma is the default store. It keeps its files in the data directory.")
    answer = ExtractiveAnswerer(tokenizer.tokenize_batch).compose(
        "Can rag read files saved as CP949?", [english, korean], lang="en"
    )
    assert "CP949" in answer.text and "[1]" in answer.text, answer.text
    assert not tokenizer.kiwi_loaded
