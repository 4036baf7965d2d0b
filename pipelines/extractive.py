"""Extractive answers: grounded by construction, for models too small to write faithfully.

``ExtractiveAnswerer.compose`` answers with the sources' own sentences, each followed by its
``[n]``, so nothing in the answer is invented: no command, number or name the sources do
not contain, and Korean sources give Korean answers. It scores every sentence of the
numbered sources against the question:

* **coverage** — the question's content terms (keyword tokenizer: Korean morphemes, English
  stems; a question without Hangul reads only a Korean source's Latin words and numbers,
  as its own, and never loads kiwi) found in the sentence, each weighted by its rarity
  among the candidate sentences (a term in every sentence tells nothing). The **title** of
  the sentence's section (a page's heading breadcrumb; for a record's later chunks, which
  carry none, the record's title line; ``statements.title``; with a table's header, whose
  column names say what each row's cells are: "Does CockroachDB get transactional DDL?" is
  answered by the row ``CockroachDB,23.1,partial,...`` under ``transactional_ddl``, en-tune5
  and en-tune +1 each, nothing else moved) counts as said by each of its sentences:
  "통풍은 ... 병이다" names the topic once, and the sentence giving the answer ("환자의 약
  90%가 남성") need not repeat it. Without it the topic sentence won questions about a detail;
  with it, on the tuning sets: ko-large tuning half 0.863 -> 0.893,
  its reworded twin 0.812 -> 0.843, ko-large report half 0.835 -> 0.871, ko-tune2 0.773 ->
  0.787, en-tune2 0.863 -> 0.925, en-tune reworded 0.842 -> 0.856, en-tune 0.871 -> 0.863
  (a section heading, "Environment variables", drew one answer to another tool's page);
* a Latin question term of five letters or more matches a term it begins or is the beginning
  of (``with_prefixes``: "postgres" and "PostgreSQL", "config" and "configuration"; no
  stemmer joins them): reworded en-tune 0.856 -> 0.871, other tuning sets unchanged;
* the same coverage of the sentence's whole **source** (a heading or the neighbouring
  sentences often carry the question's words while the answer sentence does not), and of its
  **neighbours**;
* **meaning** — the embedder's cosine between question and sentence, in the languages the
  embedder declares (English for the packaged MiniLM), none otherwise; a Markdown table row
  is as close as its first cell (``row_key``; no tuning answer changed), and a sentence as
  close as it reads under its section's last heading ("Sourdough starters: The bacteria
  outnumber the yeasts ...", which alone does not say what it is about): en-tune4 0.839 ->
  0.871, en-tune and its reworded twin +1 each, en-tune3 and en-tune2 -1 each, en-tune5
  unchanged at 2-4% fewer tokens; +20 ms per answer for the second embedding. The abstention
  gate keeps the sentence's own cosine, the one its floor was chosen on (read under the
  heading everywhere: en-tune5 +1, en-tune2 -2, abstention on en-tune2 0.40 -> 0.30);
* the **answer type**: a question asking for a quantity or date (how many, when, 몇, 얼마)
  prefers sentences holding a number (for how hot / far / fast / heavy, a number in such a
  unit), one asking which flag, command, variable, header or file prefers sentences holding
  such a name written as code or a path, an English "where" question a sentence holding a
  path (``type_weight``; the units and paths: en-tune +3 of 139 questions, Korean unchanged).
  A named version ("which Python version", "minimum postgres version") wants the name
  followed by a number ("Python 3.10", not "macOS 12" beside it) and "how much RAM" a size
  in bytes: en-tune3 0.720 -> 0.773, other tuning sets unchanged; a status or exit code a
  number of one to three digits ("202 Accepted", not the "one line" of a `status` command:
  en-tune4 0.790 -> 0.806, others unchanged). In Korean (``korean_type``)
  언제까지 wants "X까지", 얼마나 걸려 a duration, 둘레가 어느 정도 a length, 몇 km the unit:
  ko-tune2 0.840 -> 0.880, the other Korean tuning sets unchanged. An English question
  asking for a **default** ("if due_days isn't set", "default port") prefers a sentence that
  gives one ("by default", "unless told otherwise", "Default: 50."; ``SAYS_DEFAULT``);
* the source's coverage again with each term weighted by its rarity among the **sources**
  rather than the sentences (``source_weight``): a tool's name repeated across its own page
  tells sentences apart little but sources apart well. On en-tune it raised answer_contains
  from 0.835 to 0.851 (ko-large tuning half: 0.848 -> 0.853; flat from 0.3 to 1.0), mostly
  by letting a second sentence of the strongest source join;
* the share of the **names written as code** in the question (``--store``, ``chroma_url``,
  ``RAG_STORE``, ``rag.toml``) the sentence holds letter for letter
  (``code_weight``; stemmed, the name also matches its word in prose): en-tune3 0.800 ->
  0.813, en-tune 0.863 -> 0.871, the other tuning sets unchanged (0.4: one gained, one lost);
* a sentence whose document lacks a **document name** the question gives (a title opening
  with one word, ``statements.name``: "Which port does logship listen on?" is not answered by
  "vanefly listens on port 7311") loses ``named_weight``: en-tune abstention 0.622 -> 0.649,
  its reworded twin 0.871 -> 0.878, ko-large tuning half 0.888 -> 0.893 (abstention 0.62 ->
  0.66), reworded 0.853 -> 0.858 (0.56 -> 0.58), others unchanged (every title term rather
  than a one-word name: two reworded Korean questions lost to 겨울철 and 지속 in other titles);
* a statement whose every term the question already holds loses ``restate_weight`` (0.3) for
  an English question that is not a plain yes/no one: `think: 800ms` to "... when think is
  800ms, or is there some randomness?" says nothing new, the sentence after it ("jittered by
  ±20%") does; to "Does it send telemetry?", "There is no telemetry" is the answer. Found on
  the fresh en-tune6 (0.645 -> 0.677), no answer on the other tuning sets moved;
* the source's **rank** from retrieval, as a small tie-breaker;
* for ``bigram_languages`` (Korean) without a meaning signal, the share of the question's
  character **bigrams** the sentence holds (``sentence_bigram_weight``): an inflected or
  differently spaced answer sentence shares them where it shares no whole morpheme. The
  title lends its bigrams to each sentence, as it lends its terms: ko-tune2 0.787 -> 0.840
  (false abstention 0.080 -> 0.053), reworded ko-large tuning half 0.843 -> 0.853, ko-large
  tuning half 0.893 -> 0.888 and report half 0.871 -> 0.866 (which second sentence joined).

It reads every source retrieval returned (``top_k``), whole: no prompt is sent, so the
prompt budget does not apply (``QueryPipeline._pack``). On the ko-large tuning half the
500-token budget kept 1.8 Korean sources per question and left the gold answer out of 20
of the 33 failures; reading all four whole and scoring bigrams per sentence raised
answer_contains there from 0.832 to 0.848 (false abstention 0.051 -> 0.041); on en-tune,
0.826 -> 0.835. Whether to abstain is still decided on the ``gate_sources`` (2) best
ranked sources only: a question none of them covers is one retrieval found no answer to,
however well a fourth source happens to match. Gated on all four sources, abstention on
ko-large tuning questions with their gold passage removed fell from 0.77 to 0.65; gated on
the best two, 0.72.

When the question asks for a quantity or a date and the answer's sentences hold no number —
for "몇 km", "몇 명", "몇 퍼센트" no number in that unit or counter (written either way: km or
킬로미터, 번 or 회), for "how many" no count (a measure in another unit, "30 seconds", does not
say how many retries), for "which version" no version number, for a price, a fee or an
amount (수수료가 얼마, how much is the fare, 하한액, 맞는 데 얼마: ko-tune3 abstention 0.45 ->
0.50, nothing else moved) no sum of money, for "언제"/"when" no date or relative time (마지막에,
끓기 전에, in September, every Saturday) — the sources talk about the topic without saying, and
the answer abstains (``type_gate``). On 50 hand-written unanswerable questions in the
ko-large tuning half the gate raised abstention from 0.32 to 0.56 with no change on
answerable ones (ko-large tuning half and en-tune); a number without the unit check: 0.48, at
one more false abstention. The count, version and money checks raised it further, from 0.486
to 0.622 on en-tune and from 0.56 to 0.62 on the ko-large tuning half, nothing else moved.
"How many seconds / days / MB" wants a number in that unit and "how long" a duration or a
length (not "in 1810"), and one asking how long something lives, lasts or takes a time
("It lives up to eight months", not "a journey of 4,000 kilometres": en-tune5 +1 of 62, other
English tuning sets unchanged): abstention on en-tune2's unanswerable questions 0.25 -> 0.40, on the
reworded en-tune 0.595 -> 0.622, no answerable question changed. A question asking for a
default whose best sentence gives none abstains (the setting is described, its default is
not): abstention on unanswerable questions en-tune3 0.133 -> 0.267, en-tune2 0.35 -> 0.40,
en-tune 0.649 -> 0.703, reworded 0.622 -> 0.676; with the ranking preference above,
answer_contains en-tune3 0.813 -> 0.827, en-tune 0.871 -> 0.878, reworded 0.878 -> 0.871
("At most 4 jobs run at the same time" is a default that does not say so); Korean unchanged.
The sentence right after the best one joins when it gives the default the best one does not
("``max_parallel`` caps ..." then "When it is not set, the cap is twice the number of CPU
cores"), and "is left out", "is omitted" ask for one, "if it is unset, the client reads ..."
gives one: en-tune4 0.726 -> 0.758, reworded en-tune 0.871 -> 0.878, others unchanged.
A version ("Python 3.9"), a date or a year ("in 1742", "196 BC") counts nothing, and a length
or a weight ("112 centimetres") is a measure: en-tune abstention 0.703 -> 0.730, nothing else
moved.

A document's retrieved chunks that touch (``Citation.span``, recorded at ingest) read as one
text (``extractive_rules.threads``): the sentence before or after the best one is found
across a chunk boundary, and the answer's sentences keep the document's order. Chunks are
small (a 450-character Korean record makes three or four), and "그래서 ... 절대 경로로
적는다" opened one chunk while its reason closed the chunk before: on the fresh ko-tune3 set
answer_contains 0.652 -> 0.712, ko-large tuning half 0.893 -> 0.904, its reworded twin 0.863
-> 0.868, ko-tune2 unchanged at 0.880 (abstention on unanswerable questions 0.60 -> 0.55,
output tokens +7%: a following sentence now joins from the next chunk), English tuning sets
unchanged. Chunks stored before spans were recorded stay apart until re-ingested.

A statement that holds the whole question (an example command ``rag ask "...?"``) repeats
it and is neither a candidate nor evidence for its source.

A chunk's first line may be the tail of a sentence the chunker cut; it is no candidate when
it starts in lower case. A sentence after a title or heading starts a paragraph and is one,
whatever its case ("logship reads ..." under "## Configuration").

A source's statements are its sentences, each line of a code block, each row of a table
(a Markdown pipe table, or CSV/TSV lines: verbatim, the header left out), and an FAQ's
question lines, which are never the answer: a question among the best candidates stands for
the statement after it, its answer; one close in meaning to the user's (``faq_cosine`` 0.8,
``asked_alike``) puts its reply first: "Which model answers by default?" on ``examples/`` took
another page's "... by default ..." over the FAQ's "Which model answers?" (0.86); no tuning
answer changed (at 0.7 neither). A one-word reply ("No.") stays at the front of the
sentence it opens, and a short remark ("Default: 50.") at the end of the one it comments on
(en-tune +1 question of 139, abstention on questions without their gold record 0.806 ->
0.820; no change on Korean, where three words make a whole clause). The reply is left out of
the quote when the question asks what, which, who ... rather than whether: "No." answers the
FAQ's own yes/no question, and to "What happens to my running timer?" it says the wrong thing
(three en-tune answers lost a misleading "Yes."/"No."; no score changed).

The best sentence is the answer; a sentence that introduces the next (ends with ``:``) takes it
along, one whose subject is a pronoun ("..., it is the smallest living bird") takes the
sentence before it, which says what "it" is (en-tune4 +1 of 62, no other answer changed), a
"why" question answered by "That is why ..." / "이 때문에 ..." takes the sentence before it (the
reason; ko-large tuning half +1 question of 197, no other change), one whose best sentence
gives no reason takes the next when that one does ("because", "so", "slows", 때문, 므로:
en-tune4, reworded en-tune and ko-tune3 +1 each, other sets unchanged, +0.1-0.6% tokens),
one that points back ("..., so set this one", "as above"; in Korean 이를 계기로, 그때까지는,
이때: ko-tune3 0.727 -> 0.758, other Korean tuning sets unchanged in score, +2% Korean
tokens) takes the statement before it (en-tune +1 of 139, no other change), and a second
sentence joins when it scores nearly as well (from another source, only
if it comes close in meaning: ``extractive_rules.companions``).
``follow`` (a bool, or the languages it applies to: Korean and English by default) adds the
next sentence instead — always (``follow_when="always"``), or, by default, when it carries on
from the best one: in Korean it opens with a reference back (이를 ... 라 한다, 그는, 이때) or its
first clause names no subject of its own; in English its subject is a pronoun ("He began to
recover, but ... he died", "Its decay acts as a clock") or it draws a consequence ("Many
species therefore enter torpor"): en-tune4 0.758 -> 0.790 (+2 of 62), en-tune5 0.710 -> 0.742
(+2, from "it"/"its"), the other English tuning sets unchanged at +0.5-2.5% tokens. Always
following raised answer_contains on the ko-large tuning half from 0.797 to 0.832
(Korean passages often name the topic in one sentence and give the answer in the next), and
lowered it on en-tune from 0.882 to 0.824 at 44% more tokens. Following only what carries on
kept the gain at 19% fewer Korean tokens (tuning half: 0.853 either way, 150.8 -> 121.5
tokens; report half of ko-large, used here for tuning: 0.825 -> 0.814, 166.0 -> 129.0).
Whether to abstain is judged on a **document's** retrieved chunks together (same file and
record): a chunk after the first carries neither the title nor the topic its sentences go on
about, and alone it covered too little of a question it answers. On the fresh ko-tune2 set
that raised answer_contains from 0.733 to 0.773 (false abstention 0.12 -> 0.08); ko-large
tuning half 0.858 -> 0.863 (false abstention 0.041 -> 0.020, abstention on unanswerable
questions 0.62 -> 0.60), its report half 0.814 -> 0.835, the reworded twin unchanged at 0.812
(abstention 0.56 -> 0.50); English sets unchanged. The gate weighs the question's terms by
their rarity in what the sentences themselves say, titles left out: counted with the titles,
"pgvector" in every section heading of a lone `stores.md` weighed so little that "How do I
switch to pgvector?" fell under ``min_coverage`` (0.26 now; the tuning sets moved by one
question either way).

When no source covers
``min_coverage`` of the question's weighted terms (and, where the embedder covers the
language, no sentence comes close in meaning), the answer is the honest "the sources do not
say" in the question's language. Where the embedder does not cover the language and it is
one of ``bigram_languages`` (Korean), the match is blended: ``1 - bigram_weight`` of the term
coverage plus ``bigram_weight`` (0.7) of the share of the question's character bigrams
(across word boundaries, interrogatives left out) the best source holds. Korean inflects and
compounds, so an answerable paraphrase shares bigrams where it shares few whole morphemes,
while a near-topic question shares neither. The defaults were chosen on tuning data only: on
the ko-large tuning half, term coverage alone at 0.2 abstained on 5.6% of answerable questions
and on 62% of the same questions with their gold passage removed; the blend at
``min_coverage=0.18`` on 4.6% and 76% (answer_contains 0.832 -> 0.838; at 0.2: 7.1% and 81%);
0.18 and 0.2 answer alike on en-tune. On SciFact train claims (English),
``min_cosine=0.6`` abstains on 6% with the gold documents and 14% without them (scientific
neighbours are close; off-topic questions score far lower). Where the embedder covers the
language, a best sentence closer than ``cosine_floor`` abstains whatever the term coverage
(0.45 for the packaged all-MiniLM-L6-v2, the only cosine scale it was chosen on; no floor for
other embedders unless given): a near-topic question shares words with the sources but no
sentence means what it asks. On en-tune it raised abstention on unanswerable questions (hand-written, and answerable
ones with their gold document removed) from 0.61 to 0.83 at 0.03 false abstention (0.00
before; answer_contains 0.882 -> 0.853); on 150 SciFact train claims, false abstention 3.3% ->
4.7% (0.5 gave 0.89 / 0.06 on en-tune). When the best document covers at least
``lenient_coverage`` (0.5) of the question's weighted terms, the floor is ``lenient_margin``
(0.1) lower: a question whose words the sources mostly hold is less likely near-topic, and a
short answer sentence ("If the URL has no port, the standard 5432 is used") scores a low
cosine against a long question. On en-tune2 0.925 -> 0.950 (false abstention 0.025 -> 0),
en-tune3 0.773 -> 0.800 (0.067 -> 0.040), reworded en-tune false abstention 0.029 -> 0.022;
abstention on unanswerable questions unchanged on all four English tuning sets (the
unanswerable ones under the floor cover 0.41-0.47; waiving the floor outright from 0.5
coverage would have quoted a wrong sentence at cosine 0.32).
The embedder reads only sentences in a language it covers: an English question over a Korean
page (its Latin words and numbers matched: "ignore ... column order" and the flag the page
gives, ``column-order,index-names``) gets no cosine for the page's sentences, which count as
at the floor, and the floor is not applied when the document the words found best is such a
page. Embedded anyway, the Korean sentence scored 0.43 against the question and the answer
abstained: en-tune5 0.742 -> 0.758, the other English tuning sets unchanged; Korean questions
have no meaning signal, so they are unchanged by construction. Units and counters are
checked in the question's language: when the best sentence is from a page in another ("90일"
to "how long by default"), the quantity check asks for a number only.

A Korean question naming something in Latin letters (zsh, UTF-16, lookahead, conda; three
letters or more, units aside) that no retrieved source writes is about something the
sources do not cover, and abstains (``name_gate``, ``extractive_rules.missing_names``):
abstention on unanswerable questions ko-tune2 0.45 -> 0.60, ko-large tuning half 0.56 ->
0.62, its reworded twin 0.48 -> 0.56, no answerable question changed. Not English, where
such words are as often the asker's own ("Thai baht", "RAM", "NAS") as the topic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from rag.chunking import detect_lang
from rag.embeddings import covers, languages_of
from rag.keywords import has_hangul, latin_words
from rag.pipelines.answer_types import (
    ASKS_DEFAULT,
    NUMBER,
    SAYS_DEFAULT,
    answer_type,
    code_names,
    said_pattern,
    wants_quantity,
)
from rag.pipelines.extractive_rules import (
    HOW,
    QUESTION_WORDS,
    Candidate,
    answers_for_questions,
    asked_alike,
    asks_whether,
    bigrams,
    calibrated_floor,
    companions,
    documents,
    echoes,
    held,
    how_bonus,
    missing_names,
    row_key,
    threads,
    unreplied,
    weights,
    with_prefixes,
)
from rag.pipelines.grounding import Terms, abstain_text, attach_markers
from rag.pipelines.prompt import simple_terms
from rag.pipelines.statements import body, fragment, name, statements, table_header, title
from rag.types import AnswerSentence, Citation


@dataclass(frozen=True)
class Composed:
    """An extractive answer: its text, its sentences (all supported by construction, or one
    abstention), and whether it abstained."""

    text: str
    sentences: tuple[AnswerSentence, ...]
    abstained: bool
    coverage: float = 0.0
    """The best source's weighted share of the question's terms (blended with its share of
    the question's character bigrams for ``bigram_languages`` without a meaning signal)."""
    closeness: float | None = None
    """The best sentence's cosine to the question (None: the embedder does not cover the
    question's language)."""
    reason: str = ""
    """Why it abstained, for the reader who wants to check ("" when it answered)."""


class ExtractiveAnswerer:
    """Answers with the best source sentences (see the module docstring)."""

    def __init__(
        self,
        terms: Terms | None = None,
        embedder: Any = None,
        *,
        min_coverage: float = 0.18,
        min_cosine: float = 0.6,
        second_ratio: float = 0.9,
        follow: bool | frozenset[str] = frozenset({"ko", "en"}),
        rank_weight: float = 0.02,
        type_weight: float = 0.3,
        cosine_floor: float | None = None,
        bigram_weight: float = 0.7,
        bigram_languages: frozenset[str] = frozenset({"ko"}),
        sentence_bigram_weight: float = 1.0,
        gate_sources: int = 2,
        source_weight: float = 0.3,
        type_gate: bool = True,
        follow_when: Literal["always", "continues"] = "continues",
        lenient_coverage: float = 0.5,
        lenient_margin: float = 0.1,
        name_gate: bool = True,
        code_weight: float = 0.2,
        named_weight: float = 0.5,
        faq_cosine: float = 0.8,
        restate_weight: float = 0.3,
    ) -> None:
        self.terms = terms or simple_terms
        self.embedder = embedder
        self.languages = languages_of(embedder) if embedder is not None else None
        self.min_coverage = min_coverage
        self.min_cosine = min_cosine
        self.second_ratio = second_ratio
        self.follow = follow
        self.rank_weight = rank_weight
        self.type_weight = type_weight
        self.cosine_floor = cosine_floor if cosine_floor is not None else calibrated_floor(embedder)
        self.bigram_weight = bigram_weight
        self.bigram_languages = bigram_languages
        self.sentence_bigram_weight = sentence_bigram_weight
        self.gate_sources = gate_sources
        self.source_weight = source_weight
        self.type_gate = type_gate
        self.follow_when = follow_when
        self.lenient_coverage = lenient_coverage
        self.lenient_margin = lenient_margin
        self.name_gate = name_gate
        self.code_weight = code_weight
        self.named_weight = named_weight
        self.restate_weight = restate_weight
        self.faq_cosine = faq_cosine

    def compose(self, question: str, citations: Sequence[Citation], *, lang: str) -> Composed:
        """The answer to ``question`` from the numbered ``citations`` (best first)."""
        candidates: list[Candidate] = []
        seen: set[str] = set()
        echo = echoes(question)
        for i, c in enumerate(citations):
            chunk = body(c)
            for j, text in enumerate(statements(chunk)):
                if text in seen or (j == 0 and fragment(text, chunk)) or echo(text):
                    continue  # overlapping chunks repeat sentences; a chunk may start mid-way
                seen.add(text)
                candidates.append(Candidate(i, j, text))
        if not candidates:
            return _abstain(lang, reason="the sources hold no sentence to quote")
        n, m = len(candidates), len(citations)
        # a line holding the whole question (an example command) neither answers it nor
        # tells which source does
        texts = [
            "\n".join(line for line in c.text.splitlines() if not echo(line)) for c in citations
        ]
        # a table's header names what each row's cells are: it is said by every row
        titles = [f"{title(c)} {table_header(body(c))}".strip() for c in citations]
        names = [name(c) for c in citations]
        read = [*(c.text for c in candidates), *texts, *titles, *names]
        if not has_hangul(question):
            # a question without Hangul shares only Latin words and numbers with a Korean
            # text: read those alone, without loading kiwi (2-3 s and ~500 MB on a cold start)
            read = [latin_words(t) for t in read]
        term_lists = self.terms([question, *read])
        q_terms = set(term_lists[0]) - QUESTION_WORDS
        term_lists = [with_prefixes(q_terms, t) for t in term_lists]
        sent_terms = [set(t) for t in term_lists[1 : 1 + n]]
        # a statement whose every term the question already holds (`think: 800ms` to "... when
        # think is 800ms, or is there some randomness?") tells an English asker nothing new;
        # to a yes/no question restating it is the answer ("There is no telemetry")
        restates = (
            [False] * n
            if has_hangul(question) or asks_whether(question)
            else [bool(t) and not (t - q_terms) for t in sent_terms]
        )
        source_terms = [set(t) for t in term_lists[1 + n : 1 + n + m]]
        title_terms = [set(t) for t in term_lists[1 + n + m : 1 + n + 2 * m]]
        name_terms = [set(t) for t in term_lists[1 + n + 2 * m :]]
        docs = documents(citations)
        # a section's heading, or its document's title, is what each of its sentences is
        # about: a detail sentence need not repeat the topic the question names. A chunk with
        # no title of its own (a record's later chunk) takes its document's.
        titled = [next((j for j in (i, *docs[i]) if titles[j]), i) for i in range(m)]
        topic = [title_terms[titled[i]] & q_terms for i in range(m)]
        plain = weights(q_terms, sent_terms)  # rarity in what the sentences themselves say
        sent_terms = [t | topic[c.source] for t, c in zip(sent_terms, candidates, strict=True)]
        # the gate reads a document's retrieved chunks together: a chunk after the first
        # carries neither the title nor the topic its sentences go on about
        doc_terms = [set().union(*(source_terms[j] for j in docs[i])) for i in range(m)]
        doc_texts = ["\n".join(texts[j] for j in docs[i]) for i in range(m)]
        weight = weights(q_terms, sent_terms)  # rarity among sentences
        if sum(weight.values()) == 0:
            return _abstain(lang, reason="the question has no word to look for")

        def cover(terms: set[str], by: dict[str, float] = weight) -> float:
            return sum(by[t] for t in q_terms & terms) / sum(by.values())

        sent_cov = [cover(t) for t in sent_terms]
        src_cov = [cover(t) for t in source_terms]
        rare_in_sources = weights(q_terms, source_terms)
        src_rare_cov = [cover(t, rare_in_sources) for t in source_terms]
        # the embedder tells nothing about a sentence in a language it does not cover (an
        # English question over a Korean page): such a sentence is not embedded, and counts
        # as at the floor in meaning
        page_lang = [detect_lang(c.text) for c in citations]
        foreign = [self.embedder is not None and not covers(self.languages, x) for x in page_lang]
        read_k = [k for k, c in enumerate(candidates) if not foreign[c.source]]
        keyed = [(k, key) for k in read_k if (key := row_key(candidates[k].text))]
        # one embedding call (the question embedded once) for the sentences and row keys. Each
        # sentence is embedded twice: alone (the abstention gate's closeness: the floor was
        # chosen on it) and under its section's heading, which says what a detail sentence is
        # about ("The bacteria outnumber the yeasts ..." under "Sourdough starters"); ranking
        # takes the closer of the two
        headed = [_under(titles[titled[candidates[k].source]], candidates[k].text) for k in read_k]
        embedded = (
            self._cosines(
                question,
                [
                    *(candidates[k].text for k in read_k),
                    *(key for _, key in keyed),
                    *(h for h in headed if h is not None),
                ],
                lang,
            )
            if read_k
            else None
        )
        cosines: list[float] | None = None
        ranked: list[float] | None = None
        closeness: float | None = None
        if embedded is not None:
            cosines = [self.cosine_floor] * n
            for j, k in enumerate(read_k):
                cosines[k] = embedded[j]
            for j, (k, _) in enumerate(keyed):  # a table row means what its first cell names
                cosines[k] = max(cosines[k], embedded[len(read_k) + j])
            closeness = max(cosines[k] for k in read_k)
            ranked = list(cosines)
            at = len(read_k) + len(keyed)
            for k, h in zip(read_k, headed, strict=True):
                if h is not None:
                    ranked[k] = max(ranked[k], embedded[at])
                    at += 1
        grams_apply = closeness is None and lang in self.bigram_languages
        q_grams = bigrams(question) if grams_apply else frozenset()
        gate_cov = [cover(t, plain) for t in doc_terms]
        if grams_apply:
            # no meaning signal: blend in the share of the question's character bigrams the
            # source holds (robust to inflection, spacing and compounds)
            gate_cov = [
                (1 - self.bigram_weight) * cv + self.bigram_weight * held(q_grams, c)
                for cv, c in zip(gate_cov, doc_texts, strict=True)
            ]
        # the gate's best document (of the ``gate_sources`` best ranked) and its coverage
        best_doc = max(range(min(m, max(1, self.gate_sources))), key=gate_cov.__getitem__)
        coverage = gate_cov[best_doc]
        if coverage < self.min_coverage and (closeness is None or closeness < self.min_cosine):
            why = (
                f"the best sources hold {coverage:.0%} of what the question asks about "
                f"(abstain_below {self.min_coverage:.0%})"
            )
            return _abstain(lang, coverage, closeness, why)
        missing = missing_names(question, texts) if self.name_gate else []
        if missing:  # the sources never name what was asked
            why = f"no source mentions {', '.join(missing)}"
            return _abstain(lang, coverage, closeness, why)
        floor = self.cosine_floor
        if coverage >= self.lenient_coverage:
            floor -= self.lenient_margin  # the best document says most of what was asked
        if closeness is not None and closeness < floor and not foreign[best_doc]:
            # no sentence means what was asked (a foreign page the terms found best is judged
            # on its terms alone, as without an embedder)
            why = f"no sentence comes close in meaning (cosine {closeness:.2f} < {floor:.2f})"
            return _abstain(lang, coverage, closeness, why)
        by_source: dict[int, list[int]] = {}
        for k, cand in enumerate(candidates):
            by_source.setdefault(cand.source, []).append(k)
        threads(citations, by_source)  # a document's chunks that touch read as one
        # the title's bigrams count as the sentence's, as its terms do
        heads = [titles[titled[i]] for i in range(m)]
        # a question naming a document ("Which port does logship use?") is not answered by
        # another's sentence, however well it matches ("vanefly listens on port 7311")
        named = q_terms & set().union(*name_terms)
        unnamed = [
            bool(named - doc_terms[i] - set().union(*(title_terms[j] for j in docs[i])))
            for i in range(m)
        ]
        how = HOW.search(question) is not None
        code = code_names(question)
        wants = answer_type(question)
        asks_default = lang == "en" and ASKS_DEFAULT.search(question) is not None
        scores: list[float] = []
        for k, cand in enumerate(candidates):
            siblings = by_source[cand.source]
            at = siblings.index(k)
            neighbours = [sent_cov[siblings[a]] for a in (at - 1, at + 1) if 0 <= a < len(siblings)]
            score = (
                sent_cov[k]
                + 0.3 * src_cov[cand.source]
                + self.source_weight * src_rare_cov[cand.source]
                + 0.2 * max(neighbours, default=0.0)
                + (0.5 * ranked[k] if ranked is not None else 0.0)
                + (
                    self.sentence_bigram_weight * held(q_grams, f"{heads[cand.source]} {cand.text}")
                    if grams_apply
                    else 0.0
                )
                + (how_bonus(cand.text) if how else 0.0)
                + (
                    self.code_weight * sum(written in cand.text for written in code) / len(code)
                    if code
                    else 0.0
                )
                + (self.type_weight if wants is not None and wants.search(cand.text) else 0.0)
                + (self.type_weight if asks_default and SAYS_DEFAULT.search(cand.text) else 0.0)
                - self.rank_weight * cand.source
                - (self.named_weight if unnamed[cand.source] else 0.0)
                - (self.restate_weight if restates[k] else 0.0)
            )
            scores.append(score)
        order, scores = answers_for_questions(
            sorted(range(len(candidates)), key=lambda k: (-scores[k], k)),
            scores,
            candidates,
            by_source,
        )
        if not order:
            return _abstain(lang, coverage, closeness, "the sources only ask questions")
        alike = asked_alike(candidates, cosines, by_source, self.faq_cosine)
        if alike is not None:  # an FAQ asks what the user asks: its reply answers
            order = [alike, *(k for k in order if k != alike)]
            scores[alike] = max(scores)
        follow = self.follow if isinstance(self.follow, bool) else lang in self.follow
        chosen = companions(
            order,
            scores,
            candidates,
            by_source,
            question=question,
            wants=wants,
            default=SAYS_DEFAULT if asks_default else None,
            follow=follow and self.follow_when == "always",
            follow_continuing=follow and self.follow_when == "continues",
            second_ratio=self.second_ratio,
            same_source_second=alike is not None,
            meaning=cosines,
            floor=self.cosine_floor,
        )
        best = candidates[order[0]]
        if self.type_gate and wants_quantity(question):
            # asked for a quantity (in a unit: 몇 km, 몇 명) or a time (언제, when), the best
            # sentences give none: the sources talk about the topic but do not say
            said = " ".join(candidates[k].text for k in chosen)
            # units and counters are matched in the question's language; a page in another
            # (an English question, a Korean page: "90일") need only hold a number
            said_as = NUMBER if page_lang[best.source] != lang else said_pattern(question)
            if not said_as.search(said):
                why = "the closest sentences give no number, date or amount of the kind asked"
                return _abstain(lang, coverage, closeness, why)
        thread = by_source[best.source]
        at = thread.index(order[0])
        after = thread[at + 1] if at + 1 < len(thread) and thread[at + 1] in chosen else None
        gives = [best.text, *([candidates[after].text] if after is not None else [])]
        if self.type_gate and asks_default and not any(SAYS_DEFAULT.search(t) for t in gives):
            # asked what holds when nothing is set, neither the best sentence nor the one
            # right after it (which joined to give it: "When it is not set, the cap is ...")
            # says a default: the sources describe the setting without giving one (a
            # sentence elsewhere may give another setting's)
            why = "the closest sentence gives no default"
            return _abstain(lang, coverage, closeness, why)
        quoted = {k: unreplied(candidates[k].text, question) for k in chosen}
        sentences = tuple(
            AnswerSentence(
                text=attach_markers(quoted[k], [citations[candidates[k].source].number]),
                citations=[citations[candidates[k].source].number],
                supported=True,
                support=1.0,
            )
            for k in chosen
        )
        return Composed(
            text="\n".join(s.text for s in sentences),
            sentences=sentences,
            abstained=False,
            coverage=coverage,
            closeness=closeness,
        )

    def _cosines(self, question: str, texts: Sequence[str], lang: str) -> list[float] | None:
        if self.embedder is None or not covers(self.languages, lang):
            return None
        q = self.embedder.embed([question], input_type="query")
        s = self.embedder.embed(list(texts), input_type="document")
        return [float(x) for x in (s @ q[0])]


def _under(title: str, text: str) -> str | None:
    """``text`` read under the last heading of its section's ``title`` ("Schedules: ..."),
    None without one."""
    head = title.split(" > ")[-1].strip()
    return f"{head}: {text}" if head else None


def _abstain(
    lang: str, coverage: float = 0.0, closeness: float | None = None, reason: str = ""
) -> Composed:
    text = abstain_text(lang)
    return Composed(
        text=text,
        sentences=(AnswerSentence(text=text, supported=None),),
        abstained=True,
        coverage=coverage,
        closeness=closeness,
        reason=reason,
    )
