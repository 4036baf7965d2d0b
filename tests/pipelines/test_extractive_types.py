"""Answer-type gates: a price asked without "how much" wants a sum of money, a weight asked
wants a weight, and the sums and weights sentences write are recognised."""

from __future__ import annotations

from citation_helpers import cite

from rag.keywords import KeywordTokenizer
from rag.pipelines.answer_types import MONEY, WEIGHT, said_pattern, wants_quantity
from rag.pipelines.extractive import ExtractiveAnswerer


def test_a_price_asked_with_what_wants_a_sum_of_money() -> None:
    """ "What does each extra seat cost?" and "sundial price?" ask for a sum as "how much"
    does; a currency code after or before the number is one ("9 EUR", "USD 12")."""
    for question in (
        "What does each additional seat cost on the hosted plan?",
        "What price per pound did the merchant get for his ice?",
        "sundial price?",
    ):
        assert wants_quantity(question), question
        assert said_pattern(question) is MONEY, question
    assert MONEY.search("It costs 9 EUR per month, plus 2 EUR per extra seat.")
    assert MONEY.search("USD 12 a year") and MONEY.search("5 euros")
    assert not MONEY.search("In 1806 he shipped ice to five European ports.")


def test_a_weight_asked_is_not_answered_by_a_launch_year() -> None:
    """ "How much did each probe weigh?" is not answered by the year it was launched: the
    sentence must give a weight. "How much weight do beans lose?" asks a share, any number."""
    question = "How much did each Voyager probe weigh at launch?"
    assert said_pattern(question) is WEIGHT
    assert said_pattern("What did the bell weigh?") is WEIGHT
    assert said_pattern("How heavy is the bell?") is WEIGHT
    assert said_pattern("How much weight do coffee beans lose in roasting?") is not WEIGHT
    assert WEIGHT.search("Each probe weighed about 825 kg.") and WEIGHT.search("2.7 grams")
    page = cite(
        1,
        "Voyager\n\nThe two Voyager probes were launched from Cape Canaveral in 1977, Voyager 2 "
        "first on 20 August and Voyager 1 on 5 September.",
        heading=("Voyager",),
    )
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    declined = answerer.compose(question, [page], lang="en")
    assert declined.abstained and "number" in declined.reason, declined
    weighed = cite(
        1, page.text + " Each probe weighed about 825 kg at launch.", heading=("Voyager",)
    )
    assert "825 kg" in answerer.compose(question, [weighed], lang="en").text
