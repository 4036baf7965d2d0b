"""Asked why, a sentence stating a cause ("The cause is the hydrogen bond") goes before one
restating what happens (rag.pipelines.answer_events)."""

from __future__ import annotations

from citation_helpers import answer_from

from rag.pipelines.answer_events import CAUSE_BONUS, asks_cause, cause_bonus, reasons_given


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


def test_that_is_why_brings_what_its_sentence_before_points_to() -> None:
    """ "That is why streams of bubbles rise from the same spots" brings the sentence before
    it, and that one ("... diffuses into that pocket") the sentence naming the pocket: the
    nucleation site is the reason."""
    page = (
        "Bubbles do not form anywhere in the drink. "
        "Each needs a nucleation site: a tiny pocket of gas in a scratch on the glass. "
        "Carbon dioxide diffuses into that pocket until it breaks free and rises. "
        "That is why streams of bubbles rise from the same spots in a glass."
    )
    told = answer_from("Why do bubbles in soda keep coming from the same spots?", page)
    assert "nucleation site" in told.text and "That is why" in told.text, told


def test_what_would_happen_is_quoted_with_what_does_instead() -> None:
    """ "Left alone, it would soon drop back into a hole." says what does not happen: the next
    sentence, "Instead the field sweeps freed electrons ...", is quoted with it; a sentence
    not saying "would" brings no "Instead" after it."""
    from rag.pipelines.companions import corrected

    assert corrected("Left alone, it would drop back.", "Instead the field sweeps it away.")
    assert corrected("Most people assume it lost water.", "In fact it holds as much.")
    assert not corrected("It drops back.", "Instead the field sweeps it away.")
    assert not corrected("Left alone, it would drop back.", "The field sweeps it away.")
    page = (
        "Sunlight knocks an electron loose in a solar cell. "
        "Left alone, it would soon drop back into a hole in the silicon. "
        "Instead the electric field at the junction sweeps freed electrons to one side."
    )
    told = answer_from(
        "In a solar cell, what stops a loose electron dropping back into a hole?", page
    )
    assert "would soon drop back" in told.text and "sweeps freed electrons" in told.text, told


def test_a_cause_then_so_and_the_effect_asked_about_answers_why() -> None:
    """ "Why won't a wet steak brown?" is answered by "Water cannot get hotter than 100 °C,
    so as long as the meat is wet, it steams instead of browning": the consequence after
    "so" is what was asked about. Not "..., so that ..." (a purpose), nor a "so" whose
    consequence shares less of the question than its cause, nor one sharing only a verb
    the question asks with ("make")."""
    page = (
        "A steak laid in a hot pan turns deep brown within minutes, and the crust tastes "
        "far richer than the pale steak beneath it. "
        "Water cannot get hotter than 100 °C at normal pressure, so as long as the surface "
        "of the meat is wet, it steams instead of browning."
    )
    told = answer_from("Why won't a wet steak brown in the pan?", page)
    assert "steams instead of browning" in told.text, told

    def terms(texts: list[str]) -> list[set[str]]:
        return [set(t.lower().strip(".,").split()) for t in texts]

    asked = {"wet", "steak", "brown", "make"}
    assert reasons_given(
        [
            "The pan is hot, so a wet steak cannot brown.",
            "The pan is hot, so that a wet steak cannot brown.",
            "A wet steak is cold, so the pan cools.",
            "The soil is poor, so they make up for it.",
            "A wet steak cannot brown.",
        ],
        asked,
        terms,
    ) == [True, False, False, False, False]
