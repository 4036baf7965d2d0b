"""Names and keys read as the sources write them: "gaudi" is "Gaudí", a file's path names no
document, "Run" in "the Run for the Roses" is part of a name and "Status" heading a table
column or "Run" opening a paragraph is none, "2 August" and "every tiger" count nothing, a
config line setting the key a question writes counts what the key counts, a gallery is a
museum, "`ffmpeg` 5.0" is ffmpeg's version, "when does it refresh?" is answered by "after
every scan", and asked who, a person goes before a thing (rag.pipelines.spelling,
rag.pipelines.statements, rag.pipelines.subjects, rag.pipelines.type_gate,
rag.pipelines.answer_specs, rag.pipelines.answer_types, rag.pipelines.answer_people)."""

from __future__ import annotations

from citation_helpers import ONE_EN_PAGE, answer_from, cite

from rag.pipelines.answer_people import named_first
from rag.pipelines.answer_types import answer_type
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.spelling import folded
from rag.pipelines.statements import name
from rag.pipelines.subjects import written_as_names
from rag.pipelines.type_gate import declined, sets_asked_key


def test_a_question_without_accents_finds_the_accented_name() -> None:
    """ "how did gaudi die?" is about "Gaudí": Latin terms are read without accents, Hangul
    and plain words as they are."""
    assert folded([["gaudí", "röntgen", "café", "한국어", "plain"]]) == [
        ["gaudi", "rontgen", "cafe", "한국어", "plain"]
    ]
    page = (
        "The organ builder Tomas Heller died in 1880 after a long illness. "
        "Gaudí worked on the church for forty years. "
        "He was hit by a tram in June 1926 and died three days later."
    )
    told = answer_from("how did gaudi die?", page)
    assert "tram" in told.text, told


def test_a_files_path_names_no_document() -> None:
    """A chunk under "docs/install.md" is not named "install": "fresh install" in a question
    does not rank down a page of another file that answers it."""
    assert name(cite(1, "text", heading=("docs/install.md", "Installing"))) == ""
    assert name(cite(1, "text", heading=("notes.txt",))) == ""
    assert name(cite(1, "text", heading=("logship", "Configuration"))) == "logship"
    sources = [
        cite(
            1,
            "Run `tealbox serve` to start it. A fresh install sets up nothing else.",
            heading=("docs/install.md", "Installing tealbox"),
        ),
        cite(
            2,
            "With no database set up, all data is kept in `tealbox.db`.",
            heading=("docs/storage.md", "Storage"),
        ),
    ]
    question = "Where does a fresh install keep its data if I never set up a database?"
    told = ExtractiveAnswerer().compose(question, sources, lang="en")
    assert "tealbox.db" in told.text, told


def test_a_word_inside_a_longer_name_is_no_name() -> None:
    """ "Run" in "the Run for the Roses" goes on over "for the" into a longer name: the verb
    "run" in "can I run it on windows?" names nothing; "Vegemite" alone still does."""
    said = ["The winner is draped in roses, hence the nickname the Run for the Roses."]
    assert written_as_names("can I run the server on a windows box?", said) == []
    assert written_as_names("who invented vegemite", ["The spread Vegemite came in 1922."]) == [
        "vegemite"
    ]


def test_a_config_line_counts_what_its_key_counts() -> None:
    """Asked "if I leave out limit, how many tracks does it pick?", the line setting `limit`
    answers though it never says "tracks"; a line setting another key, or prose, does not."""
    question = "If I leave out limit in a smart playlist, how many tracks does it pick?"
    line = "`limit = 200          # default 500`"
    assert sets_asked_key([line], question)
    assert not sets_asked_key(["`shuffle = 200`"], question)
    assert not sets_asked_key(["The limit is 200 for now."], question)
    assert declined(question, quoted=[line], **ONE_EN_PAGE) is None
    elsewhere = declined(question, quoted=["`shuffle = 200`"], **ONE_EN_PAGE)
    assert elsewhere is not None and "tracks" in elsewhere


def test_a_gallery_is_a_museum() -> None:
    """Asked which museum, "both hang in the Uffizi Gallery" names one; "it hangs in
    Florence" does not."""
    question = "which museum has the birth of venus?"
    assert declined(question, quoted=["Both hang in the Uffizi Gallery."], **ONE_EN_PAGE) is None
    nowhere = declined(question, quoted=["It hangs in Florence."], **ONE_EN_PAGE)
    assert nowhere is not None and "museum" in nowhere


def test_a_capital_opening_a_line_or_cell_is_no_name() -> None:
    """ "Status" heading a table's column, or opening a heading, is capitalized as any line's
    first word is: "what exit status" names nothing the other pages lack."""
    question = "what exit status does check-config give?"
    assert written_as_names(question, ["| Status | meaning |\n|---|---|\n| 200 | OK |"]) == []
    assert written_as_names(question, ["## Status codes\n\nSee below."]) == []
    assert written_as_names(question, ["Its Status is shown."]) == ["status"]
    # a CSV row's first cell is as often a name
    brevo = written_as_names("since which version is Brevo in?", ["name,port\nBrevo,587\n"])
    assert brevo == ["brevo"]


def test_a_program_named_in_backticks_before_its_version() -> None:
    """ "which ffmpeg version" is answered by "needs `ffmpeg` 5.0": the name's closing
    backtick may stand between it and its version."""
    wants = answer_type("which ffmpeg version do I need for transcoding?")
    assert wants is not None
    assert wants.search("Transcoding needs `ffmpeg` 5.0 or newer.")
    assert wants.search("needs ffmpeg 6.0")
    assert not wants.search("Transcoding needs `ffmpeg` on the `PATH`, version 5 or newer.")


def test_a_present_when_is_answered_by_what_happens() -> None:
    """ "when does a smart playlist get updated?" is answered by "after every scan"; "When
    was the bridge opened?" wants a date."""
    now = answer_type("when does a smart playlist get updated?")
    then = answer_type("When was the bridge opened?")
    assert now is not None and then is not None
    assert now.search("A smart playlist is refreshed after every scan.")
    assert not then.search("A smart playlist is refreshed after every scan.")
    assert then.search("It opened on 4 March 1890.")


def test_asked_who_a_person_goes_before_a_thing() -> None:
    """Asked who, a close runner-up naming a person ("Sir Barton") goes before a best
    sentence naming only a thing ("the Run for the Roses"); a best naming a person stays."""
    question = "Who was the first Triple Crown winner?"
    thing = "The winner is draped in roses, hence the nickname the Run for the Roses."
    person = "Sir Barton was the first horse to win all three, in 1919."
    assert named_first([0, 1], [2.0, 1.7], [thing, person], question) == [1, 0]
    other = "Johnny Loftus rode the winner of the first race in 1919."
    assert named_first([0, 1], [2.0, 1.7], [other, person], question) == [0, 1]


def test_a_day_of_the_month_and_every_thing_count_nothing() -> None:
    """ "how many Roman soldiers died" is not answered by "on 2 August 216 BC", nor "how many
    tigers are left" by "Every tiger's stripes are unique"; "every 30 seconds" still counts
    times, and a number of Romans counts Romans."""
    cannae = "On 2 August 216 BC a larger Roman army was surrounded; Paullus was killed."
    stripes = "A lion's roar carries 8 kilometres. Every tiger's stripes are unique."
    assert declined("how many Roman soldiers died at Cannae?", quoted=[cannae], **ONE_EN_PAGE)
    assert declined("how many tigers are left in the wild?", quoted=[stripes], **ONE_EN_PAGE)
    retries = declined("how many times does it retry?", quoted=["every 30 seconds"], **ONE_EN_PAGE)
    assert retries is None
    died = "On 2 August 216 BC about 50,000 Romans died."
    assert declined("how many Romans died at Cannae?", quoted=[died], **ONE_EN_PAGE) is None


def test_a_paragraphs_first_word_is_no_name() -> None:
    """ "Run" opening a paragraph after a code block is capitalized as a sentence's first
    word: "can I run it on windows?" names nothing."""
    page = "```sh\ntealbox serve\n```\n\nRun `tealbox check` to test the file."
    assert written_as_names("can I run the server on windows?", [page]) == []
