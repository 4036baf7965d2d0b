"""What a question's wording asks for: a person's full name for "who did it", an amount for
"how much", an exit code as sources write one, one of the two things a closed question
offers, a key or flag for "which setting", and the release a feature came in for "when did
it show up" (rag.pipelines.subjects, rag.pipelines.answer_types, rag.pipelines.answer_specs,
rag.pipelines.type_gate)."""

from __future__ import annotations

from citation_helpers import answer_under, cite, declined_until_stated

from rag.pipelines.answer_people import named_first, names_person, names_someone
from rag.pipelines.answer_specs import code_said
from rag.pipelines.answer_types import said_pattern
from rag.pipelines.counted import lasting_things
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.type_gate import choice_offered, declined


def test_asked_who_a_runner_up_writing_a_full_name_answers() -> None:
    """ "Who found the gold?": when the best sentence names no one, a runner-up writing a
    person's full name (accents and particles too) comes first, before one naming a place."""
    question = "Who found the gold that set off the Orrin rush?"
    texts = [
        "Perhaps 100,000 people set out, but few reached the goldfields.",
        "By 1899 the rush was over, as prospectors left for new gold found at Nome, Alaska.",
        "In August 1896 Tomas Varden and his brother found gold on Rabbit Creek.",
    ]
    assert names_someone(question, texts[1]) and not names_person(question, texts[1])
    assert names_person(question, texts[2])
    assert named_first([0, 1, 2], [1.0, 0.96, 0.9], texts, question) == [2, 0, 1]
    first = [texts[2], texts[0], texts[1]]  # the full name is candidate 0
    assert named_first([1, 2, 0], [0.9, 1.0, 0.96], first, question) == [0, 1, 2]
    assert named_first([0, 1, 2], [1.0, 0.96, 0.5], texts, question) == [1, 0, 2]  # too far
    for named in (
        "the Danish astronomer Ole Rømer noticed it",
        "a restoration led by Eugène Viollet-le-Duc",
        "The American Albert Michelson refined the measurement",
    ):
        assert names_person("Who first showed it?", named), named
    for unnamed in (
        "The 1893 painting belongs to Norway's National Museum.",
        "He worked at the Paris Observatory.",
        "On 15 April 2019 a fire destroyed the spire.",
        "The steamer docked at San Francisco in July 1897.",
    ):
        assert not names_person("Who first showed it?", unnamed), unnamed


def test_a_name_in_accented_letters_names_someone() -> None:
    """ "Ole Rømer" names someone: the gate does not decline it as naming no one."""
    answer = ExtractiveAnswerer().compose(
        "Who first showed that light takes time to travel?",
        [cite(1, "In 1676 the astronomer Ørn Sävik showed that light takes time to travel.")],
        lang="en",
    )
    assert not answer.abstained and "Sävik" in answer.text, answer
    # a name the question itself writes names no one new
    assert not names_someone("Who taught Ørn Sävik?", "Then Sävik left.")


def test_how_much_asks_an_amount_not_a_year() -> None:
    """ "How much vitamin C is in one kiwifruit?" is not answered by "In 1904 ...", and a
    pension is a sum of money."""
    amount = said_pattern("how much vitamin C is in one kiwifruit")
    assert not amount.search("In 1904 Isla Fenn brought seeds home from China.")
    assert amount.search("One fruit holds about 64 mg of it.")
    assert said_pattern("how much was the pension the king gave him?").search("£200 a year")
    declined_until_stated(
        "how much was the pension the king gave Varden?",
        "Varden named the planet after the king, who granted him a pension in 1782.",
        lang="en",
        reason="no number",
        stated=" The pension was £200 a year.",
        answer="£200 a year",
    )


def test_an_exit_code_is_written_after_exit_status_or_code() -> None:
    """An exit code asked is "exits 2", "exit status 3", a table cell or code, not the 4 of
    "a Raspberry Pi 4"."""
    code = code_said("what exit code does `orrin scan` return when the folder does not exist?")
    for said in ("it exits 0 when valid and 2 when not", "exit status 3", "| 2 | missing |"):
        assert code.search(said), said
    for unsaid in ("A scan of 10,000 books takes two minutes on a Raspberry Pi 4.", "in 1.2"):
        assert not code.search(unsaid), unsaid
    declined_until_stated(
        "what exit code does `orrin scan` return when the folder does not exist?",
        "Run `orrin scan` to scan the folder; a scan takes two minutes on a Raspberry Pi 4.",
        lang="en",
        reason="no number",
        stated=" `orrin scan` exits 4 when the folder does not exist.",
        answer="exits 4",
    )


def test_a_closed_choice_is_answered_by_one_of_its_two_words() -> None:
    """ "Does the relay use STARTTLS or implicit TLS?" declines when the quoted sentences
    write neither; a yes/no question holding "or" offers no such choice."""
    assert choice_offered("Does the relay use STARTTLS or implicit TLS?") == [
        "STARTTLS",
        "implicit",
    ]
    assert choice_offered("Does orrin rename or reorganise the files in my folder?") == []
    assert choice_offered("does every user get their own list, or is it shared?") == []
    # a choice between clauses: "true" is no thing to choose, nor is "is"
    assert choice_offered("do all the conditions in a rule have to be true or is one enough?") == []
    declined_until_stated(
        "Does the connection to the SMTP relay use STARTTLS or implicit TLS?",
        "The connection to the SMTP relay is set under `[smtp]`: `host`, `port` and `user`.",
        lang="en",
        reason="neither",
        stated=" The SMTP relay connection uses STARTTLS, never implicit TLS.",
        answer="uses STARTTLS",
    )


def test_which_key_is_answered_by_a_code_name() -> None:
    """ "What's the config key that limits device addresses?" is not answered by a sentence
    writing no key, variable or flag."""
    declined_until_stated(
        "What's the config key that limits how many device addresses each user can add?",
        "Each user can add up to 5 device addresses under Settings → Devices.",
        lang="en",
        reason="no key",
        stated=" The `max_devices` key limits how many device addresses each user can add.",
        answer="`max_devices`",
    )


def test_when_a_feature_showed_up_is_answered_by_its_release() -> None:
    """ "When did FB2 support show up?" is answered by the release in a table row ("1.5");
    "when was the spire built" still wants a date."""
    came = said_pattern("When did FB2 support show up?")
    assert came.search("FB2,.fb2,yes,no,1.5,FictionBook 2")
    assert not said_pattern("when was the spire built?").search("version 1.5")
    answer = answer_under(
        "When did FB2 support show up?",
        "format,extension,reader,support shows up in\nFB2,.fb2,yes,1.5\nTXT,.txt,no,1.4\n",
        ("Format support: the release each showed up in",),
    )
    assert not answer.abstained and "1.5" in answer.text, answer


def test_how_long_x_lasts_is_answered_of_x() -> None:
    """ "How long does an app password stay valid?" is not answered by how long a deleted
    user's shelves are kept: what is timed is named in the quoted sentences, the one before
    them or their titles; "how long does it take" names nothing to look for."""
    assert lasting_things("how long does an app password stay valid before it expires") == [
        "password"
    ]
    assert lasting_things("How long does it take to index ten thousand books?") == []
    assert lasting_things("How long does orrin keep sensor readings before deleting them?") == [
        "orrin",
        "sensor",
        "readings",
    ]
    question = "how long does an app password stay valid before it expires?"
    grace = "Deleting a user removes their shelves after a 7-day grace period."
    why = declined(
        question, "en", quoted=[grace], before=[""], heads=["Users"], headers=[""], foreign=False
    )
    assert why is not None and "do not time password" in why, why
    stays = "It stays valid for 90 days."
    told = declined(
        question,
        "en",
        quoted=[stays],
        before=["An app password lets an e-reader sign in."],
        heads=["Users"],
        headers=[""],
        foreign=False,
    )
    assert told is None, told


def test_with_an_env_var_ranks_the_variable() -> None:
    """ "How would I set the scan interval with an env var instead of the file?" quotes the
    sentence naming the variable, not the file's line for the key."""
    page = (
        'The scan interval is set in the config file: `scan_interval = "6h"`.\n\n'
        "Any key of the config file can be set from the environment instead: upper-case it "
        "and add the `ORRIN_` prefix, for example `ORRIN_LOG_LEVEL`."
    )
    answer = ExtractiveAnswerer().compose(
        "how would I set the scan interval with an env var instead of the config file",
        [cite(1, page)],
        lang="en",
    )
    assert answer.text.startswith("Any key of the config file can be set"), answer
