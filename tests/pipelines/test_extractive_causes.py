"""Asked why, a sentence stating a cause ("The cause is the hydrogen bond") goes before one
restating what happens (rag.pipelines.answer_events)."""

from __future__ import annotations

from citation_helpers import answer_from

from rag.pipelines.answer_events import CAUSE_BONUS, asks_cause, cause_bonus


def test_a_why_question_asks_a_cause() -> None:
    """ "why does ...", "what makes ...", "how come ..." ask a cause; "how do I", "what is"
    and "why" inside a name do not."""
    for question in (
        "why doesn't a whole onion make you cry?",
        "Why is the sky blue",
        "what makes frozen water lighter than the liquid?",
        "how come my links are copies?",
    ):
        assert asks_cause(question), question
    for question in ("how do I run it?", "what is the default port?", "who wrote Why Not Me?"):
        assert not asks_cause(question), question
    assert cause_bonus("The cause is the hydrogen bond.") == CAUSE_BONUS
    assert cause_bonus("It floats because it is lighter.") == CAUSE_BONUS
    assert cause_bonus("Ice floats on water.") == 0.0


def test_asked_why_the_cause_is_quoted() -> None:
    """ "what makes frozen water lighter than the liquid?" is answered by "The cause is the
    hydrogen bond", not by the sentences saying that frozen water is lighter."""
    page = (
        "Most things are heavier frozen than liquid. "
        "Water is the exception: frozen, it is lighter and floats. "
        "The cause is the hydrogen bond, which holds frozen water in an open lattice."
    )
    told = answer_from("what makes frozen water lighter than the liquid?", page)
    assert "hydrogen bond" in told.text, told
