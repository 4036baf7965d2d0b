"""A sentence explaining a key ("`keep_backups` is how many ...") is quoted with the line that
sets it (``keep_backups = 10``): the pair answers what the key is set to
(rag.pipelines.answer_settings)."""

from __future__ import annotations

from citation_helpers import answer_from

from rag.pipelines.answer_settings import defined_key, setting_line
from rag.pipelines.answer_types import answer_type

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
