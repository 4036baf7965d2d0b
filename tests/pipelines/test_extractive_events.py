"""Events and kinds of value a question asks for: who won (and of which contest), how old
someone was at the time, an HTTP status, the size of a download, a place in an app's menus, a
default "out of the box", a name the sources write only as a name, and a sentence quoted
once (rag.pipelines.answer_events, rag.pipelines.answer_types, rag.pipelines.type_gate,
rag.pipelines.subjects, rag.pipelines.extractive)."""

from __future__ import annotations

from citation_helpers import answer_from, answer_under, cite, declined_until_stated

from rag.pipelines.answer_events import WON, asks_age, asks_which_wins, asks_who_won
from rag.pipelines.answer_types import answer_type, said_pattern
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.subjects import written_as_names


def test_who_won_is_answered_by_a_win() -> None:
    """ "Who won the first Ordway Regatta?" is not answered by where it began: the quoted
    sentences (or the ones before them) say a win; the next sentence joins when it does."""
    assert asks_who_won("who won the first women's race in 1927?")
    assert asks_who_won("Which landlocked country has won the Ordway Cup?")
    assert not asks_who_won("set in the file and as an env var, which one wins?")
    assert WON.search("In 2013 Team Vell came back to beat Team Ord 9-8.")
    declined_until_stated(
        "Who won the first Ordway Regatta?",
        "The first Ordway Regatta began in 1927 on the river Isel at Ordham.",
        lang="en",
        reason="do not say who won",
        stated=" The crew of Ordham College won it by two lengths.",
        answer="Ordham College won",
    )


def test_a_win_said_of_another_contest_declines() -> None:
    """Asked who won the first Vell Cup, "the Americans won" (said of the Ordway Cup, which the
    sentence before names) and a win in 1829 (asked of 1927) decline; the title counts as
    naming the contest."""
    page = (
        "The Ordway Cup is a golf match between Europe and the United States. "
        "The first match was played in 1927 in Worcester, and the Americans won. "
        "The women's equivalent, the Vell Cup, began in 1990 in Florida."
    )
    answer = answer_from("Who won the first Vell Cup?", page)
    assert answer.abstained and "vell cup" in answer.reason, answer
    told = answer_from(
        "Who won the first Vell Cup?", page + " Europe won the first Vell Cup by 11½."
    )
    assert "Europe won" in told.text, told
    race = "The first race was held in 1829 and won by Ordham. The women's race began in 1927."
    answer = answer_from("who won the first women's race in 1927?", race)
    assert answer.abstained and "1927" in answer.reason, answer
    titled = answer_under(
        "Which landlocked country has won the Ordway Cup?",
        "Vellmark first won in 1995, and in 2003 Alpia took the cup home.",
        ("The Ordway Cup",),
    )
    assert not titled.abstained, titled


def test_which_setting_wins_ranks_the_precedence_without_requiring_one() -> None:
    """ "Which one wins?" asks for a precedence: the sentence saying a variable beats the file
    joins the one naming both, and sources saying it otherwise are not declined."""
    question = "if I set max_checks in ord.toml and as an env var, which one wins?"
    assert asks_which_wins(question) and not asks_who_won(question)
    assert answer_type(question) is WON
    page = (
        "Any key in `ord.toml` can also be set from the environment: upper-case it and add "
        "the `ORD_` prefix, for example `ORD_MAX_CHECKS=5`. An environment variable beats the "
        "file, and a command-line flag beats both."
    )
    told = answer_from(question, page)
    assert "beats the file" in told.text, told
    plain = "`max_checks` in `ord.toml` can also be set as an env var; the env var is used."
    assert not answer_from(question, plain).abstained


def test_how_old_someone_was_asks_for_an_age() -> None:
    """ "How old was Ada Ordway when she died?" is not answered by the year she died; "aged
    64", "21 years old", "an 11-year-old" and "at the age of 80" are ages. How old a thing was
    is not asked this way."""
    assert asks_age("how old was the girl who named the comet?")
    assert not asks_age("How old did carbon dating say the shroud was?")
    age = said_pattern("how old was Ada Ordway when she died?")
    for text in ("aged 64", "then only 21 years old", "an 11-year-old girl", "at the age of 80"):
        assert age.search(text), text
    assert not age.search("She died at 9 pm in 1871.")
    declined_until_stated(
        "How old was Ada Ordway when she died?",
        "Ada Ordway died in 1871 in Leeds after a long illness.",
        lang="en",
        reason="no number",
        stated=" Ada Ordway was aged 64 when she died.",
        answer="aged 64",
    )


def test_an_http_status_and_the_size_of_a_download() -> None:
    """An HTTP status is three digits from 100 to 599 (not an exit code's "3" nor "5 MB"); how
    big a tarball or a feed's XML may be asks for a size in bytes, not a version."""
    status = said_pattern("what HTTP status does the server send when an import is too big?")
    assert status.search("Too large a file gets 413.")
    assert not status.search("`import` exits 3 if the file is not valid; at most 5 MB.")
    size = said_pattern("how big is the ordfeed linux tarball?")
    assert size.search("The tarball is 14 MB.")
    assert not size.search("`tar -xzf ordfeed-2.3.1-linux-amd64.tar.gz`")
    xml = said_pattern("how large can a single feed's XML be before ordfeed refuses it?")
    assert xml.search("Feeds larger than 8 MB are refused.")
    assert not xml.search("Each feed takes about 2 seconds per item.")


def test_where_in_the_ui_wants_a_place_in_the_menus() -> None:
    """ "Where in the web UI do I make an API key?" is answered by "under **Settings → Apps**",
    as a path answers where a file is."""
    where = answer_type("where in the web UI do I make an api key?")
    assert where is not None and where.search("Create a key under **Settings → Apps** or with:")
    assert where.search("Keys live in /var/lib/ordfeed/keys.")
    page = (
        "An API key made in the web UI may make 60 requests per minute. "
        "Make an API key under **Settings → Apps**, then copy it into the app."
    )
    told = answer_from("where in the web UI do I make an api key?", page)
    assert "Settings → Apps" in told.text, told


def test_out_of_the_box_prefers_a_default_but_needs_none() -> None:
    """ "What user agent does it send out of the box?" prefers the sentence giving the default;
    "What port does the web UI use out of the box?" is answered by "listens on port 6120",
    which says no default."""
    page = (
        "A: Set ORD_USER_AGENT to another string. It applies to every feed. "
        "`ORD_USER_AGENT` replaces the default `ordfeed/2.3` sent to feed servers."
    )
    told = answer_from("what user agent string does ordfeed send out of the box?", page)
    assert "ordfeed/2.3" in told.text, told
    port = answer_from(
        "What port does the web interface use out of the box?",
        "The web UI listens on port 6120. Port 6121 is for uploads.",
    )
    assert "6120" in port.text, port


def test_a_word_the_sources_write_only_as_a_name_names_the_source() -> None:
    """ "who invented ordmite" is not answered by "The mouse was invented at ...": the sources
    write Ordmite only capitalized, so a source without it is about something else. A word
    also written in lower case, or only inside a longer name ("Women's Boat Race"), is none."""
    texts = [
        "The spread Ordmite was created in 1922 by the chemist Cyril Vell.",
        "The Women's Boat Race began in 1927; the men's race is older.",
        "The plot was found out. The Gunpowder Plot failed.",
    ]
    assert written_as_names("who invented ordmite", texts) == ["ordmite"]
    assert written_as_names("when did the women row", texts) == []
    assert written_as_names("how was the plot found out", texts) == []
    sources = [
        cite(1, "The computer mouse was invented in 1964 at the Ordham Institute."),
        cite(
            2, "Marmite and Ordmite are salty spreads. Ordmite was created in 1922 by Cyril Vell."
        ),
    ]
    told = ExtractiveAnswerer().compose("who invented ordmite", sources, lang="en")
    assert "Cyril Vell" in told.text and "mouse" not in told.text, told


def test_a_sentence_another_quoted_one_holds_is_said_once() -> None:
    """An FAQ's reply that repeats a page's sentence whole does not quote it twice."""
    faq = cite(
        1,
        "Q: Can ordfeed move to PostgreSQL?\nA: Yes. Run ordfeed migrate-db. "
        "It needs PostgreSQL 13 or newer.",
    )
    page = cite(2, "It needs PostgreSQL 13 or newer.")
    told = ExtractiveAnswerer(second_ratio=0.0).compose(
        "Can ordfeed move to PostgreSQL, and which version does it need?", [faq, page], lang="en"
    )
    assert told.text.count("PostgreSQL 13 or newer") == 1, told
