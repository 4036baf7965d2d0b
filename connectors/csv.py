"""CSV and TSV (.csv, .tsv): one Document per data row, as ``column: value`` lines.

The first row is the header. ``location.record`` is the 1-based data row number (blank
lines not counted) and ``start_line``/``end_line`` the physical lines the row spans (a
quoted value may hold newlines). Empty values are left out. A row longer than the
header gets ``column N`` names for the extra values; a shorter one just has fewer
lines. ``.csv`` dialects (``,`` ``;`` tab ``|``) are sniffed; ``.tsv`` is tab-separated.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from rag.connectors._common import blank_error
from rag.connectors.decoding import decode_text
from rag.errors import LoadError
from rag.types import Document, Location

_SNIFF_CHARS = 16384
_FIELD_LIMIT = 64 * 1024 * 1024


class CsvLoader:
    """Reads a delimited table, one Document per row."""

    extensions: tuple[str, ...] = (".csv", ".tsv")

    def load(self, path: Path, data: bytes) -> list[Document]:
        text = decode_text(path, data)
        if not text.strip():
            raise blank_error(path)
        dialect = _dialect(path, text)
        # The default 128 KiB field limit rejects real exports (long text cells); the limit is
        # process-wide in the csv module, so it is only ever raised, never lowered.
        if csv.field_size_limit() < _FIELD_LIMIT:
            csv.field_size_limit(min(_FIELD_LIMIT, sys.maxsize))
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        name = str(path)
        docs: list[Document] = []
        header: list[str] | None = None
        record = 0
        last_line = 0
        try:
            for row in reader:
                start, last_line = last_line + 1, reader.line_num
                if not any(value.strip() for value in row):
                    continue
                if header is None:
                    header = [h.strip() or f"column {i}" for i, h in enumerate(row, 1)]
                    continue
                record += 1
                lines = []
                for i, value in enumerate(row):
                    value = value.strip()
                    if value:
                        column = header[i] if i < len(header) else f"column {i + 1}"
                        lines.append(f"{column}: {value}")
                docs.append(
                    Document(
                        source=name,
                        text="\n".join(lines),
                        location=Location(record=str(record), start_line=start, end_line=last_line),
                    )
                )
        except csv.Error as exc:
            raise LoadError(
                name,
                f"malformed {'TSV' if dialect is csv.excel_tab else 'CSV'} at line "
                f"{reader.line_num} ({exc}); fix the quoting there or exclude the file",
            ) from None
        if not docs:
            raise LoadError(name, "has a header row but no data rows; nothing to ingest")
        return docs


def _dialect(path: Path, text: str) -> type[csv.Dialect] | csv.Dialect:
    if path.suffix.lower() == ".tsv":
        return csv.excel_tab
    sample = text[:_SNIFF_CHARS]
    cut = sample.rfind("\n")
    if cut > 0:
        sample = sample[:cut]
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel
