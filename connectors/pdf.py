"""PDF (.pdf): one Document per page with text, ``location.page`` 1-based, via pypdf.

An encrypted PDF is opened with the empty password (many are "encrypted" only to
restrict printing); otherwise it is refused with the ``qpdf`` command that decrypts it.
A PDF with no extractable text is probably scanned images and needs OCR first. If some
pages fail to extract while others work, the good pages come back in a
``PartialLoadError``. pypdf's warnings and log records are silenced while loading.
"""

from __future__ import annotations

import io
import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rag.connectors._common import blank_error, number_ranges
from rag.connectors.decoding import normalize_newlines
from rag.errors import LoadError, PartialLoadError
from rag.types import Document, Location, Metadata

_lock = threading.Lock()
_active = 0
_saved_level = logging.NOTSET


@contextmanager
def _silenced() -> Iterator[None]:
    """Raise the ``pypdf`` logger to ERROR (its modules log to child loggers, which inherit
    it) and ignore warnings while any PDF is loading; restore the level afterwards."""
    global _active, _saved_level
    logger = logging.getLogger("pypdf")
    with _lock:
        if _active == 0:
            _saved_level = logger.level
            logger.setLevel(max(logging.ERROR, _saved_level))
        _active += 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0:
                logger.setLevel(_saved_level)


class PdfLoader:
    """Extracts the text of each page with pypdf."""

    extensions: tuple[str, ...] = (".pdf",)

    def load(self, path: Path, data: bytes) -> list[Document]:
        name = str(path)
        if not data:
            raise LoadError(name, "empty file (0 bytes); nothing to ingest")
        with _silenced():
            reader = _open(name, data)
            try:
                pages = list(reader.pages)
            except Exception as exc:
                raise _unreadable(name, exc) from None
            metadata = _metadata(reader, len(pages))
            docs: list[Document] = []
            failed: list[int] = []
            first_error = ""
            for number, page in enumerate(pages, 1):
                try:
                    text = page.extract_text()
                except Exception as exc:
                    failed.append(number)
                    first_error = first_error or f"{type(exc).__name__}: {exc}"
                    continue
                text = normalize_newlines(text).strip()
                if text:
                    docs.append(
                        Document(
                            source=name,
                            text=text,
                            location=Location(page=number),
                            metadata=dict(metadata),
                        )
                    )
        if failed and docs:
            raise PartialLoadError(
                name,
                f"text extraction failed on {len(failed)} of {len(pages)} pages "
                f"(pages {number_ranges(failed)}; first error: {first_error}); the other pages "
                "were loaded. Re-export the PDF to recover them",
                documents=docs,
                failed=[str(n) for n in failed],
            )
        if failed:
            raise LoadError(
                name,
                f"text extraction failed on every page ({first_error}); re-export the PDF "
                "(e.g. print it to PDF again) or exclude it",
            )
        if not docs:
            if not pages:
                raise blank_error(path, "a PDF with no pages")
            raise LoadError(
                name,
                f"no extractable text in its {len(pages)} page(s); it may be scanned images "
                "and needs OCR first (e.g. `ocrmypdf in.pdf out.pdf`), or exclude it",
            )
        return docs


def _open(name: str, data: bytes) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
    except Exception as exc:
        raise _unreadable(name, exc) from None
    if reader.is_encrypted:
        try:
            ok = reader.decrypt("")
        except DependencyError:
            raise LoadError(
                name,
                "encrypted PDF using AES, which needs the 'cryptography' package to open "
                "(pip install cryptography), or decrypt it first, e.g. "
                "`qpdf --decrypt --password=PASSWORD in.pdf out.pdf`",
            ) from None
        except Exception as exc:  # FileNotDecryptedError, or a broken encryption dictionary
            raise _encrypted(name, f" ({type(exc).__name__}: {exc})") from None
        if not ok:
            raise _encrypted(name, "")
    return reader


def _encrypted(name: str, detail: str) -> LoadError:
    return LoadError(
        name,
        f"encrypted PDF that needs a password{detail}; decrypt it first, e.g. "
        "`qpdf --decrypt --password=PASSWORD in.pdf out.pdf`, or exclude it",
    )


def _unreadable(name: str, exc: Exception) -> LoadError:
    return LoadError(
        name,
        f"not a readable PDF ({type(exc).__name__}: {exc}); re-export it or exclude it",
    )


def _metadata(reader: Any, page_count: int) -> Metadata:
    metadata: Metadata = {"page_count": page_count}
    try:
        info = reader.metadata
        title = info.title if info is not None else None
    except Exception:
        title = None
    if isinstance(title, str) and title.strip():
        metadata["title"] = title.strip()[:200]
    return metadata
