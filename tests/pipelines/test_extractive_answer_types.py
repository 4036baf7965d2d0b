"""What a question asks for and whether the quoted sentences give it: a number in the unit
asked, a relative time for "when", a path for "where", a version, a count, a status code, a
sum of money (rag.pipelines.answer_types, through rag.pipelines.extractive)."""

from __future__ import annotations

import re

from citation_helpers import cite, declined_until_stated, gate_declines, pattern_for, quotes

from rag.pipelines.answer_amounts import NUMBER
from rag.pipelines.answer_dates import TIME
from rag.pipelines.answer_types import (
    CODE_TOKEN,
    PATH,
    PLACE,
    answer_type,
    said_pattern,
    wants_quantity,
)
from rag.pipelines.extractive import ExtractiveAnswerer


def test_a_when_question_accepts_a_relative_time() -> None:
    """ "언제" is answered by 마지막에 or 끓기 전에 as well as by a date; a sentence with no
    time at all still abstains."""
    assert said_pattern("두부는 언제 넣어?") is TIME
    assert said_pattern("When does the tide turn?").search("after high water")  # EN_TIME
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


def test_a_where_question_prefers_the_sentence_with_a_path() -> None:
    """In documentation "where does X put / keep ..." is answered by a path; a sentence
    holding one wins over one that only shares the question's words."""
    assert answer_type("Where does the install script put the program?") is PLACE
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
    # a build for a platform is not a version number; the version of a named tool is
    assert not wants_quantity("is there a windows version of ferncrate?")
    assert wants_quantity("What is the version of SQLite it bundles?")
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
    gate_declines(question, [wait], lang="en")


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
    # the gate asks the same: a share of the chunks is no exit code, "every snapshot" no version
    assert wants_quantity("What exit code does ferncrate check return on a damaged chunk?")
    exit_code = said_pattern("What exit code does ferncrate check return on a damaged chunk?")
    assert not exit_code.search("`ferncrate check` reads 5% of the chunks (`--subset 100%`).")
    assert exit_code.search("It exits with status 3.")
    version = said_pattern("which ferncrate version added the mount command?")
    assert not version.search("`ferncrate mount` shows every snapshot as a folder.")
    assert version.search("`ferncrate mount` came in 2.1.")
    # a version named in a question asking for a size still wants a size
    memory = said_pattern("How much memory does version 2 use?")
    assert memory.search("It peaks at 512 MB.") and not memory.search("Version 2 uses 3 workers.")


def test_a_price_question_wants_a_sum_of_money() -> None:
    """ "수수료가 얼마" is not answered by the passport's 10 years; a sum in 원 (or a share, or
    "free") answers it. 값 ("a value") asks for no money."""
    fee = said_pattern("10년짜리 여권 발급 수수료가 얼마예요?")
    assert not fee.search("성인의 일반 여권은 유효기간이 10년이다.")
    assert fee.search("수수료는 5만 3천 원이다.") and fee.search("발급 수수료는 무료다.")
    assert fee.search("입장료는 만 오천 원이다.") and fee.search("삼천원만 내면 된다.")
    assert not fee.search("공무원과 회원은 이 원칙을 따른다.")
    assert said_pattern("How much is the entry fee?").search("The fee is $12 a person.")
    paid = said_pattern("how much did 3M pay for the Littmann business")
    assert not paid.search("3M bought his business in 1967.")
    assert paid.search("3M paid $2 million for it.")
    assert paid.search("The hosted plan costs 9 EUR per month.") and paid.search("USD 12")
    assert said_pattern("BM25의 값 b는 보통 얼마 써?").search("b는 보통 0.75를 쓴다.")
    passport = cite(1, "성인의 여권 발급은 구청에서 하며, 유효기간은 10년이다.")
    question = "성인 여권 발급 수수료는 얼마예요?"
    gate_declines(question, [passport], lang="ko")


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
    # the length of an id or a key is counted in characters or digits
    ids = said_pattern("How long is a snapshot id?")
    assert ids.search("Each snapshot gets an eight-character id.") and ids.search("32 chars")
    assert not ids.search("`ferncrate status` prints one line per job.")
    assert said_pattern("How many retries are there?").search("It retries 5 times.")
    back = answer_type("How far back in time does carbon dating work?")
    assert back is not None and back.search("After about 50,000 years too little is left.")
    assert not back.search("Its surface lies about 430 metres below sea level.")
    boiled = cite(1, "Appert sealed food in bottles and heated them. He won the prize in 1810.")
    question = "How long did Appert heat the sealed bottles of food?"
    gate_declines(question, [boiled], lang="en")


def test_korean_counters_written_another_way() -> None:
    """몇 장 is answered by 3부 (copies of a document), 몇 글자 by 한 글자, 몇 제곱킬로미터 by an
    area, not a depth."""
    assert said_pattern("같은 문서를 몇 장 뽑아 가야 돼?").search("같은 문서를 3부 준비해 낸다.")
    assert said_pattern("?는 몇 글자랑 매칭돼요?").search("`?`는 정확히 한 글자를 뜻한다.")
    assert not said_pattern("한글 한 글자는 몇 바이트예요?").search("1992년에 고안됐다.")
    area = said_pattern("바이칼 호 면적은 몇 제곱킬로미터야?")
    assert area.search("면적은 3만 1,500제곱킬로미터다.") and not area.search("수심은 1,642m다.")


def test_a_price_per_month_is_not_given_by_a_price_per_year() -> None:
    """ "How much does it cost per month?" is not answered by "$96 per year": the answer
    declines and says which period the sentences gave. A price per month beside it answers,
    and a question asking per two periods is left to the other checks."""
    from rag.pipelines.subjects import other_period

    assert other_period("How much does it cost per month?", "It costs $96 per year.") == (
        "month",
        "year",
    )
    assert other_period("What's the monthly fee?", "Billed annually at $120.") == ("month", "year")
    assert other_period("How much per month?", "$8 a month, or $80 a year.") is None
    assert other_period("How much per month?", "It costs $96.") is None  # no period given
    assert other_period("Monthly or yearly, which is cheaper?", "$96 per year.") is None
    declined_until_stated(
        "How much does tarnhook Cloud cost per month?",
        "The optional hosted dashboard, tarnhook Cloud, costs $96 per year per cluster.",
        lang="en",
        reason="per year, not per month",
        stated=" Paid monthly, it costs $10 per month per cluster.",
        answer="$10",
    )


def test_asked_who_did_it_a_sentence_naming_no_one_is_no_answer() -> None:
    """ "Who built the mechanism?" is not answered by "a study in 2005 used X-ray tomography":
    no name (a capitalized word or acronym the question does not hold, other than a month or a
    word that opens sentences) is quoted. One naming someone answers; "Who can ...?" asks for
    a role ("only admins"), which needs no name."""
    from rag.pipelines.answer_people import names_no_one

    study = ["Much of what is known today comes from a study in 2005.", "It used X-ray scans."]
    assert names_no_one("Who built the Antikythera mechanism?", study)
    assert names_no_one(
        "who was the captain of the Ever Given?", ["In March 2021 Ever Given ran aground."]
    )
    assert not names_no_one("Who built it?", ["It was built by the Greek engineer Philon."])
    assert not names_no_one("who owns it today", ["Since 1988 it has been owned by OCLC."])
    assert not names_no_one("Who can delete a job?", ["Only admins can delete jobs."])
    declined_until_stated(
        "Who built the Antikythera mechanism?",
        "The Antikythera mechanism is a hand-powered model of the solar system. Much of what "
        "is known about the mechanism today comes from a study in 2005 that used X-ray "
        "tomography.",
        lang="en",
        reason="name no one",
        stated=" The mechanism was built by Hipparchus of Rhodes.",
        answer="Hipparchus",
    )


def test_asked_which_hospital_in_english_the_sentence_must_name_one() -> None:
    """The English twin of "어느 박물관": members of a university, college, museum, hospital or
    airport carry the kind in their name ("St Mary's Hospital"), so a sentence naming none does
    not say which; other kinds (which city, which river) ask nothing of the sentence."""
    from rag.pipelines.subjects import asked_kind

    assert asked_kind("Which university did Doppler teach at?") == "university"
    assert asked_kind("Which Hospital was it?") == "hospital"
    assert asked_kind("Which city hosted it?") is None
    declined_until_stated(
        "Which university did Christian Doppler teach at?",
        "The Austrian physicist Christian Doppler proposed the effect in 1842.",
        lang="en",
        reason="university",
        stated=" Doppler taught at the Prague Polytechnic University.",
        answer="Prague",
    )


def test_what_temperature_or_what_is_the_weight_asks_for_a_measure() -> None:
    """ "At what temperature ...", "What is the weight of ...", "what depth", "what speed" ask
    for a number in a unit of that measure, as how hot / heavy / deep / fast do: "each with its
    own melting point" is not the answer, "about 34 °C" is."""

    def measure(question: str) -> re.Pattern[str]:
        wanted = answer_type(question)
        assert wanted is not None, question
        return wanted

    assert measure("At what temperature does form V melt?").search("It melts at 34 °C.")
    assert not measure("At what temperature does form V melt?").search("It has six forms.")
    assert measure("What is the weight of the probe?").search("It weighed 722 kg.")
    assert not measure("What is the weight of the probe?").search("It flew for 12 years.")
    assert measure("What's the depth of the lake?").search("It is 1,642 m deep.")
    assert measure("At what speed does it crawl?").search("about 1 cm per hour")
    assert not wants_quantity("What is the default port?")  # no measure asked
    forms = cite(
        1,
        "Cocoa butter can crystallise in six forms, each with its own melting point. Only form "
        "V gives a glossy surface and a melting point of about 34 °C.",
    )
    answer = ExtractiveAnswerer().compose(
        "At what temperature does form V cocoa butter melt?", [forms], lang="en"
    )
    assert "34 °C" in answer.text, answer


def test_how_many_ships_is_not_answered_by_a_count_of_towns() -> None:
    """An English count names what it counts; a sentence counting something else ("close to
    200 towns") declines, one naming the thing counted (singular or plural) answers. A count
    in a unit (how many seconds) is left to the answer type."""
    from rag.pipelines.counted import counted_things, names_counted

    assert counted_things("How many ships did the Hanse have?") == ["ships"]
    assert counted_things("how many old result folders are kept?") == ["old", "result", "folders"]
    assert counted_things("After how many seconds does it give up?") == []
    assert counted_things("What is it?") == []
    assert names_counted(["ships"], "Each ship carried wool.")
    assert names_counted(["migrations"], "`tidewright_pending_migrations`")
    assert not names_counted(["ships"], "It linked close to 200 towns.")
    declined_until_stated(
        "How many ships did the Hanseatic League have at its height?",
        "At its height the Hanseatic League linked close to 200 towns, from Bruges to Novgorod.",
        lang="en",
        reason="do not count ships",
        stated=" Its members sailed some 1,000 ships at its height.",
        answer="1,000 ships",
    )


def test_a_default_said_far_from_the_setting_asked_is_anothers() -> None:
    """Asked the default of ``fusion_alpha``, "hybrid by default: ... (`fusion_alpha` the dense
    share)" gives hybrid's default, not its: a sentence writing the setting asked must say the
    default near it ("`TARNHOOK_TOKEN` ...; if it is unset, ..." does)."""
    from rag.pipelines.answer_types import says_default

    far = (
        "Retrieval is hybrid by default: a BM25 keyword leg and the dense leg, fused by a "
        "convex combination of min-max normalised scores (`fusion_alpha` the dense share)."
    )
    assert not says_default(far, {"fusion_alpha"})
    assert says_default(far, set())  # no setting named: any default counts
    near = "`TARNHOOK_TOKEN` holds the API token; if it is unset, the client reads a file."
    assert says_default(near, {"TARNHOOK_TOKEN"})
    question = "What is the default value of fusion_alpha?"
    answer = ExtractiveAnswerer().compose(question, [cite(1, far)], lang="en")
    assert answer.abstained and "default" in answer.reason, answer
    told = cite(1, far + " `fusion_alpha` is 0.5 by default.")
    assert "0.5" in ExtractiveAnswerer().compose(question, [told], lang="en").text


def test_an_english_when_wants_a_date_not_any_number() -> None:
    """ "When was the Forth Bridge opened?" wants a date: "54,000 tonnes of steel" holds a
    number but no time, "4 March 1890" one; a question opening with a "when" clause and asking
    which header, or what signal, asks for no time and no number."""
    from rag.pipelines.answer_dates import EN_TIME, asks_when_en

    assert asks_when_en("When was the Forth Bridge opened?")
    assert not asks_when_en("When revalidating, in which header is the ETag sent?")
    # a "where" inside the when-question is part of it; a "when" clause before a comma is not
    assert asks_when_en("When did scientists locate where eastern monarchs spend the winter?")
    clause = "When a job runs past its time limit, what signal does it get?"
    assert not wants_quantity(clause) and not asks_when_en(clause)
    for said in ("opened on 4 March 1890", "after 30 days", "in 196 BC", "at 02:00", "2021-06-07"):
        assert EN_TIME.search(said), said
    for said in ("It used some 54,000 tonnes of steel.", "about 6.5 million rivets"):
        assert not EN_TIME.search(said), said
    page = cite(
        1,
        "## The Forth Bridge\n\nIt used some 54,000 tonnes of steel, made by the open-hearth "
        "process. The Prince of Wales opened it on 4 March 1890 by driving home the last rivet.",
    )
    answer = ExtractiveAnswerer().compose("When was the Forth Bridge opened?", [page], lang="en")
    assert "4 March 1890" in answer.text, answer


def test_a_year_no_source_writes_declines() -> None:
    """ "Which city hosted the Olympic marathon of 1900?" over a page giving 1896 and 1908 is
    about something the sources do not cover; a count or setting that looks like a year
    ("--rate 2000") and a Korean birth year (1970년생: the asker's own) are not asked years."""
    from rag.pipelines.subjects import unwritten_years

    page = (
        "The first Olympic marathon, in Athens in 1896, was won by Spyridon Louis. "
        "At the London Olympics of 1908 the course ran from Windsor Castle to the stadium."
    )
    assert unwritten_years("Which city hosted the Olympic marathon of 1900?", [page]) == ["1900"]
    assert unwritten_years("Who won the marathon in 1896?", [page]) == []
    assert unwritten_years("1900년 올림픽 마라톤은 어디서 했어?", [page]) == ["1900"]
    assert unwritten_years("1970년생은 몇 살부터 받아요?", [page]) == []
    assert unwritten_years("I'm on --rate 2000 and it is slow", [page]) == []
    assert unwritten_years("who won in 1932-33", ["the 1932–33 tour"]) == []
    answerer = ExtractiveAnswerer()
    question = "Which city hosted the Olympic marathon of 1900?"
    declined = answerer.compose(question, [cite(1, page)], lang="en")
    assert declined.abstained and "1900" in declined.reason, declined
    told = cite(1, page + " The 1900 marathon was run through the streets of Paris.")
    assert "Paris" in answerer.compose(question, [told], lang="en").text


def test_one_as_a_pronoun_and_60s_as_seconds_are_no_number_or_date() -> None:
    """ "sets the first admin password instead of generating one." gives no length, and a
    table row's "60s" (a poll interval) is no decade for "when was 3.2.0 released"; "one
    long-lived connection", "the 1960s" and "the '60s" still count."""
    from rag.pipelines.answer_amounts import NUMBER
    from rag.pipelines.answer_dates import EN_DATE

    for pronoun in ("instead of generating one.", "no one knows", "one of the keys"):
        assert not NUMBER.search(pronoun), pronoun
    assert NUMBER.search("one long-lived SSE connection")
    assert not EN_DATE.search("Swift,SwitchwrenSDK,no,60s,polling only")
    assert all(EN_DATE.search(t) for t in ("in the 1960s", "the 60s", "the '60s", "2000s"))
    declined_until_stated(
        "What's the minimum length of SWITCHWREN_ADMIN_PASSWORD?",
        "`SWITCHWREN_ADMIN_PASSWORD` sets the first admin password instead of generating one.",
        lang="en",
        reason="no number",
        stated=" The password must be at least 12 characters long.",
        answer="12 characters",
    )


def test_a_sum_asked_as_prize_money_or_insured_for_wants_money() -> None:
    """ "How much prize money ..." and "How much is it insured for?" want a sum: a size in
    centimetres is no answer, and francs are money."""
    from rag.pipelines.answer_amounts import MONEY

    assert said_pattern("How much is the Mona Lisa insured for?") is MONEY
    assert said_pattern("How much prize money came with the Nobel Prize?") is MONEY
    assert MONEY.search("offered 12,000 francs for a way to preserve food")
    declined_until_stated(
        "How much is the Mona Lisa insured for?",
        "The Mona Lisa is painted on a poplar panel of about 77 by 53 centimetres.",
        lang="en",
        reason="no number",
        stated=" The Mona Lisa was insured for 100 million dollars in 1962.",
        answer="100 million dollars",
    )


def test_how_much_of_something_named_is_no_sum_and_a_ratio_answers_relative_to() -> None:
    """ "How much heat do you get for each unit you pay for?" names what it measures: "three
    to four units of heat" answers it, though "pay" is a money word. "How fast ... relative to
    the crank?" is answered by a ratio ("at half the crankshaft's speed")."""
    from rag.pipelines.answer_amounts import MONEY

    heat = pattern_for("how much heat do you get back for each unit of power you pay for?")
    assert heat is not MONEY
    assert heat.search("a heat pump delivers three to four units of heat for every unit used")
    assert said_pattern("how much do I pay per month?") is MONEY
    assert said_pattern("how much extra user cost?") is MONEY
    relative = pattern_for("how fast does the camshaft spin relative to the crank?")
    assert relative.search("A camshaft, turning at half the crankshaft's speed, opens a valve.")
    assert relative.search("the output shaft turns 3 times faster")
    assert not relative.search("the camshaft sits above the valves")
    assert not pattern_for("how fast does the camshaft spin?").search("at half its speed")
    quotes(
        "how fast does the camshaft spin relative to the crank?",
        "The crankshaft turns the pistons' motion into rotation. A camshaft, turning at half "
        "the crankshaft's speed, opens each valve at the right moment.",
        "half the crankshaft's speed",
    )


def test_how_do_i_find_a_version_asks_for_a_way_not_a_number() -> None:
    """ "How do I check which version of switchwren I installed?" is answered by the command
    (`switchwren version`), which holds no version number."""
    from rag.pipelines.answer_types import wants_quantity

    assert not wants_quantity("How do I check which version of switchwren I installed?")
    assert wants_quantity("Which version of switchwren do I need?")
    page = "Check the install with `switchwren version`, which prints the version."
    question = "How do I check which version of switchwren I installed?"
    assert (
        "`switchwren version`"
        in ExtractiveAnswerer().compose(question, [cite(1, page)], lang="en").text
    )


def test_an_faq_question_line_names_the_limit_its_reply_gives() -> None:
    """Asked "Max size of a json flag variation?", the reply "A: Yes, 32 KB per variation."
    gives the limit its question line names ("Q: Is there a size limit ...?")."""
    page = (
        "Q: Can flags hold JSON?\nA: Yes, a variation may be any JSON value.\n\n"
        "Q: Is there a size limit for json flags?\nA: Yes, 32 KB per variation."
    )
    answer = ExtractiveAnswerer().compose(
        "Max size of a json flag variation?", [cite(1, page)], lang="en"
    )
    assert not answer.abstained and "32 KB" in answer.text, answer


def test_how_often_prefers_an_interval_or_a_frequency() -> None:
    """ "How often does a check run?" wants an interval ("60s", "every 90 minutes", "twice a
    year"), not the exit codes 0, 1 and 4 of another sentence (a ranking signal); a key named
    ``default_interval`` gives the default "if I don't give it an interval" asks for."""
    often = answer_type("How often does a check run if I don't give it an interval?")
    assert often is not None and often is not NUMBER
    assert often.search('`default_interval = "60s"  # for checks that set no interval`')
    assert often.search("It erupts about every 90 minutes.") and often.search("twice a year")
    assert not often.search("It exits 0 if the check is up, 1 if it is down and 4 otherwise.")
    assert not often.search("Stones weigh 5 tonnes.")
    page = (
        "Run one check by hand with `cairnbell check run shop-api`: it exits 0 if the check "
        "is up, 1 if it is down and 4 if no check has that name.\n\n"
        '```toml\ndefault_interval = "60s"  # for checks that set no interval\n```'
    )
    answer = ExtractiveAnswerer().compose(
        "How often does a check run if I don't give it an interval?", [cite(1, page)], lang="en"
    )
    assert not answer.abstained and "60s" in answer.text, answer


def test_what_did_it_cost_asks_for_a_sum() -> None:
    """ "What did the radio cost when it went on sale?" asks for a sum of money as "how much"
    does: a year and a count of transistors are no price ("What cost does it log ..." asks no
    sum)."""
    from rag.pipelines.answer_amounts import MONEY

    assert said_pattern("What did the Regency TR-1 radio cost when it went on sale?") is MONEY
    assert wants_quantity("What does each additional user cost on the hosted plan?")
    assert said_pattern("What cost does rag log for a model it has no price for?") is not MONEY
    declined_until_stated(
        "What did the Regency TR-1 radio cost when it went on sale?",
        "In 1954 the Regency TR-1, the first commercial transistor radio, went on sale with four"
        " transistors inside.",
        lang="en",
        reason="no number",
        stated=" The Regency TR-1 radio cost 49.95 dollars when it went on sale.",
        answer="49.95 dollars",
    )


def test_a_version_is_dotted_or_follows_a_name_not_a_duration() -> None:
    """ "In which cairnbell version were maintenance windows added?" is not answered by
    "--for 2h" (a number glued to its unit); "2.4", "Python 3", "macOS 12" and a table row's
    "Ruby,3" are versions."""
    version = said_pattern("In which cairnbell version were maintenance windows added?")
    for written in ("In 2.4 every check runs", "needs Python 3", "macOS 12 or newer", "Ruby,3"):
        assert version.search(written), written
    assert not version.search("`cairnbell maint start --for 2h` starts a window.")
    declined_until_stated(
        "In which cairnbell version were maintenance windows added?",
        "Start a maintenance window with `cairnbell maint start --for 2h`.",
        lang="en",
        reason="no number",
        stated=" Maintenance windows were added in cairnbell 2.1.",
        answer="cairnbell 2.1",
    )


def test_an_english_name_no_source_writes_declines() -> None:
    """ "Which port serves its Prometheus metrics?" over pages that never name Prometheus: the
    sources do not talk about it. A name opening the question, an adjective of a people
    ("Irish"), a possessive, a misspelling of its ending ("Mendeleyev") or an accent
    ("Rontgen") is not held against the sources."""
    from rag.pipelines.subjects import unwritten_en_names

    ports = "The cairnbell server serves its UI on port 7340 and its status metrics on 7341."
    question = "Which port does cairnbell serve its Prometheus metrics on?"
    assert unwritten_en_names(question, [ports]) == ["Prometheus"]
    declined = ExtractiveAnswerer().compose(question, [cite(1, ports)], lang="en")
    assert declined.abstained and declined.reason == "no source mentions Prometheus", declined
    told = ExtractiveAnswerer().compose(
        question, [cite(1, ports + " Prometheus metrics are served on port 9341.")], lang="en"
    )
    assert not told.abstained and "9341" in told.text, told
    assert not unwritten_en_names("What caused the Irish potato famine?", ["Ireland's crop"])
    assert not unwritten_en_names("Which element is named after Mendeleyev?", ["Mendeleev"])
    assert not unwritten_en_names("Whose hand is in Rontgen's X-ray?", ["Wilhelm Röntgen"])
    assert not unwritten_en_names("Windows: is there a build?", ["Linux only"])
    assert unwritten_en_names("Is there a build for Windows?", ["Linux only"]) == ["Windows"]


def test_a_code_block_shown_as_the_defaults_gives_them() -> None:
    """ "How many messages per relay connection by default?" is answered by a line of a block
    introduced as the defaults ("Every key has a default, shown here:"); the same line under
    "Every key has a default, so an empty file is valid." is an example, not the default."""
    from rag.pipelines.statements import fence_context

    block = "```toml\nsend_rate = 20\nbatch_size = 500   # messages per relay connection\n```"
    shown = f"## Config\n\nEvery key has a default, shown here:\n\n{block}\n"
    example = f"## Config\n\nEvery key has a default, so an empty file is valid.\n\n{block}\n"
    line = "batch_size = 500   # messages per relay connection"
    assert fence_context(shown, line)[0] == "Every key has a default, shown here:"
    assert fence_context(shown, "Every key has a default, shown here:")[0] == ""
    question = "How many messages does tansypost hand over per relay connection by default?"
    answer = ExtractiveAnswerer().compose(question, [cite(1, shown)], lang="en")
    assert not answer.abstained and "500" in answer.text, answer
    declined = ExtractiveAnswerer().compose(question, [cite(1, example)], lang="en")
    assert declined.abstained and declined.reason == "the closest sentence gives no default"


def test_asked_who_a_close_runner_up_naming_someone_answers() -> None:
    """ "Who was the first to make oxygen?": when the best statement names no one ("Oxygen is
    element number 8 ...") a runner-up that names someone is put first (a full name within
    55% of its score, anything else within 75%); the Sun, the Moon, a people's adjective
    ("Greek") and an era ("BC") name no one."""
    from rag.pipelines.answer_people import named_first, names_no_one, names_someone

    question = "Who was actually the first to make oxygen?"
    texts = [
        "Oxygen is element number 8 and makes up about 21 percent of dry air.",
        "The Swedish pharmacist Carl Wilhelm Scheele made it first, around 1771.",
        "It was the French chemist Antoine Lavoisier who named it.",
    ]
    assert named_first([0, 1, 2], [1.0, 0.8, 0.75], texts, question) == [1, 0, 2]
    assert named_first([0, 1, 2], [1.0, 0.5, 0.4], texts, question) == [0, 1, 2]  # too far
    assert named_first([1, 0, 2], [0.8, 1.0, 0.75], texts, question) == [1, 0, 2]
    antikythera = "Who built the Antikythera mechanism?"
    greek = "The Antikythera mechanism is a Greek device that showed the Sun and Moon."
    assert not names_someone(antikythera, greek)
    assert not names_someone(antikythera, "The ship sank in the first century BC.")
    assert names_no_one(antikythera, [greek])
    assert names_someone(question, texts[1])
