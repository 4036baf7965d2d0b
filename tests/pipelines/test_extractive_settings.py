"""Settings and designations: a sentence explaining a key ("`keep_backups` is how many ...") is
quoted with the line that sets it (``keep_backups = 10``), a key named for its unit
(`retention_days`) gives a count in it, milliseconds are a time, a span of years says how many
years, and a designation no source
writes (R-410A) is not answered (rag.pipelines.answer_settings, rag.pipelines.answer_types,
rag.pipelines.answer_specs)."""

from __future__ import annotations

from citation_helpers import answer_from, pattern_for, quotes

from rag.pipelines.answer_settings import defined_key, setting_line
from rag.pipelines.answer_specs import unwritten_designations
from rag.pipelines.answer_types import Counted, answer_type, said_pattern

SETTINGS = (
    "dotgrove reads `~/.config/dotgrove/dotgrove.toml`. Every key is optional:\n\n"
    "```toml\n"
    'mode = "link"\n'
    "keep_backups = 10\n"
    "```\n\n"
    "`keep_backups` is how many earlier versions of each overwritten file are kept; "
    "0 keeps none. Run `dotgrove config check` after editing."
)


def test_a_key_explained_in_prose_is_found_in_its_block() -> None:
    """The key a sentence opens by explaining, and the best ranked line setting it (with ``=``
    or ``:``), not a line merely naming it."""
    assert defined_key("`poll_interval` is how often an idle runner asks for work.") == (
        "poll_interval"
    )
    assert defined_key("Set `poll_interval` to 5s.") is None
    texts = [
        "`poll_interval` is how often an idle runner asks for work.",
        "`poll_interval` and `concurrency`",
        'poll_interval = "5s"',
        "poll_interval: 10s",
    ]
    assert setting_line(texts[0], texts, [0, 1, 3, 2]) == 3
    assert setting_line(texts[0], texts, [0, 1, 2, 3]) == 2
    assert setting_line("Set `poll_interval` to 5s.", texts, [0, 1, 2, 3]) is None
    assert setting_line(texts[0], texts[:2], [0, 1]) is None


def test_the_value_is_quoted_with_the_explanation() -> None:
    """Asked how many versions are kept, the answer quotes the explanation and the block's
    ``keep_backups = 10``: the explanation alone does not say ten."""
    told = answer_from("how many earlier versions of an overwritten file are kept?", SETTINGS)
    assert "`keep_backups` is how many" in told.text, told
    assert "keep_backups = 10" in told.text, told


def test_how_long_after_is_answered_in_milliseconds() -> None:
    """ "How long after ..." is answered by "35 milliseconds later" or "200 ms", not by a bare
    number."""
    wants = answer_type("How long after the diaphragm jerks do the vocal cords close?")
    assert wants is not None
    assert wants.search("About 35 milliseconds later the glottis snaps shut.")
    assert wants.search("It answers within 200 ms.")
    assert not wants.search("It has 35 muscles.")


def test_a_key_named_for_its_unit_gives_a_count_in_it() -> None:
    """ "how many days ...?" is answered by "`audit.retention_days`, 90 by default": the key
    names the unit; a key alone, with no number after it, gives none."""
    question = "how many days are rotated audit files kept before they get purged?"
    told = answer_from(
        question,
        "The audit file is rotated at 50 MB and old files are removed after "
        "`audit.retention_days`, 90 by default.",
    )
    assert not told.abstained and "90 by default" in told.text, told
    said = said_pattern(question)
    assert not isinstance(said, Counted)
    assert said.search("kept for 90 days")
    assert not said.search("`retention_days` sets how long files are kept.")


def test_a_designation_no_source_writes_is_not_answered() -> None:
    """Asked about the refrigerant R-410A, pages naming only R-32 do not say; "sha256" is
    written as "SHA-256", and "AVX2" in "AVX2-only"."""
    assert unwritten_designations(
        "at what temperature does the refrigerant R-410A boil?",
        ["The common refrigerant R-32 boils at about -52 °C."],
    ) == ["R-410A"]
    assert unwritten_designations("which sha256 tool?", ["hashes with SHA-256"]) == []
    assert unwritten_designations("does it need AVX2?", ["on AVX2-only CPUs"]) == []
    told = answer_from(
        "at what temperature does the refrigerant R-410A boil?",
        "The common refrigerant R-32 boils at about -52 °C at normal pressure.",
    )
    assert told.abstained and "R-410A" in (told.reason or ""), told


def test_how_many_years_is_answered_by_a_span_of_years() -> None:
    """ "from 1922 to 1990" says how many years something lasted; a single year does not, nor
    does a span of years answer how many days."""
    years = pattern_for("How many years did the longest known case of hiccups go on for?")
    assert years.search("the record belongs to a farmer who hiccupped from 1922 to 1990.")
    assert years.search("a reign of 1536-1541") and years.search("it lasted 68 years")
    assert not years.search("the first case was written up in 1922.")
    assert not pattern_for("How many days did the trial go on for?").search("from 1922 to 1990")
    record = "The longest known case belongs to a farmer who hiccupped from 1922 to 1990."
    asked = "How many years did the longest known case of hiccups go on for?"
    quotes(asked, f"Most bouts of hiccups fade within minutes. {record}", "from 1922 to 1990")


def test_a_file_of_optional_keys_shows_the_defaults() -> None:
    """ "Every key is optional:" above a settings file: its lines are what holds when none is
    set, so "by default, how many earlier versions are kept?" is answered from it; after
    "Every key is optional." (the file an example, not introduced as what holds) it is not."""
    question = "By default, how many earlier versions of an overwritten file does dotgrove keep?"
    quotes(question, SETTINGS, "keep_backups = 10")
    example = SETTINGS.replace("optional:", "optional. For example:")
    declined = answer_from(question, example)
    assert declined.abstained and declined.reason == "the closest sentence gives no default"
