"""How counts and sums are written: English number words, a quantity in a sentence, a sum of
money, and whether a question asks for a sum — shared by the answer-type signals
(``rag.pipelines.answer_types``) and the type gate (``rag.pipelines.type_gate``)."""

from __future__ import annotations

import re

_TWO_TO_FIFTY = (
    "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty"
)
NUMBER_WORDS = f"one|{_TWO_TO_FIFTY}"
"""English number words up to fifty as documents write them (a regex alternation); each
pattern below adds what it counts besides (hundreds, "twice", "a few")."""
_ONE = (
    r"(?<!\bno )(?<!\bthe )(?<!\bany )(?<!\bthis )(?<!\bthat )(?<!\beach )(?<!\bsome )"
    r"(?<!\bevery )one(?!\s*[.,;:!?)]|\s+(?:of|another)\b)"
)
""""one" as a number ("one long-lived connection"), not the pronoun ("instead of generating
one.", "no one", "one of the keys")."""
NUMBER = re.compile(
    rf"\d|\b(?:{_TWO_TO_FIFTY}|{_ONE}|hundred|thousand|million|billion|"
    r"half|once|twice|every)\b|"
    r"(?<![가-힣])(?:[한두세네]\s?(?:번|개|시간|달|해)|(?:(?:열|스물|스무|서른|마흔|쉰|예순|일흔|여든|"
    r"아흔)(?:한|두|세|네|다섯|여섯|일곱|여덟|아홉)?\s?|(?:두세|서너|다섯|여섯|일곱|여덟|아홉|수십|수백|"
    r"수천|수만|몇십|몇백)\s?|[한두세네]\s)(?:번|개|시간|달|해|명|살|가지|마리|권|척|자|시|분|초|곳|날|"
    r"주|차례|배|층|줄|년|세기|킬로|미터|그램|리터|퍼센트|만|억|천|백))",
    re.IGNORECASE,
)
"""A quantity or a date in a sentence: digits, number words, Korean native numerals before a
counter or unit (여섯 시간, 스물네 자, 수천 년; 한/두/세/네 apart from the counter, or 한자 and 세자
would count)."""


_MONEY_ASKED = re.compile(
    r"(?:요금|수수료|과태료|벌금|시급|월급|임금|연봉|가격|비용|이자|매출|세금|등록금|보증금|돈|"
    r"(?:상한|하한|지급|금|월|연|총|차|일|보상|지원|납부|환급|청구|최고|최저)액|"
    r"(?:맞는|받는|타는|먹는|드는|하는)\s*데\s*얼마(?!\s*나|\s*동안|\s*걸)|"
    r"[가-힣](?:료|비|대)(?:는|은|가|이|도)?\s*얼마(?!\s*나|\s*동안|\s*걸)|"
    r"\b(?:costs?|prices?|fees?|fares?|charges?|salary|wages?|pa(?:y|ys|id)|money|insured|"
    r"worth|pensions?|rewards?|ransoms?|bount(?:y|ies)|taxe?s?|tolls?|rents?|tuition|"
    r"subsid(?:y|ies)|allowances?|fines?|budgets?)\b)",
    re.I,
)
"""A price, fee, fine or wage named in a question (not 값, which is as often "a value"), an
amount (상한액, 지급액; not 위액 or 혈액), what doing something costs (맞는 데 얼마), or a charge
asked with 얼마 (인지대는 얼마, 보험료가 얼마, 회비는 얼마; not 얼마나)."""
_SUM_ASKED = re.compile(
    r"얼마|\bhow\s+much\b|\bwhat\s+(?:did|does|do|will|would|could)\b[^?]*\bcost\b", re.I
)
"""A question asking an amount (얼마, how much) or what something costs ("What did the radio
cost when it went on sale?"; not "What cost does it log ..."): with a money word, a sum."""
MONEY = re.compile(
    r"[$€£¥₩]\s?\d|\d[\d,.]*\s*(?:만|억|천|백)*\s*(?:(?:thousand|million|billion)\s+)?"
    r"(?:원|달러|엔|유로|위안|파운드|%|퍼센트|프로|"
    r"(?:dollars?|euros?|cents?|won|pounds?|yen|francs?|marks?|lire|lira|rupees?|roubles?|rubles?|"
    r"shillings?|guineas?|pesos?|florins?|ducats?|pence|yuan|krona|kronor|kroner|dinars?)\b)|"
    rf"\b(?:{NUMBER_WORDS}|a|an)\s+(?:(?:hundred|thousand|million|billion)\s+)?(?:dollars?|euros?|"
    r"pounds?|francs?|marks?|lire|rupees?|roubles?|shillings?|guineas?|pesos?|florins?|ducats?|"
    r"pence|crowns?)\b|"
    r"(?:[한두세네]|다섯|여섯|일곱|여덟|아홉|열)\s*"
    r"(?:만|억|천|백)\s*원|(?<![가-힣])(?:[일이삼사오육칠팔구]?(?:십|백|천|만|억)\s*)+원|무료|공짜|"
    r"\bfree\b|no charge|\bcosts? nothing|\d\s*(?-i:EUR|USD|GBP|JPY|KRW|CHF|CNY|CAD|AUD)\b|"
    r"\b(?-i:EUR|USD|GBP|JPY|KRW|CHF|CNY|CAD|AUD)\s?\d",
    re.I,
)
"""An amount of money (or a share of one, a percentage), or "free", in a sentence ("100
million dollars", "12,000 francs", "ten guineas"; an English unit is a whole word: "5
europeans", "3 centuries" hold none; a currency code is in capitals, "9 EUR", "USD 12"; a
Korean sum may be written in words: "만 오천 원", "삼천 원")."""


def asks_sum(question: str) -> bool:
    """A sum of money asked: a money word with 얼마, "how much" or "what did ... cost"; not
    "how much heat do you get for each unit you pay for?", which names what it measures."""
    much = _MUCH_OF.search(question)
    if (
        much is not None
        and not _MORE.fullmatch(much.group(1))
        and not _MONEY_ASKED.search(much.group(1))
    ):
        return False
    return _MONEY_ASKED.search(question) is not None and _SUM_ASKED.search(question) is not None


_MORE = re.compile(r"more|less|extra", re.I)
"""A comparison, not a thing measured: "how much more does calcium chloride cost?"."""
_NOT_A_VERB = r"(?!(?:is|are|was|were|does|do|did|will|would|can|could|should|has|have|had)\b)"
_MUCH_OF = re.compile(
    rf"\bhow\s+much\s+({_NOT_A_VERB}[a-z]+(?:\s+{_NOT_A_VERB}[a-z]+){{0,2}})",
    re.I,
)
"""What "how much" measures, when it names it: "how much heat", "how much extra user cost"
(up to three words, before the verb)."""
