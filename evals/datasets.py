"""BEIR-format evaluation datasets: ``corpus.jsonl``, ``queries*.jsonl``, ``qrels*.tsv`` and
an optional ``answers.jsonl``.

A dataset directory holds::

    corpus.jsonl      {"id": ..., "title": ..., "text": ...}   one document per line
    queries.jsonl     {"id": ..., "text": ...}                 (or queries.<split>.jsonl)
    qrels.tsv         query-id <TAB> corpus-id <TAB> score      (or qrels.<split>.tsv,
                                                                 or qrels/<split>.tsv)
    answers.jsonl     {"id": <query id>, "answers": [...]}      optional, for answer scoring
                      {"id": ..., "answers": [], "unanswerable": true}

Every error names the file and the line number and is a ``ConfigError`` (the dataset is
the user's input). Qrels naming a document the corpus lacks are warned about and counted,
not fatal; queries without any relevant document are skipped and counted, except those
``answers.jsonl`` marks ``"unanswerable": true``: their answer is not in the corpus, so they
have no qrels on purpose. They go to ``Dataset.unanswerable`` (kept for answer scoring, where
the right answer is an abstention) and never into ``Dataset.queries``, whose retrieval metrics
they would drag down with a recall of zero.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.errors import ConfigError


@dataclass(frozen=True)
class Query:
    """One evaluation question, its graded relevant documents and optional gold answers."""

    id: str
    text: str
    relevant: dict[str, int]
    """Corpus id -> relevance grade (> 0)."""
    answers: tuple[str, ...] = ()
    unanswerable: bool = False
    """The answer is not in the corpus: no relevant document, no gold answer; the right
    response is to say so."""


@dataclass
class Dataset:
    """A loaded BEIR-style dataset, with counts of what was skipped and why."""

    name: str
    root: Path
    corpus_path: Path
    doc_ids: set[str]
    titles: dict[str, str]
    queries: list[Query]
    """Queries with at least one relevant document: the ones retrieval metrics are over."""
    split: str | None = None
    unknown_qrels: int = 0
    """Qrels rows naming a document that is not in the corpus (ignored)."""
    queries_without_qrels: int = 0
    """Queries with no relevant document in the qrels (skipped), not counting unanswerable."""
    warnings: list[str] = field(default_factory=list)
    unanswerable: list[Query] = field(default_factory=list)
    """Queries marked ``"unanswerable": true`` in answers.jsonl (no qrels): for answer
    scoring only, never in retrieval metrics."""

    @property
    def has_answers(self) -> bool:
        return any(q.answers for q in self.queries)

    @property
    def answer_queries(self) -> list[Query]:
        """Every query answer scoring covers: the judged ones, then the unanswerable ones."""
        return [*self.queries, *self.unanswerable]


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, Any]]]:
    """The non-empty lines of ``path`` as JSON objects, with their 1-based line numbers."""
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason}); save it as UTF-8") from None
    rows: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}, line {number}: not valid JSON ({exc.msg}); each line must be one "
                "JSON object"
            ) from None
        if not isinstance(value, dict):
            raise ConfigError(
                f"{path}, line {number}: expected a JSON object, got {type(value).__name__}"
            )
        for name in required:
            if name not in value or value[name] is None:
                raise ConfigError(
                    f"{path}, line {number}: missing field '{name}' (needs {', '.join(required)})"
                )
        rows.append((number, value))
    return rows


def _pick(root: Path, stem: str, ext: str, split: str | None) -> Path:
    """``stem.<split>.ext`` (or ``stem/<split>.ext``) when a split is asked, else ``stem.ext``;
    without a split and without ``stem.ext``, a single ``stem.*.ext`` is taken."""
    if split:
        for candidate in (root / f"{stem}.{split}.{ext}", root / stem / f"{split}.{ext}"):
            if candidate.is_file():
                return candidate
        if stem == "queries" and (root / f"{stem}.{ext}").is_file():
            return root / f"{stem}.{ext}"  # BEIR keeps one queries file for every split
        raise ConfigError(
            f"{root}: no {stem}.{split}.{ext} (nor {stem}/{split}.{ext}) for split '{split}'; "
            "check --split or the file names"
        )
    plain = root / f"{stem}.{ext}"
    if plain.is_file():
        return plain
    found = sorted(root.glob(f"{stem}.*.{ext}"))
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(p.name for p in found)
        raise ConfigError(f"{root}: several {stem} files ({names}); pick one with --split")
    raise ConfigError(
        f"{root}: missing {stem}.{ext} (BEIR format: corpus.jsonl, queries.jsonl, qrels.tsv)"
    )


def _read_qrels(path: Path) -> list[tuple[str, str, int]]:
    rows: list[tuple[str, str, int]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").split("\n"), 1):
        if not line.strip():
            continue
        parts = line.rstrip("\r").split("\t") if "\t" in line else line.split()
        if number == 1 and parts[:2] in (["query-id", "corpus-id"], ["qid", "docid"]):
            continue  # header row
        if len(parts) == 4:  # TREC layout: qid 0 docid score
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            raise ConfigError(
                f"{path}, line {number}: expected 3 tab-separated columns "
                f"(query-id, corpus-id, score), got {len(parts)}"
            )
        try:
            score = int(float(parts[2]))
        except ValueError:
            raise ConfigError(
                f"{path}, line {number}: score {parts[2]!r} is not a number"
            ) from None
        rows.append((parts[0].strip(), parts[1].strip(), score))
    return rows


def load_dataset(root: str | Path, *, split: str | None = None) -> Dataset:
    """Read and cross-check a BEIR-format dataset directory."""
    base = Path(root).expanduser()
    if not base.is_dir():
        raise ConfigError(f"dataset directory {base} does not exist")
    corpus_path = base / "corpus.jsonl"
    if not corpus_path.is_file():
        raise ConfigError(f"{base}: missing corpus.jsonl ({{id, title, text}} per line)")
    doc_ids: set[str] = set()
    titles: dict[str, str] = {}
    for number, row in _read_jsonl(corpus_path, ("id", "text")):
        doc_id = str(row["id"])
        if doc_id in doc_ids:
            raise ConfigError(f"{corpus_path}, line {number}: duplicate document id {doc_id!r}")
        doc_ids.add(doc_id)
        titles[doc_id] = str(row.get("title") or "")
    if not doc_ids:
        raise ConfigError(f"{corpus_path}: no documents")

    queries_path = _pick(base, "queries", "jsonl", split)
    qrels_path = _pick(base, "qrels", "tsv", split)
    texts: dict[str, str] = {}
    for number, row in _read_jsonl(queries_path, ("id", "text")):
        qid = str(row["id"])
        if not str(row["text"]).strip():
            raise ConfigError(f"{queries_path}, line {number}: query {qid!r} has empty text")
        texts[qid] = str(row["text"])

    relevant: dict[str, dict[str, int]] = {}
    unknown = 0
    unknown_examples: list[str] = []
    for qid, doc_id, score in _read_qrels(qrels_path):
        if doc_id not in doc_ids:
            unknown += 1
            if len(unknown_examples) < 3:
                unknown_examples.append(doc_id)
            continue
        if score > 0:
            relevant.setdefault(qid, {})[doc_id] = score

    answers, unanswerable_ids = _read_answers(base / "answers.jsonl")

    queries: list[Query] = []
    unanswerable: list[Query] = []
    without = 0
    for qid, text in texts.items():
        if qid in unanswerable_ids:
            if qid in relevant:
                raise ConfigError(
                    f"{base / 'answers.jsonl'}, line {unanswerable_ids[qid]}: query {qid!r} is "
                    f"marked unanswerable but {qrels_path.name} names a relevant document for "
                    "it; remove one of the two"
                )
            unanswerable.append(Query(qid, text, {}, (), unanswerable=True))
        elif qid not in relevant:
            without += 1
        else:
            queries.append(Query(qid, text, relevant[qid], answers.get(qid, ())))
    notes: list[str] = []
    if unknown:
        note = (
            f"{qrels_path.name}: {unknown} qrels rows name documents not in corpus.jsonl "
            f"(e.g. {', '.join(unknown_examples)}); they were ignored"
        )
        notes.append(note)
        warnings.warn(note, stacklevel=2)
    if without:
        notes.append(f"{without} queries have no relevant document in {qrels_path.name}; skipped")
    if not queries:
        raise ConfigError(
            f"{base}: no query in {queries_path.name} has a relevant document in "
            f"{qrels_path.name}; check that their ids match"
        )
    return Dataset(
        name=base.resolve().name,
        root=base,
        corpus_path=corpus_path,
        doc_ids=doc_ids,
        titles=titles,
        queries=queries,
        split=split,
        unknown_qrels=unknown,
        queries_without_qrels=without,
        warnings=notes,
        unanswerable=unanswerable,
    )


def _read_answers(path: Path) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    """Gold answers per query id, and the ids marked ``"unanswerable": true`` (with their
    line numbers); both empty when ``path`` does not exist."""
    answers: dict[str, tuple[str, ...]] = {}
    unanswerable: dict[str, int] = {}
    if not path.is_file():
        return answers, unanswerable
    for number, row in _read_jsonl(path, ("id", "answers")):
        value = row["answers"]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
            raise ConfigError(f"{path}, line {number}: 'answers' must be a list of strings")
        flag = row.get("unanswerable", False)
        if not isinstance(flag, bool):
            raise ConfigError(f"{path}, line {number}: 'unanswerable' must be true or false")
        if flag and value:
            raise ConfigError(
                f"{path}, line {number}: a query marked unanswerable has no gold answers; "
                'give "answers": []'
            )
        if flag:
            unanswerable[str(row["id"])] = number
        else:
            answers[str(row["id"])] = tuple(value)
    return answers, unanswerable
