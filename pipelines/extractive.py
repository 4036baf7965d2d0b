"""Extractive answers: grounded by construction, for models too small to write faithfully.

``ExtractiveAnswerer.compose`` answers with the sources' own sentences, each followed by its
``[n]``, so nothing in the answer is invented: no command, number or name the sources do
not contain, and Korean sources give Korean answers. It scores every statement (sentence,
code line, table row: ``statements``) of the numbered sources against the question by:

* **coverage** of the question's content terms, weighted by rarity, in the sentence (its
  section's title and table header count as said by it), its source and its neighbours;
* **meaning**: the embedder's cosine, in the languages it covers, of the sentence alone and
  read under its heading;
* the **answer type** asked (a number in a unit, a date, a version, a default, a name written
  as code, a path, a win, an age: ``answer_types``), names written as code, a document name
  the question gives (or a word the sources write only as a name), restatements of the
  question, and the source's retrieval rank.

The best statement is the answer; a neighbour joins when it completes it (a pronoun, a reason,
a default, a reply: ``companions.companions``), and a second statement when it scores
nearly as well. It abstains with "the sources do not say" in the question's language when the
best sources cover too little of the question, no sentence comes close in meaning
(``cosine_floor``), the question names something no source writes, or the type asked for (a
quantity, a date, a default, a kind of place, 하한 not 상한: ``type_gate``) is not in what would be
quoted; ``Composed.reason`` says which.

Every rule, the settings' defaults and what each measured on the tuning sets when it landed:
``pipelines/extractive.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from rag.chunking import detect_lang
from rag.embeddings import covers, languages_of, vocabulary_of
from rag.keywords import has_hangul, latin_words, related_morphemes
from rag.pipelines.answer_events import (
    asks_cause,
    asks_precedence,
    cause_bonus,
    reasons_given,
    stated_first,
)
from rag.pipelines.answer_people import asks_who_did, named_first
from rag.pipelines.answer_settings import setting_line
from rag.pipelines.answer_types import (
    ASKS_DEFAULT,
    LEANS_DEFAULT,
    SAYS_DEFAULT,
    answer_type,
    code_names,
)
from rag.pipelines.clauses import number_clauses
from rag.pipelines.companions import companions, in_reading_order
from rag.pipelines.composed import Composed, abstained, quoted_answer
from rag.pipelines.extractive_rules import (
    HOW,
    Candidate,
    Related,
    asked_terms,
    bigrams,
    documents,
    echoes,
    held,
    how_bonus,
    names_unwritten,
    related_cover,
    said_once,
    sentences_before,
    threads,
    weights,
    with_prefixes,
)
from rag.pipelines.faqs import (
    answers_for_questions,
    asked_alike,
    asks_what_not_way,
    asks_whether,
    unreplied,
    yes_no_entry,
)
from rag.pipelines.grounding import Terms
from rag.pipelines.meaning import calibrated_floor, question_cosines, statement_meaning
from rag.pipelines.prompt import simple_terms
from rag.pipelines.spelling import folded, respelled
from rag.pipelines.statements import (
    body,
    code_line,
    fragment,
    name,
    opening_title,
    statements,
    table_header,
    title,
)
from rag.pipelines.subjects import (
    written_as_names,
)
from rag.pipelines.type_gate import blanker, declined, gives_default, writes_code
from rag.types import Citation


class ExtractiveAnswerer:
    """Answers with the best source sentences (see the module docstring)."""

    def __init__(
        self,
        terms: Terms | None = None,
        embedder: Any = None,
        *,
        min_coverage: float = 0.19,
        min_cosine: float = 0.6,
        second_ratio: float = 0.9,
        follow: bool | frozenset[str] = frozenset({"ko", "en"}),
        rank_weight: float = 0.02,
        type_weight: float = 0.3,
        meaning_weight: float = 0.7,
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
        floorless_coverage: float = 0.6,
        long_question: int = 14,
        long_margin: float = 0.05,
        untyped_margin: float = 0.08,
        name_gate: bool = True,
        code_weight: float = 0.2,
        named_weight: float = 0.5,
        faq_cosine: float = 0.8,
        restate_weight: float = 0.3,
        related: Related | None = related_morphemes,
        related_weight: float = 0.5,
        related_gate: float = 0.5,
        yes_no_weight: float = 0.4,
        number_clauses: bool = True,
    ) -> None:
        self.terms = terms or simple_terms
        self.embedder = embedder
        self.languages = languages_of(embedder) if embedder is not None else None
        self.min_coverage = min_coverage
        self.min_cosine = min_cosine
        self.second_ratio = second_ratio
        self.follow = follow
        self.cosine_floor = cosine_floor if cosine_floor is not None else calibrated_floor(embedder)
        self.known_words = vocabulary_of(embedder)
        self.bigram_weight = bigram_weight
        self.bigram_languages = bigram_languages
        self.gate_sources = gate_sources
        self.type_gate = type_gate
        self.follow_when = follow_when
        self.lenient_coverage = lenient_coverage
        self.lenient_margin = lenient_margin
        self.floorless_coverage = floorless_coverage
        self.long_question = long_question
        self.long_margin = long_margin
        self.untyped_margin = untyped_margin
        self.name_gate = name_gate
        self.faq_cosine = faq_cosine
        self.related = related
        self.related_weight = related_weight
        self.related_gate = related_gate
        self.number_clauses = number_clauses
        # one weight per feature ``compose`` scores a statement by, in its order
        self.score_weights = (
            1.0,  # the statement's weighted share of the question's terms
            0.3,  # its source's share
            source_weight,  # its source's share, terms weighted by rarity among sources
            0.2,  # the better neighbour's share
            meaning_weight,  # meaning: cosine, alone or under its heading
            sentence_bigram_weight,  # the question's character bigrams it holds
            1.0,  # a "how" question's answer shape (a command, steps), a "why" one's (a cause)
            code_weight,  # the question's code names it writes
            type_weight,  # the answer type asked for
            type_weight,  # a default, to a question asking one
            -rank_weight,  # its source's retrieval rank (0 best)
            -named_weight,  # its source lacks a document name the question gives
            -restate_weight,  # it only restates the question
            related_weight,  # Korean words close in meaning to the question's
            -0.3,  # a bare line of code, to a yes/no question: it says neither yes nor no
            -yes_no_weight,  # an FAQ's yes/no entry, to a question asking what or how
        )

    def compose(self, question: str, citations: Sequence[Citation], *, lang: str) -> Composed:
        """The answer to ``question`` from the numbered ``citations`` (best first)."""
        if lang == "en" and self.known_words:  # "conection" read as the sources' "connection"
            # the sources are read only when a question word is unknown (a generator)
            texts_read = (f"{title(c)} {c.text}" for c in citations)
            question = respelled(question, texts_read, self.known_words)
        candidates: list[Candidate] = []
        seen: set[str] = set()
        echo = echoes(question)
        bodies = [body(c) for c in citations]
        for i, chunk in enumerate(bodies):
            heading = opening_title(chunk)  # a record's long title line, not a statement
            for j, text in enumerate(statements(chunk)):
                opens = j == 0 and (fragment(text, chunk) or text == heading)
                if text in seen or opens or echo(text):
                    continue  # overlapping chunks repeat sentences; a chunk may start mid-way
                seen.add(text)
                candidates.append(Candidate(i, j, text))
        if not candidates:
            return abstained(lang, reason="the sources hold no sentence to quote")
        n, m = len(candidates), len(citations)
        stated = [c.text for c in candidates]
        # a line holding the whole question (an example command) neither answers it nor
        # tells which source does
        texts = [
            "\n".join(line for line in c.text.splitlines() if not echo(line)) for c in citations
        ]
        # a table's header names what each row's cells are: it is said by every row
        headers = [table_header(chunk) for chunk in bodies]
        titles = [f"{title(c)} {h}".strip() for c, h in zip(citations, headers, strict=True)]
        names = [name(c) for c in citations]
        read = [*stated, *texts, *titles, *names]
        korean = has_hangul(question)
        if not korean:
            # a question without Hangul shares only Latin words and numbers with a Korean
            # text: read those alone, without loading kiwi (2-3 s and ~500 MB on a cold start)
            read = [latin_words(t) for t in read]
        term_lists = folded(self.terms([question, *read]))
        q_terms = asked_terms(question, term_lists[0])
        term_lists = [with_prefixes(q_terms, t) for t in term_lists]
        sent_terms = [set(t) for t in term_lists[1 : 1 + n]]
        # a statement whose every term the question already holds (`think: 800ms` to "... when
        # think is 800ms, or is there some randomness?") tells an English asker nothing new;
        # to a yes/no question restating it is the answer ("There is no telemetry")
        whether = asks_whether(question)
        wh = not korean and asks_what_not_way(question)
        restates = (
            [False] * n
            if korean or whether
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
            return abstained(lang, reason="the question has no word to look for")

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
        meant = statement_meaning(
            lambda texts: question_cosines(self.embedder, self.languages, question, texts, lang),
            stated,
            read_k,
            [titles[titled[c.source]] for c in candidates],
            self.cosine_floor,
            [headers[c.source] for c in candidates],
            question,
        )
        cosines = meant.cosines if meant is not None else None
        ranked = meant.ranked if meant is not None else None
        closeness = meant.closeness if meant is not None else None
        grams_apply = closeness is None and lang in self.bigram_languages
        q_grams = bigrams(question) if grams_apply else frozenset()
        gate_cov = [cover(t, plain) for t in doc_terms]
        # Korean words close in meaning (kiwi's embeddings: 남성 for 남자) count for part of a
        # question term a sentence or source lacks
        related = self.related if korean else None
        if related is not None and self.related_gate:
            gate_cov = [
                cv + self.related_gate * related_cover(q_terms, t, plain, related)
                for cv, t in zip(gate_cov, doc_terms, strict=True)
            ]
        related_share = (
            [related_cover(q_terms, t, weight, related) for t in sent_terms]
            if related is not None and self.related_weight
            else [0.0] * n
        )
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
            return abstained(lang, coverage, closeness, why)
        code = code_names(question)  # the gate's keys, then the ranking's code names
        missing = names_unwritten(question, code, texts, titles, names) if self.name_gate else []
        if missing:  # the sources never name what was asked
            why = f"no source mentions {', '.join(missing)}"
            return abstained(lang, coverage, closeness, why)
        floor = self.cosine_floor
        if coverage >= self.floorless_coverage:
            floor = 0.0  # the best document holds nearly all of what was asked: not near-topic
        elif coverage >= self.lenient_coverage:
            floor -= self.lenient_margin  # the best document says most of what was asked
        elif len(question.split()) >= self.long_question:
            # a long question ("Rolling back prod from a script hangs waiting for me to type
            # the DB name. How do I skip that?") spreads its meaning over many words, and no
            # one sentence comes as close to all of it as to a short question
            floor -= self.long_margin
        wants = answer_type(question)
        if wants is None and not whether and not asks_who_did(question):
            # a question asking no number, date, code or name, nor yes or no ("how do I ...",
            # "what happens if ...") is put in words unlike its answer's more often than not
            floor -= self.untyped_margin
        if closeness is not None and closeness < floor and not foreign[best_doc]:
            # no sentence means what was asked (a foreign page the terms found best is judged
            # on its terms alone, as without an embedder)
            why = f"no sentence comes close in meaning (cosine {closeness:.2f} < {floor:.2f})"
            return abstained(lang, coverage, closeness, why)
        by_source: dict[int, list[int]] = {}
        for k, cand in enumerate(candidates):
            by_source.setdefault(cand.source, []).append(k)
        threads(citations, by_source)  # a document's chunks that touch read as one
        # the title's bigrams count as the sentence's, as its terms do
        heads = [titles[titled[i]] for i in range(m)]
        # a question naming a document ("Which port does logship use?") is not answered by
        # another's sentence, however well it matches ("vanefly listens on port 7311")
        named = q_terms & set().union(*name_terms)
        proper = written_as_names(question, texts)  # none for a Korean question
        if proper:  # a word the sources write only as a name ("Vegemite") names one too
            named |= q_terms & set().union(*map(set, folded(self.terms(proper))))
        unnamed = [
            bool(named - doc_terms[i] - set().union(*(title_terms[j] for j in docs[i])))
            for i in range(m)
        ]
        how = HOW.search(question) is not None
        cause_asked = lang == "en" and asks_cause(question)
        asks_default = lang == "en" and ASKS_DEFAULT.search(question) is not None
        leans_default = asks_default or (
            lang == "en" and LEANS_DEFAULT.search(question) is not None
        )
        defaults = (
            [gives_default(c.text, code, headers[c.source], bodies[c.source]) for c in candidates]
            if leans_default
            else [False] * n
        )
        blank = blanker(question)  # a number the question writes is no answer
        reasons = (
            reasons_given(
                stated,
                q_terms,
                lambda parts: [
                    set(with_prefixes(q_terms, t))
                    # read as the statements were: Latin words alone for a question without Hangul
                    for t in folded(self.terms(parts if korean else list(map(latin_words, parts))))
                ],
            )
            if cause_asked
            else [False] * n
        )
        features: list[tuple[float, ...]] = []
        for k, cand in enumerate(candidates):
            siblings = by_source[cand.source]
            at = siblings.index(k)
            neighbours = [sent_cov[siblings[a]] for a in (at - 1, at + 1) if 0 <= a < len(siblings)]
            features.append(
                (
                    sent_cov[k],
                    src_cov[cand.source],
                    src_rare_cov[cand.source],
                    max(neighbours, default=0.0),
                    ranked[k] if ranked is not None else 0.0,
                    held(q_grams, f"{heads[cand.source]} {cand.text}") if grams_apply else 0.0,
                    how_bonus(cand.text)
                    if how
                    else cause_bonus(cand.text, reasons[k])
                    if cause_asked
                    else 0.0,
                    sum(written in cand.text for written in code) / len(code) if code else 0.0,
                    float(wants is not None and wants.search(blank(cand.text)) is not None),
                    float(defaults[k]),
                    float(cand.source),
                    float(unnamed[cand.source]),
                    float(restates[k]),
                    related_share[k],
                    float(whether and code_line(cand.text)),
                    float(wh and yes_no_entry(cand.text)),
                )
            )
        scores = weighted(features, self.score_weights)
        order, scores = answers_for_questions(
            sorted(range(len(candidates)), key=lambda k: (-scores[k], k)),
            scores,
            candidates,
            by_source,
        )
        if not order:
            return abstained(lang, coverage, closeness, "the sources only ask questions")
        if lang == "en" and self.type_gate and asks_who_did(question):
            order = named_first(order, scores, stated, question)
        if lang == "en" and self.type_gate and asks_precedence(question):
            order = stated_first(order, scores, stated)
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
            default=SAYS_DEFAULT if leans_default else None,
            follow=follow and self.follow_when == "always",
            follow_continuing=follow and self.follow_when == "continues",
            second_ratio=self.second_ratio,
            same_source_second=alike is not None,
            meaning=cosines,
            floor=self.cosine_floor,
        )
        line = setting_line(stated[order[0]], stated, order)
        if line is not None and line not in chosen:  # "`key` is how often ..." and its value
            chosen = in_reading_order([*chosen, line], candidates, by_source)
        chosen = said_once(chosen, order[0], candidates)
        best = candidates[order[0]]
        if self.type_gate:
            unsaid = declined(
                question,
                lang,
                quoted=[candidates[k].text for k in chosen],
                before=sentences_before(chosen, candidates, by_source),
                heads=[heads[candidates[k].source] for k in chosen],
                headers=[headers[candidates[k].source] for k in chosen],
                foreign=page_lang[best.source] != lang,
                prose=not any(writes_code(texts[candidates[k].source]) for k in chosen),
            )
            if unsaid is not None:  # the sources talk about the topic but do not say
                return abstained(lang, coverage, closeness, unsaid)
        thread = by_source[best.source]
        at = thread.index(order[0])
        after = thread[at + 1] if at + 1 < len(thread) and thread[at + 1] in chosen else None
        gives = [order[0], *(k for k in (after, line) if k is not None)]
        if self.type_gate and asks_default and not any(defaults[k] for k in gives):
            # asked what holds when nothing is set, neither the best sentence, the one right
            # after it (which joined to give it: "When it is not set, the cap is ...") nor
            # the line setting the key it explains says a default: the sources describe the
            # setting without giving one (a sentence elsewhere may give another setting's)
            why = "the closest sentence gives no default"
            return abstained(lang, coverage, closeness, why)
        quoted = [
            (unreplied(candidates[k].text, question), citations[candidates[k].source].number)
            for k in chosen
        ]
        if korean and self.number_clauses:
            cut = number_clauses(question, [text for text, _ in quoted])
            quoted = [
                (text, n) for text, (_, n) in zip(cut, quoted, strict=True) if text is not None
            ]
        return quoted_answer(quoted, coverage, closeness)


def weighted(features: Sequence[tuple[float, ...]], by: Sequence[float]) -> list[float]:
    """Each statement's score: its features summed with the weights ``by``."""
    return [sum(w * f for w, f in zip(by, fs, strict=True)) for fs in features]
