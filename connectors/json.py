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

Streaming (``iter_load``): JSON Lines in UTF-8 (with or without a BOM) is read line by line,
so a file of any size is never held whole; a first pass checks that the whole file is
UTF-8 that ``decode_text`` would read as such. Anything else (a legacy encoding, UTF-16, a
``.json`` holding one value) is read whole through ``load``, exactly as before.
"""

from __future__ import annotations

import codecs
import io
import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from rag.connectors._common import blank_error, number_ranges
from rag.connectors.decoding import _CONTROL_BYTES, _MAX_CONTROL_SHARE, _SNIFF_BYTES, decode_text
from rag.errors import LoadError, PartialLoadError
from rag.types import Document, Location, Metadata, MetadataValue

TEXT_FIELDS = ("text", "content", "body")
"""Object fields holding a record's main text, in order of preference."""
ID_FIELDS = ("id", "_id")
MAX_METADATA_CHARS = 200
_INT64 = 2**63
_BLOCK = 1 << 20
_JSON_WHITESPACE = " \t\n\r"


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

    def iter_load(self, path: Path, file: BinaryIO) -> Iterator[Document]:
        """The Documents ``load`` would return, JSON Lines read line by line from ``file``."""
        encoding = _utf8_encoding(file)
        file.seek(0)
        if encoding is not None and path.suffix.lower() == ".json":
            if not _starts_as_json_lines(file, encoding):
                encoding = None
            file.seek(0)
        if encoding is None:
            yield from self.load(path, file.read())
            return
        lines = _LineParser(str(path))
        text = io.TextIOWrapper(file, encoding=encoding, newline=None)
        try:
            yield from lines.parse(enumerate(text, 1))
        finally:
            text.detach()  # the caller owns (and closes) ``file``
        lines.check(path, [])


def _load_lines(path: Path, text: str) -> list[Document]:
    lines = _LineParser(str(path))
    docs = list(lines.parse(enumerate(text.split("\n"), 1)))
    lines.check(path, docs)
    return docs


class _LineParser:
    """JSON Lines -> Documents, one record at a time, remembering the lines that failed."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.bad: list[int] = []
        self.first_error = ""
        self.loaded = 0
        self.blank = True

    def parse(self, lines: Iterable[tuple[int, str]]) -> Iterator[Document]:
        loads = json.loads
        for number, line in lines:
            if not line or line.isspace():
                continue
            self.blank = False
            try:
                value = loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                self.bad.append(number)
                if not self.first_error:
                    detail = (
                        exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                    )
                    self.first_error = f"line {number}: {detail}"
                continue
            doc = _record(self.source, value, str(number), number)
            if doc is not None:
                self.loaded += 1
                yield doc

    def check(self, path: Path, documents: list[Document]) -> None:
        """After the last line: raise what the file amounts to (``documents`` = what loaded)."""
        source = self.source
        if self.bad:
            total = len(self.bad) + self.loaded
            if not self.loaded:
                raise LoadError(
                    source,
                    f"no line is valid JSON ({self.first_error}); JSON Lines needs one JSON "
                    "value per line. Fix the file or exclude it",
                )
            raise PartialLoadError(
                source,
                f"{len(self.bad)} of {total} lines are not valid JSON (lines "
                f"{number_ranges(self.bad)}; first error: {self.first_error}); the other "
                f"{self.loaded} records were loaded. Fix or remove those lines",
                documents=documents,
                failed=[str(n) for n in self.bad],
            )
        if not self.loaded:
            raise blank_error(path) if self.blank else blank_error(path, "empty records")


def _utf8_encoding(file: BinaryIO) -> str | None:
    """``"utf-8"`` or ``"utf-8-sig"`` (a BOM) when ``decode_text`` would read the whole file as
    UTF-8; None (a legacy encoding, UTF-16, NULs, binary, empty) to leave it to ``decode_text``.
    One pass in blocks: plain UTF-8 is checked at memory speed, never held whole."""
    block = file.read(_BLOCK)
    if not block:
        return None
    bom = block.startswith(codecs.BOM_UTF8)
    if not bom:  # decode_text's binary sniffing, which a BOM skips
        sample = block[:_SNIFF_BYTES]
        controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
        if controls > _MAX_CONTROL_SHARE * len(sample):
            return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while block:
            if not bom and b"\x00" in block:
                return None
            decoder.decode(block)
            block = file.read(_BLOCK)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    return "utf-8-sig" if bom else "utf-8"


def _starts_as_json_lines(file: BinaryIO, encoding: str) -> bool:
    """True when ``json.loads`` of the whole ``.json`` file would stop with "Extra data" after
    a first value that fills its line (``load`` then reads it as JSON Lines): that line parses
    alone, only JSON whitespace precedes it, and another non-whitespace line follows."""
    text = io.TextIOWrapper(file, encoding=encoding, newline=None)
    try:
        first = False
        for line in text:
            if not line.strip(_JSON_WHITESPACE):
                continue
            if first:
                return True
            try:
                json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                return False
            first = True
        return False
    finally:
        text.detach()


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
