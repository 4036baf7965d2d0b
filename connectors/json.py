"""JSON and JSON Lines (.json, .jsonl, .ndjson).

JSON Lines: one Document per non-empty line. A record that is an object with a string
``text``, ``content`` or ``body`` field (first found wins) becomes ``title + "\\n\\n" +
text`` (just the text without a title); other records become their leaves as
``key.path: value`` lines. ``location.record`` is the record's ``id`` or ``_id`` (as a
string) else its line number; ``start_line = end_line`` = the line number. The record's
other top-level scalars (str, int, float, bool) become metadata, strings cut to 200
characters.

Bad lines do not sink the file: the valid records come back inside a
``PartialLoadError`` whose message lists the bad line numbers. Only when no line parses
is it a plain ``LoadError``.

A ``.json`` file holding a list is read as records (``record`` = ``id``/``_id`` or the
0-based index, as in jq's ``.[i]``); an object becomes one Document of ``key.path:
value`` lines; a ``.json`` file that is really JSON Lines is read as such.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from rag.connectors._common import PartialLoadError, blank_error, number_ranges
from rag.connectors.decoding import decode_text
from rag.errors import LoadError
from rag.types import Document, Location, Metadata, MetadataValue

TEXT_FIELDS = ("text", "content", "body")
"""Object fields holding a record's main text, in order of preference."""
ID_FIELDS = ("id", "_id")
MAX_METADATA_CHARS = 200
_INT64 = 2**63


class JsonLoader:
    """Reads JSON documents and JSON Lines record files."""

    extensions: tuple[str, ...] = (".json", ".jsonl", ".ndjson")

    def load(self, path: Path, data: bytes) -> list[Document]:
        text = decode_text(path, data)
        if not text.strip():
            raise blank_error(path)
        if path.suffix.lower() != ".json":
            return _load_lines(path, text)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg == "Extra data":  # several JSON values: JSON Lines named .json
                return _load_lines(path, text)
            raise LoadError(
                str(path),
                f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; "
                "fix it or exclude the file",
            ) from None
        except RecursionError:
            raise LoadError(str(path), "JSON nested too deeply to read; exclude it") from None
        return _load_value(path, value)


def _load_lines(path: Path, text: str) -> list[Document]:
    source = str(path)
    docs: list[Document] = []
    bad: list[int] = []
    first_error = ""
    loads = json.loads
    for number, line in enumerate(text.split("\n"), 1):
        if not line or line.isspace():
            continue
        try:
            value = loads(line)
        except (json.JSONDecodeError, RecursionError) as exc:
            bad.append(number)
            if not first_error:
                detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                first_error = f"line {number}: {detail}"
            continue
        doc = _record(source, value, str(number), number)
        if doc is not None:
            docs.append(doc)
    if bad:
        total = len(bad) + len(docs)
        if not docs:
            raise LoadError(
                source,
                f"no line is valid JSON ({first_error}); JSON Lines needs one JSON value per "
                "line. Fix the file or exclude it",
            )
        raise PartialLoadError(
            source,
            f"{len(bad)} of {total} lines are not valid JSON (lines {number_ranges(bad)}; "
            f"first error: {first_error}); the other {len(docs)} records were loaded. "
            "Fix or remove those lines",
            documents=docs,
            failed=[str(n) for n in bad],
        )
    if not docs:
        raise blank_error(path, "empty records")
    return docs


def _load_value(path: Path, value: Any) -> list[Document]:
    source = str(path)
    if isinstance(value, list):
        docs = [
            doc
            for i, item in enumerate(value)
            if (doc := _record(source, item, str(i), None)) is not None
        ]
    else:
        lines: list[str] = []
        _flatten(value, "", lines)
        docs = [Document(source=source, text="\n".join(lines))] if lines else []
        if docs and isinstance(value, dict):
            docs[0].metadata.update(_scalars(value, skip=None))
    if not docs:
        raise blank_error(path, "empty values")
    return docs


def _record(source: str, value: Any, default_id: str, line: int | None) -> Document | None:
    """One record as a Document, or None when it holds no text."""
    metadata: Metadata = {}
    record = default_id
    if isinstance(value, dict):
        text_field = next((f for f in TEXT_FIELDS if isinstance(value.get(f), str)), None)
        for field in ID_FIELDS:
            rid = value.get(field)
            if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid):
                record = str(rid)
                break
        metadata = _scalars(value, skip=text_field)
        if text_field is not None:
            body = value[text_field].strip()
            title = value.get("title")
            title = title.strip() if isinstance(title, str) else ""
            text = f"{title}\n\n{body}" if title and body else (body or title)
        else:
            lines: list[str] = []
            _flatten(value, "", lines)
            text = "\n".join(lines)
    elif isinstance(value, str):
        text = value.strip()
    else:
        lines = []
        _flatten(value, "", lines)
        text = "\n".join(lines)
    if not text:
        return None
    return Document(
        source=source,
        text=text,
        location=Location(record=record, start_line=line, end_line=line),
        metadata=metadata,
    )


def _scalars(obj: dict[str, Any], skip: str | None) -> Metadata:
    """Top-level str/int/float/bool fields, strings cut to MAX_METADATA_CHARS."""
    out: Metadata = {}
    for key, v in obj.items():
        if key == skip:
            continue
        meta = _metadata_value(v)
        if meta is not None:
            out[key] = meta
    return out


def _metadata_value(v: Any) -> MetadataValue | None:
    if isinstance(v, str):
        return v[:MAX_METADATA_CHARS]
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if -_INT64 <= v < _INT64 else None
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    return None


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _flatten(value: Any, prefix: str, out: list[str]) -> None:
    """Append ``key.path: value`` lines for every non-empty leaf of ``value``."""
    if isinstance(value, dict):
        for key, v in value.items():
            _flatten(v, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            joined = ", ".join(_scalar_text(v) for v in value if v is not None and v != "")
            if joined:
                out.append(f"{prefix}: {joined}" if prefix else joined)
        else:
            for i, v in enumerate(value):
                _flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    elif value is None:
        return
    else:
        text = value.strip() if isinstance(value, str) else _scalar_text(value)
        if text:
            out.append(f"{prefix}: {text}" if prefix else text)
