"""What an answer must say for what was asked: "how long" ranks a duration or length first, a
code block shown as the defaults gives them, a number the question itself writes answers
nothing, a birth or death asked about is said, "how big" a cache is asks for a size, an
instruction names no one, "ten guineas" is money and "the Poles" a people
(rag.pipelines.extractive, rag.pipelines.type_gate, rag.pipelines.subjects)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from citation_helpers import answer_from, cite, declined_until_stated, gate_declines, quotes

from rag.keywords import KeywordTokenizer
from rag.pipelines.answer_events import unsaid_event
from rag.pipelines.answer_types import LASTING, answer_type
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.statements import fence_context
from rag.pipelines.type_gate import given_blanked

if TYPE_CHECKING:
    from rag.embeddings.onnx import OnnxEmbedder


def test_how_long_prefers_a_duration_as_the_gate_asks() -> None:
    """ "How long did the club keep the cup?" is answered by "for 95 years", not by the sentence
    saying the club got it in 1857: the ranking wants what the gate checks (a duration or a
    length), and "keep" asks for a time."""
    assert answer_type("How long is the Ord bridge?") is LASTING
    page = (
        "In 1857 the owners gave the Ord cup to the Harbour Yacht Club under a deed of gift. "
        "The Harbour Yacht Club then defended the cup for 95 years. The cup is silver."
    )
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, second_ratio=1.0)
    answer = answerer.compose(
        "How long did the Harbour Yacht Club keep the Ord cup?", [cite(1, page)], lang="en"
    )
    assert answer.text.startswith("The Harbour Yacht Club then defended"), answer


SETTINGS = (
    '## Settings\n\nquillbox reads `quill.toml`.\n\n```toml\nlisten = ":7040"\n'
    "max_note_kb = 512   # per saved note\n```\n\n"
    "The values shown are the defaults, except `library`, which has none. Run `quillbox check`.\n"
)


def test_a_code_block_followed_by_the_defaults_sentence_gives_them(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """A block whose next sentence says "The values shown are the defaults" (or introduced by
    "the values below are the defaults.") lists the defaults: "the biggest note by default" is
    answered by its line; followed by "These lines are examples" it is not."""
    line = "max_note_kb = 512   # per saved note"
    assert fence_context(SETTINGS, line)[1].startswith("The values shown are the defaults")
    assert fence_context(SETTINGS, "quillbox reads `quill.toml`.")[1] == ""
    assert fence_context("```\na = 1\n```\n```\nb = 2\n```\nShown above.", "a = 1")[1] == ""
    question = "whats the biggest note i can save by default"
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, onnx_embedder)
    answer = answerer.compose(question, [cite(1, SETTINGS)], lang="en")
    assert not answer.abstained and "512" in answer.text, answer
    from rag.pipelines.type_gate import gives_default

    below = "Every key is optional; the values below are the defaults.\n\n```toml\nport = 80\n```"
    so = "Every key has a default, so an empty file is valid.\n\n```toml\nport = 80\n```"
    assert gives_default("`port = 80`", set(), "", below)
    assert not gives_default("`port = 80`", set(), "", so)
    example = SETTINGS.replace("The values shown are the defaults", "These lines are examples")
    declined = answerer.compose(question, [cite(1, example)], lang="en")
    assert declined.reason == "the closest sentence gives no default", declined


def test_a_number_the_question_writes_does_not_answer_it() -> None:
    """ "Which version supports uploads on port 7041?" is not answered by "Port 7041 is the
    upload endpoint": the only number there is the one asked about. Offered a choice ("7040
    or 7041?"), the question's numbers stay: one of them is the answer."""
    assert given_blanked("Which app version uses port 7041?", "Port 7041, not 17041.") == (
        "Port  , not 17041."
    )
    assert given_blanked("Is it 7040 or 7041?", "Port 7041.") == "Port 7041."
    declined_until_stated(
        "Which version of the quillbox phone app supports uploads on port 7041?",
        "Port 7041 is the upload endpoint used by the quillbox phone apps.",
        lang="en",
        reason="no number",
        stated=" The quillbox phone apps support uploads on port 7041 from version 3.2.",
        answer="3.2",
    )


def test_a_birth_or_death_asked_about_is_said() -> None:
    """ "In what year did Ada Ordway die?" is not answered by the year a lake was named after
    her, nor "How many people died in the flood?" by how many lived in the town; "how heavy is
    a cub when it's born" by the newborn's weight."""
    assert unsaid_event("In what year did Ada Ordway die?", ["It was named in 1865."]) == "died"
    assert unsaid_event("When was Ada born?", ["The newborn Ada weighed 3 kg."]) is None
    assert unsaid_event("How many died?", ["2,000 people lost their lives."]) is None
    declined_until_stated(
        "In what year did Ada Ordway die?",
        "In 1865 the lake was named after Ada Ordway, a surveyor of the valley.",
        lang="en",
        reason="do not say when or how many died",
        stated=" Ada Ordway died in 1871 in Leeds.",
        answer="1871",
    )
    declined_until_stated(
        "How many people died in the Ordway flood of 1910?",
        "In 1910 the Ordway flood reached the town, home to about 4,000 people.",
        lang="en",
        reason="do not say when or how many died",
        stated=" In the Ordway flood of 1910, 212 people were killed.",
        answer="212",
    )


def test_how_big_a_cache_or_file_grows_asks_for_a_size() -> None:
    """ "How big can the cache grow?" wants a size in bytes: "install 2.3 and start it" gives a
    number but no size."""
    from rag.pipelines.answer_specs import SIZE

    assert answer_type("how big can the thumbnail cache grow?") is SIZE
    assert answer_type("How large is the database after a year?") is SIZE
    assert answer_type("How big is the Pacific?") is not SIZE
    declined_until_stated(
        "How big can the quillbox cache grow?",
        "The quillbox cache is rebuilt after you install 2.3 and start it.",
        lang="en",
        reason="no number",
        stated=" The quillbox cache can grow to 20 GB.",
        answer="20 GB",
    )


def test_an_instruction_names_no_one() -> None:
    """Asked who trained a model, "Give a cluster a name ..." and "Run `faces rebuild`" name no
    one: a capitalized verb before an article or a code name opens an instruction."""
    from rag.pipelines.answer_people import names_someone

    question = "Who trained the quillbox face model?"
    assert not names_someone(question, "Give a cluster a name to turn it into a person.")
    assert not names_someone(question, "A: Run `quillbox faces rebuild` after many mistakes.")
    assert names_someone(question, "Hunt led the expedition.")
    assert names_someone(question, "A: Edison did.")
    declined_until_stated(
        question,
        "The quillbox face model groups faces. Give a cluster a name to turn it into a person.",
        lang="en",
        reason="name no one",
        stated=" The quillbox face model was trained by Mira Castell.",
        answer="Mira Castell",
    )


def test_a_sum_in_words_and_a_people_named_by_its_plural() -> None:
    """ "ten guineas" is a sum of money, as "12,000 francs" is; "the Poles" is a people the
    sources write as Polish or Poland, not a name no source writes."""
    from rag.pipelines.answer_amounts import MONEY
    from rag.pipelines.subjects import unwritten_en_names

    assert MONEY.search("He bought the bowl for ten guineas.")
    assert MONEY.search("a hundred dollars") and not MONEY.search("ten ships")
    question = "Where did the Poles hand their cipher work to the British?"
    assert unwritten_en_names(question, ["Polish cryptologists met near Warsaw."]) == []
    assert unwritten_en_names("Where did the Quolls meet?", ["Polish ..."]) == ["Quolls"]
    declined_until_stated(
        "How much did Lord Ordway pay for the silver bowl?",
        "In 1892 Lord Ordway bought a silver bowl in London and gave it as a trophy.",
        lang="en",
        reason="no number",
        stated=" Lord Ordway paid ten guineas for the silver bowl.",
        answer="ten guineas",
    )


def test_a_sibling_of_the_name_asked_does_not_answer() -> None:
    """ "How deep is Lake Ordmere?" is not answered by a sentence under "Lake Vell", nor "When
    did the Tarn Cup start?" by "The Quill Cup began in 1990"; "Model Ts" is the Model T of
    "Ford Model T", and "Did Halley ..." names Halley, not "Did Halley"."""
    from rag.pipelines.subjects import en_sibling

    assert en_sibling("How deep is Lake Ordmere?", "It is 280 m deep. Lake Vell") == (
        "lake ordmere",
        "lake vell",
    )
    assert en_sibling("When did the Tarn Cup start?", "The Quill Cup began in 1990.") == (
        "tarn cup",
        "quill cup",
    )
    assert en_sibling("How many Model Ts were made?", "The Model A followed. Ford Model T") is None
    assert en_sibling("Did Halley see it?", "The astronomer Edmond Halley argued it.") is None
    assert en_sibling("Which club held the Tarn Cup?", "The Tarn Cup went to a club.") is None
    question = "How deep is Lake Ordmere?"
    page = "Lake Ordmere lies east of the range. Lake Vell is 280 metres deep."
    declined = gate_declines(question, [cite(1, page)], lang="en")
    assert "lake vell, not lake ordmere" in declined.reason, declined
    told = ExtractiveAnswerer().compose(
        question, [cite(1, page + " Lake Ordmere is 90 metres deep.")], lang="en"
    )
    assert "90 metres" in told.text, told


def test_a_death_asked_of_someone_is_said_of_them() -> None:
    """ "In what year did Ada Ordway die?" is not answered by "Only one member died: Sergeant
    Tom Vell": neither it nor the sentence before names Ordway."""
    from rag.pipelines.subjects import unnamed_run

    assert unnamed_run("When did Ada Ordway die?", ["Only Tom Vell died, in 1804."]) == (
        "ada ordway"
    )
    assert unnamed_run("When did Ada Ordway die?", ["Ordway led it.", "She died in 1871."]) is None
    declined_until_stated(
        "In what year did Ada Ordway die?",
        "Only one member died: Sergeant Tom Vell, in 1804. Ada Ordway led the survey.",
        lang="en",
        reason="do not say it of ada ordway",
        stated=" Ada Ordway died in 1871 in Leeds.",
        answer="1871",
    )


def test_the_top_speed_asks_for_a_speed() -> None:
    """ "What was the top speed of the Ordway car?" is a measure: a sentence giving its engine's
    20 horsepower and the year it went on sale does not answer it."""
    assert answer_type("What was the top speed of the Ordway car?") is not None
    declined_until_stated(
        "What was the top speed of the Ordway car?",
        "The Ordway car went on sale in 1908 with a 20 horsepower engine.",
        lang="en",
        reason="no number",
        stated=" The Ordway car had a top speed of 45 mph.",
        answer="45 mph",
    )


def test_a_key_no_source_writes_has_no_default_to_give() -> None:
    """ "What is the default of max_title_length?" over a page listing other keys' defaults is
    declined: no source writes that key. A pattern (``ORD_*``) asks for no one key."""
    from rag.pipelines.subjects import unwritten_keys

    assert unwritten_keys(["max_title_length", "ORD_*"], ["max_size = 1"]) == ["max_title_length"]
    assert unwritten_keys(["ord_token"], ["Set ORD_TOKEN to the token."]) == []
    question = "What is the default value of max_title_length in ord.toml?"
    page = "All keys in ord.toml are optional; the values below are the defaults.\n\nmax_size = 512"
    told = ExtractiveAnswerer().compose(question, [cite(1, page)], lang="en")
    assert told.abstained and "max_title_length" in told.reason, told
    told = ExtractiveAnswerer().compose(
        question, [cite(1, page + "\nmax_title_length = 80")], lang="en"
    )
    assert not told.abstained, told


def test_a_number_word_the_question_writes_does_not_rank_a_count() -> None:
    """ "How many photos fit in one album?" is answered by "An album holds at most 10,000
    items", not by "one photo can sit in many albums": the "one" the question writes is no
    count, in the ranking as at the gate."""
    assert "one" not in given_blanked("How many fit in one album?", "one photo, many albums")
    page = "An album is a list, and one photo can sit in many albums. An album holds at most 10,000 photos."
    told = ExtractiveAnswerer().compose(
        "How many photos fit in one album?", [cite(1, page)], lang="en"
    )
    assert "10,000" in told.text, told


def test_a_prefix_an_http_status_and_how_fast_something_is_noticed() -> None:
    """ "What prefix do tokens have?" asks for a name written as code, "What HTTP status ..."
    for a code, and "How fast are new files noticed?" is answered by "within about 10
    seconds"."""
    from rag.pipelines.answer_types import CODE_TOKEN, said_pattern

    assert answer_type("what prefix do the API tokens have?") is CODE_TOKEN
    status = answer_type("What HTTP status comes back for an expired paste?")
    assert status is not None and status.search("Expired pastes answer 410.")
    fast = said_pattern("How fast are new files noticed?")
    assert fast.search("New files are picked up within about 10 seconds.")
    assert not fast.search("It has a 20 horsepower engine.")


def test_which_release_brought_a_feature_is_answered_by_a_dotted_number() -> None:
    """ "In which version did layout save appear?" asks for a release ("1.3", "2.4.1", "v2"),
    not any number: "A layout holds at most 16 panes" does not answer it, the command table's
    row with its "since" cell does."""
    wants = answer_type("In which version did layout save appear?")
    assert wants is not None and wants is answer_type("Which release first had the share command?")
    for written in ("layout save,write the panes to a file,yes,--force,1.3,2", "since v2", "2.4.1"):
        assert wants.search(written), written
    assert not wants.search("A layout holds at most 16 panes.")
    assert answer_type("Which version of Python do I need?") is not wants  # after the name
    page = (
        "A layout save writes the panes of a window to a layout file; whatever the version, "
        "a layout holds at most 16 panes.\n\ncommand,purpose,since\n"
        "layout save,write the panes to a file,1.3\nshare,invite guests to watch a session,2.1"
    )
    told = answer_from("In which version did layout save appear?", page)
    assert not told.abstained and "1.3" in told.text and "16 panes" not in told.text, told


def test_the_name_for_a_process_is_answered_where_it_is_called_so() -> None:
    """ "What is the name for salt lowering the temperature at which water freezes?" is
    answered by "This is called freezing-point depression", not by the sentence saying what
    salt does; "another name for sundogs" ("sundogs, or parhelia") is not asked this way."""
    asked = "What is the name for salt lowering the temperature at which water freezes?"
    wants = answer_type(asked)
    assert wants is not None and wants.search("This is called freezing-point depression.")
    assert answer_type("What's another name for sundogs?") is None
    page = (
        "Salty water freezes below 0 °C, so salt lowers the temperature at which ice forms. "
        "This is called freezing-point depression; it depends on how many particles are "
        "dissolved."
    )
    quotes(asked, page, "freezing-point depression")


def test_what_frequency_asks_for_hertz_or_times_a_second() -> None:
    """ "What frequency does the tuning fork run at?" is answered by "32,768 times a second" or
    "2.45 gigahertz", not by the temperature it runs fastest at."""
    asked = "What frequency does the tuning fork in a quartz watch run at?"
    wants = answer_type(asked)
    assert wants is not None
    for written in ("vibrates 32,768 times a second", "at 2.45 gigahertz", "a 50 Hz hum"):
        assert wants.search(written), written
    assert not wants.search("the tuning fork runs fastest near 25 °C")
    page = (
        "Temperature is the main enemy: the tuning fork runs fastest near 25 °C, close to "
        "wrist temperature. In a quartz watch the crystal vibrates 32,768 times a second."
    )
    quotes(asked, page, "32,768")


def test_in_what_year_asks_for_a_year() -> None:
    """ "In what year was tarnpane 1.0 released?" is answered by a year ("2019", "the 1950s",
    "196 BC"); "The current release is 2.4.1" gives none, and the sources do not say."""
    from rag.pipelines.answer_types import said_pattern

    asked = "In what year was tarnpane 1.0 released?"
    year = said_pattern(asked)
    assert isinstance(year, re.Pattern) and year is answer_type(asked)
    for written in ("released in 2019", "in the 1950s", "about 196 BC"):
        assert year.search(written), written
    assert not year.search("The current release is 2.4.1, 3 MB.")
    declined_until_stated(
        asked,
        "The current release of tarnpane is 2.4.1; version 1.0 was the first stable release.",
        lang="en",
        reason="no number",
        stated=" Version 1.0 was released in 2019.",
        answer="2019",
    )


def test_a_why_question_asks_no_quantity() -> None:
    """ "Why is a firework's colour decided by the metal rather than by how hot it burns?" asks
    a cause: "how hot" inside it asks for no temperature, and the cause is quoted."""
    from rag.pipelines.answer_types import wants_quantity

    asked = "Why is a firework's colour decided by the metal in it rather than by how hot it burns?"
    assert not wants_quantity(asked)
    assert wants_quantity("How hot does a firework burn?")
    page = (
        "Every element has its own fixed set of energy levels, so each gives off its own "
        "wavelengths. That is why the colour depends on the metal rather than on how hot the "
        "star burns."
    )
    quotes(asked, page, "energy levels")


def test_how_much_more_it_costs_and_how_much_bandwidth() -> None:
    """ "How much more does calcium chloride cost than rock salt?" asks a sum of money ("how
    much more" names no thing measured); "how much bandwidth" asks for bytes or bits, which
    "80 ms" is not."""
    from rag.pipelines.answer_amounts import asks_sum
    from rag.pipelines.answer_specs import SIZE
    from rag.pipelines.answer_types import said_pattern

    assert asks_sum("How much more does calcium chloride cost than rock salt?")
    assert not asks_sum("How much heat do you get for each unit you pay for?")
    bandwidth = said_pattern("How much bandwidth does a remote attach use on a busy session?")
    assert bandwidth is SIZE
    assert bandwidth.search("about 20 KB per second") and bandwidth.search("under 2 Mbit")
    assert not bandwidth.search("when the round trip is above 80 ms")
    gate_declines(
        "How much more does calcium chloride cost than rock salt?",
        [cite(1, "Calcium chloride costs more than rock salt but works to around -30 °C.")],
        lang="en",
    )
