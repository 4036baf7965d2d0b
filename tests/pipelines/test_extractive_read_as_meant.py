"""Questions and sentences read as their writers meant them: "he" after an opening clause
names the person before, "without that data" points back, "when I migrate ... do my photos
get copied?" asks no time, "kinds of alligator" counts alligators, a musical key is no config
key, a `max_*` key states a limit, "mac" is "macOS", "came up with" asks who invented, and a
chunk's last two CSV rows are two statements (rag.pipelines.extractive_rules,
rag.pipelines.answer_dates, rag.pipelines.subjects, rag.pipelines.type_gate,
rag.pipelines.statements)."""

from __future__ import annotations

from citation_helpers import ONE_EN_PAGE, answer_from, cite

from rag.pipelines.answer_dates import asks_when_en
from rag.pipelines.answer_types import answer_type
from rag.pipelines.companions import NAMES_IT, POINTS_BACK, means_someone_before
from rag.pipelines.counted import counted_things
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.extractive_rules import asked_terms, with_prefixes
from rag.pipelines.statements import statements
from rag.pipelines.type_gate import declined, writes_code


def test_a_sentence_pointing_back_brings_the_one_before() -> None:
    """Asked who, "Looking at a thin slice of cork, he saw ... cells" (he right after the
    opening clause) is quoted with the sentence before it, which names him; "Pages without
    that data are not guessed at" with the one saying what the data is."""
    assert means_someone_before("Looking at a thin slice of cork, he saw tiny boxes.")
    assert means_someone_before("In 1665 he published it.")
    assert not means_someone_before("Looking at a thin slice of cork, the boxes were plain.")
    assert POINTS_BACK.search("Pages without that data are not guessed at.")
    for question, page, before in (
        (
            "who called the tiny boxes in cork cells?",
            "Orrin Vell, curator at the Ordham Society, published a book of drawings in 1665. "
            "Looking at a thin slice of cork, he saw tiny boxes and called them cells.",
            "Orrin Vell",
        ),
        (
            "import from a blog link fails with 422. what does the page need?",
            "The importer reads the page's `Recipe` data and saves the title and steps. "
            "Pages without that data are not guessed at: the import fails and the API "
            "answers 422.",
            "`Recipe` data",
        ),
    ):
        told = answer_from(question, page)
        assert before in told.text and page.split(". ")[1][:20] in told.text, told


def test_the_sentence_naming_what_the_best_one_describes_joins_it() -> None:
    """ "How do you get to a spot dead upwind?" is answered by the sentence describing the
    zigzag and the next one naming it ("This manoeuvre is called tacking.")."""
    assert NAMES_IT.match("This manoeuvre is called tacking.")
    assert NAMES_IT.match("It is also known as the Maillard reaction.")
    assert not NAMES_IT.match("This boat is fast, and a sailor called it a racer.")
    page = (
        "A sail works like a wing, so a boat can sail across the wind and even slightly "
        "into it. "
        "To reach a place directly upwind, a sailor zigzags, turning the bow through the "
        "wind at each corner. "
        "This manoeuvre is called tacking. "
        "Fast racing boats lifted on hydrofoils can sail faster than the wind itself."
    )
    told = answer_from("How does a sailor reach a place directly upwind?", page)
    assert "zigzags" in told.text and "tacking" in told.text, told


def test_a_when_clause_before_a_yes_no_question_asks_no_time() -> None:
    """ "when I migrate ... do my photos get copied?" asks yes or no, not when: a question
    asking when puts a verb, not its subject, after "when"."""
    migrate = "when I migrate from sqlite to postgres do my photos get copied?"
    assert not asks_when_en(migrate)
    assert not asks_when_en("When the server restarts is the cache cleared?")
    assert asks_when_en("when does the cache expire")
    assert asks_when_en("When was the bridge opened?")
    assert answer_type(migrate) is None
    quoted = ["It copies recipes, plans and users, not photos."]
    assert declined(migrate, quoted=quoted, **ONE_EN_PAGE) is None


def test_kinds_of_a_thing_count_the_thing() -> None:
    """ "how many kinds of alligator" is answered by "two alligator species": what is
    counted is the alligator, whatever the sentence calls its kinds."""
    assert counted_things("how many kinds of alligator are there") == ["alligator"]
    assert counted_things("How many different types of cheese does it make?") == ["cheese"]
    assert counted_things("how many kinds are there?") == ["kinds"]
    question = "how many kinds of alligator are there"
    assert (
        declined(question, quoted=["There are only two alligator species."], **ONE_EN_PAGE) is None
    )
    counted_elsewhere = declined(question, quoted=["Two rivers cross the park."], **ONE_EN_PAGE)
    assert counted_elsewhere is not None and "alligator" in counted_elsewhere


def test_a_musical_key_is_no_config_key() -> None:
    """ "what key is Winter in?" over an article writing no code name asks a musical key;
    over docs that write code names it asks for one."""
    assert not writes_code("Spring is in E major and Winter in F minor.\nIt was published.")
    assert writes_code('Set it in the file:\n`max_photo_size = "10MB"`')
    quoted = ["Spring is in E major and Winter in F minor."]
    assert declined("what key is winter in?", quoted=quoted, prose=True, **ONE_EN_PAGE) is None
    assert "no key" in (declined("what key is winter in?", quoted=quoted, **ONE_EN_PAGE) or "")
    article = cite(1, "The four concertos open Opus 8. Spring is in E major and Winter in F minor.")
    told = ExtractiveAnswerer().compose("what key is winter in?", [article], lang="en")
    assert "F minor" in told.text, told


def test_a_max_key_states_a_limit_unless_it_is_the_one_asked() -> None:
    """ "default max size for a single uploaded photo?" is answered by a config line setting
    `max_photo_size`; asked the highest value `max_parallel` accepts, its default is none."""
    line = ['`max_photo_size = "10MB"   # per uploaded photo`']
    assert (
        declined("default max size for a single uploaded photo?", quoted=line, **ONE_EN_PAGE)
        is None
    )
    asked = "What is the highest value that max_parallel accepts in tarnhook.toml?"
    assert "no limit" in (declined(asked, quoted=["`max_parallel = 8`"], **ONE_EN_PAGE) or "")


def test_mac_names_macos() -> None:
    """ "can I run it on my mac?" asks what "There is no macOS build" says."""
    assert "mac" in with_prefixes({"mac", "run"}, ["there", "is", "no", "macos", "build"])
    assert "mac" not in with_prefixes({"mac"}, ["linux", "build"])
    sources = [
        cite(1, "The ordbox server runs on Linux."),
        cite(2, "There is no macOS build of the ordbox server."),
    ]
    told = ExtractiveAnswerer().compose(
        "can i run the ordbox server on my mac?", sources, lang="en"
    )
    assert "no macOS build" in told.text, told


def test_came_up_with_asks_who_invented() -> None:
    """ "who came up with the Ordham salad" leaves "came" out of what it looks for: "its
    taste came only from the sauce" says nothing of who made it."""
    assert asked_terms("who came up with the ordham salad", ["came", "ordham", "salad"]) == {
        "ordham",
        "salad",
    }
    assert asked_terms("when did the train come", ["train", "come"]) == {"train", "come"}
    # what "the word" names is asked, not the word "word"
    words = asked_terms("who came up with the word ordization", ["came", "word", "ordization"])
    assert words == {"ordization"}
    page = cite(
        1,
        "The Ordham salad is three decades older. It was created in 1893 by the chef Orrin Vell. "
        "The original had no anchovies; their taste came only from the sauce.",
        heading=("Ordham salads",),
    )
    told = ExtractiveAnswerer().compose("who came up with the ordham salad", [page], lang="en")
    assert "Orrin Vell" in told.text, told


def test_a_chunks_last_two_csv_rows_are_two_statements() -> None:
    """A chunk ending a CSV file with two rows (its header in the chunk before) quotes each
    row on its own, not both as one run-on line; two prose lines stay one sentence."""
    rows = (
        "Markdown,.md,yes,no,2.7,1 MB,photos must sit next to the file\n"
        "JSON-LD,.json,yes,yes,3.1,50 MB,schema.org objects"
    )
    assert statements(rows) == rows.splitlines()
    prose = "In 1990, 1991, 1992 and 1993 it grew\nin 2000, 2001, 2002 and 2003 it fell"
    assert len(statements(prose)) == 1
