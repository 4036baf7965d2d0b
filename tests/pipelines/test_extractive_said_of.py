"""Whether the quoted sentences say what was asked: an exit status rather than an HTTP
reply, a width rather than a height, a lifespan, an age said as "he was 26
when", a count of the crew rather than of what sailed, a setting's name rather than a
command's, a rate for a rate limit, a name written word by word, a standard's designation
naming no one, a number or a name said of the one asked, not of another, and which of two
settings wins said as a precedence
(rag.pipelines.answer_specs, rag.pipelines.answer_events, rag.pipelines.answer_people,
rag.pipelines.subjects, rag.pipelines.type_gate)."""

from __future__ import annotations

from citation_helpers import cite, declined_until_stated

from rag.pipelines.answer_events import asks_precedence, stated_first
from rag.pipelines.answer_people import named_first, names_someone
from rag.pipelines.answer_specs import code_said, other_dimension, unsaid_rate
from rag.pipelines.counted import counted_things, unsaid_lifespan
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.subjects import en_sibling, said_of_another
from rag.pipelines.type_gate import declined


def test_an_exit_status_is_0_to_255_not_an_http_reply() -> None:
    """ "What exit code does `link add` return when the slug is taken?" is not answered by
    "returns 409": a process exits 0 to 255."""
    exit_status = code_said("what exit code does `orrin link add` return when it fails?")
    assert exit_status.search("`orrin check` exits 3 when a key is unknown")
    assert not exit_status.search("A slug that is already taken returns 409.")
    # an error code may be any one to three digits
    assert code_said("which error code comes back?").search("it returns 409")
    declined_until_stated(
        "what exit code does `orrin link add` return when the slug is already taken?",
        "A slug that is already taken returns 409, and a bad token 401.",
        lang="en",
        reason="no number",
        stated=" From the shell, `orrin link add` exits 4 when the slug is already taken.",
        answer="exits 4",
    )


def test_a_setting_is_not_a_command_in_backticks() -> None:
    """ "Which setting lets people without an account add links?" is not answered by a
    sentence whose only code is a command."""
    declined_until_stated(
        "which setting lets people without an account add links?",
        "People with an account add links from the web page or with `orrin link add`.",
        lang="en",
        reason="no key",
        stated=" The `allow_anonymous` setting lets people without an account add links.",
        answer="`allow_anonymous`",
    )


def test_how_wide_is_not_answered_by_a_height() -> None:
    """ "How wide are the clock faces?" is not answered by "96 m tall"; a height asked is
    answered by "high" as well as by "tall"."""
    said = "Its clock tower is about 96 m tall."
    assert other_dimension("How wide are the clock faces?", said) == ("width", "height")
    assert other_dimension("How tall is the tower?", said) is None
    assert other_dimension("how high is the tower", "The tower is 96 m high.") is None
    declined_until_stated(
        "How wide are the clock faces on the Orrin Tower?",
        "The Orrin Tower, about 96 m tall, was finished in 1859.",
        lang="en",
        reason="the height, not the width",
        stated=" Each clock face of the Orrin Tower is 7 m across.",
        answer="7 m across",
    )


def test_how_long_something_lives_is_said_of_its_life() -> None:
    """ "How long do Bactrian camels live?" is not answered by how long a camel takes to
    drink."""
    question = "How long do Bactrian camels live?"
    assert unsaid_lifespan(question, ["A thirsty camel can drink 100 litres in ten minutes."])
    assert not unsaid_lifespan(question, ["Camels live about 40 years."])
    assert not unsaid_lifespan("How long does the export take?", ["It takes ten minutes."])
    declined_until_stated(
        question,
        "Bactrian camels have two humps; a thirsty camel can drink 100 litres in ten minutes.",
        lang="en",
        reason="how long it lives",
        stated=" Bactrian camels live for about 40 years.",
        answer="about 40 years",
    )


def test_he_was_26_when_gives_an_age() -> None:
    """ "How old was he when he started?" is answered by "he was 26 when he began"."""
    answer = ExtractiveAnswerer().compose(
        "how old was Orrin when he started on the statue",
        [
            cite(
                1,
                "Orrin carved the statue between 1501 and 1504 from one block of marble; he "
                "was 26 when he began.",
            )
        ],
        lang="en",
    )
    assert not answer.abstained and "26" in answer.text, answer


def test_how_many_counts_the_words_before_the_verb() -> None:
    """ "How many crew members sailed on the ship?" counts crew members: a sentence saying
    the ship sailed with 102 passengers does not count them."""
    assert counted_things("How many crew members sailed on the Mayflower?") == ["crew", "members"]
    assert counted_things("how many people died in the fire") == ["people"]
    assert counted_things("how many armed ships were there") == ["armed", "ships"]
    declined_until_stated(
        "How many crew members sailed on the Orrin?",
        "The Orrin sailed alone from Plymouth in 1620 with 102 passengers.",
        lang="en",
        reason="do not count crew",
        stated=" Her crew of about 30 members stayed aboard through the winter.",
        answer="about 30 members",
    )


def test_a_name_written_word_by_word_is_not_a_sibling() -> None:
    """ "Where can I see Donatello's David?" is answered by "bronze Davids by Donatello are in
    the Bargello", although the sentence also names Bernini's David."""
    said = (
        "Earlier bronze Davids by Donatello are in the Bargello, while Bernini's David is in "
        "the Borghese."
    )
    assert en_sibling("Where can I see Donatello's David?", said) is None
    assert en_sibling("How deep is Lake Poopó?", "Lake Titicaca is 281 m deep.") is not None


def test_a_designation_names_no_one() -> None:
    """ "Who came up with the UPC?": "EAN-13" names no one, so a runner-up naming a person
    goes first."""
    question = "Who came up with the UPC code?"
    texts = [
        "A UPC-A code holds 12 digits; the European EAN-13 code adds a thirteenth.",
        "The code used today was worked out at IBM by Tomas Varden in 1973.",
    ]
    assert not names_someone(question, texts[0])
    assert named_first([0, 1], [1.0, 0.7], texts, question) == [1, 0]


def test_a_number_said_of_someone_else_is_no_answer() -> None:
    """ "How long did James Orrin stay at the bottom?" is not answered by how long two others
    stayed, quoted beside the sentence naming him; a sentence pointing back at him ("He
    stayed ...") answers."""
    question = "how long did James Orrin spend at the bottom of the trench"
    others = "In 1960 Jacques Varden and Don Tamsin reached the bottom and stayed about 20 minutes."
    him = "Nobody went back until 2012, when the film director James Orrin made a solo dive."
    assert said_of_another(question, [others, him], [True, False]) == (
        "james orrin",
        "jacques varden",
    )
    back = "He stayed about three hours."
    assert said_of_another(question, [him, back], [False, True]) is None
    assert said_of_another(question, [others], [True]) is None  # him not quoted: not this rule
    why = declined(
        question,
        "en",
        quoted=[others, him],
        before=["", others],
        heads=["The trench", "The trench"],
        headers=["", ""],
        foreign=False,
    )
    assert why is not None and "say it of jacques varden" in why, why


def test_who_did_it_said_of_someone_else_is_no_answer() -> None:
    """ "Who trained Tiger Orrin?" is not answered by who trained another horse."""
    question = "who trained Tiger Orrin?"
    quoted = [
        "Red Varden, trained by Ginger Tamsin, is the only horse to win three times.",
        "Tiger Orrin won in 2018 and 2019.",
    ]
    why = declined(
        question,
        "en",
        quoted=quoted,
        before=["", quoted[0]],
        heads=["The race", "The race"],
        headers=["", ""],
        foreign=False,
    )
    assert why is not None and "not tiger orrin" in why, why


def test_a_rate_limit_is_a_number_per_period() -> None:
    """ "What's the rate limit on redirects per IP address?" is not answered by a salt that
    changes every 24 hours; whether one applies is no such question."""
    assert unsaid_rate("whats the rate limit per api token", "It changes every 24 hours.")
    assert not unsaid_rate("whats the rate limit per api token", "120 requests per minute")
    assert not unsaid_rate("whats the rate limit per token", "at most 100/min")
    assert not unsaid_rate("Do the rate-limit counters survive a restart?", "They do not.")
    declined_until_stated(
        "What's the rate limit on redirects per IP address?",
        "For the rate limit on redirects Orrin keeps a hash of each IP address, with a salt "
        "that changes every 24 hours.",
        lang="en",
        reason="no rate",
        stated=" The rate limit on redirects is 600 requests per minute per IP address.",
        answer="600 requests per minute",
    )


def test_which_setting_wins_is_answered_by_a_precedence() -> None:
    """ "Set in the toml and as an env var, which one wins?": a runner-up stating which beats
    which goes before the file's line for the key."""
    question = "if I set max_checks in the toml file and also as an env var, which one wins?"
    assert asks_precedence(question) and not asks_precedence("who won the cup in 1983?")
    texts = [
        "`max_checks = 500`",
        "A variable beats the file, and a command-line flag beats both.",
        "Any key can also be set as `ORRIN_` plus the key in capitals.",
    ]
    assert stated_first([0, 1, 2], [0.84, 0.75, 0.62], texts) == [1, 0, 2]
    assert stated_first([0, 1, 2], [0.84, 0.5, 0.62], texts) == [0, 1, 2]  # too far below
    assert stated_first([1, 0, 2], [0.84, 0.75, 0.62], texts) == [1, 0, 2]  # already first
