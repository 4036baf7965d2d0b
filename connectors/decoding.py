"""Turn a text file's bytes into ``str`` without ever returning mojibake.

Order of attempts (the first that succeeds wins):

1. 0 bytes -> LoadError: nothing to ingest.
2. A byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE) decides the encoding.
3. Binary sniffing: NUL bytes (without a BOM) or many control bytes -> LoadError
   saying the file looks binary. BOM-less UTF-16 whose every other byte is NUL
   (plain ASCII text saved as "Unicode" on Windows) is recognised before that.
4. Strict UTF-8.
5. Strict CP949 (a superset of EUC-KR), accepted only when the result reads like
   Korean: mostly Hangul, most of it from the 2,350 common KS X 1001 syllables. Latin-1 or
   Windows-1252 text often decodes as CP949 too, into rare syllables; that is refused.
6. charset-normalizer's guess when it is confident: Windows-1252 when it is among
   the best candidates (it keeps French ``très`` from becoming ``trčs``), or a
   multi-byte CJK encoding (Shift-JIS, GB18030, Big5, ...). Other single-byte guesses
   (Cyrillic, Greek, Central European code pages) are too often the wrong sibling on
   short texts, so they are refused with the probable encoding named instead.
7. Else LoadError naming the file and the ``iconv`` command that fixes it.

Newlines are normalized to ``\\n``. ``read_text`` does the same from an open file in less
memory: the bytes are let go of once decoded, before newlines are normalized (a 100 MB file
peaks at its bytes plus its text, not three copies).
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import BinaryIO

from rag.errors import LoadError

__all__ = ["decode_text", "normalize_newlines", "read_text"]

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its LE BOM starts with the UTF-16 LE BOM.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_SNIFF_BYTES = 8192
# C0 controls except TAB, LF, VT, FF, CR and ESC (ANSI colour in logs), plus DEL.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0E, *range(0x0F, 0x1B), *range(0x1C, 0x20), 0x7F])
_MAX_CONTROL_SHARE = 0.05

_HANGUL_RE = re.compile("[\uac00-\ud7a3\u3131-\u318e]")
_NON_ASCII_RE = re.compile("[^\x00-\x7f]")
_MIN_HANGUL_SHARE = 0.5
"""Share of non-ASCII characters that must be Hangul for a CP949 decode to count as Korean."""
_MIN_COMMON_HANGUL_SHARE = 0.5
"""Share of those Hangul that must be among the 2,350 common KS X 1001 syllables. Korean
text is almost all common syllables; misread Western bytes give almost none."""

_MAX_CHAOS = 0.1
_MIN_ASCII_LETTER_SHARE = 0.7
_MULTIBYTE = frozenset(
    {
        "cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213", "euc_jp", "euc_jis_2004",
        "euc_jisx0213", "iso2022_jp", "gb18030", "gbk", "gb2312", "hz", "big5", "big5hkscs",
        "cp950",
    }
)  # fmt: skip
_NOT_GUESSED = [
    # Decided (or refused) by the steps above; a guess here would be mojibake.
    "utf_16",
    "utf_16_be",
    "utf_16_le",
    "utf_32",
    "utf_32_be",
    "utf_32_le",
    "cp949",
    "euc_kr",
    "johab",
    "iso2022_kr",
]

_CONVERT_HINT = (
    "convert it to UTF-8, e.g. `iconv -f ENCODING -t UTF-8 FILE > FILE.utf8` "
    "(ENCODING such as CP949, EUC-KR, WINDOWS-1252, SHIFT_JIS), or exclude it with --exclude"
)


def normalize_newlines(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` become ``\\n``."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode_text(path: str | Path, data: bytes) -> str:
    """Decode ``data`` (the bytes of ``path``) or raise LoadError naming the file and the fix."""
    return normalize_newlines(_decode(str(path), data))


def read_text(path: str | Path, file: BinaryIO) -> str:
    """``decode_text`` of what ``file`` (open, binary, at 0) holds, never holding more than the
    bytes and one text at once: the bytes are freed before newlines are normalized, and each
    newline pass replaces the text before it."""
    data = file.read()
    text = _decode(str(path), data)
    del data  # the only reference: freed here, before any copy of the text is made
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        text = text.replace("\r", "\n")
    return text


def _decode(name: str, data: bytes) -> str:
    """``decode_text`` without the newline normalization."""
    if not data:
        raise LoadError(name, "empty file (0 bytes); nothing to ingest")

    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return str(memoryview(data)[len(bom) :], encoding)  # no copy of the bytes
            except UnicodeDecodeError as exc:
                raise LoadError(
                    name,
                    f"starts with a {encoding.upper()} byte-order mark but is not valid "
                    f"{encoding.upper()} at byte {exc.start + len(bom)}; re-save it or {_CONVERT_HINT}",
                ) from None

    if b"\x00" in data:  # memchr: a few ms even for large files
        text = _bomless_utf16(data)
        if text is not None:
            return text
        raise LoadError(name, _binary_message(name, "contains NUL bytes"))
    sample = data[:_SNIFF_BYTES]
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    if controls > _MAX_CONTROL_SHARE * len(sample):
        raise LoadError(
            name,
            _binary_message(
                name, f"{controls} of its first {len(sample)} bytes are control characters"
            ),
        )

    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass

    try:
        text = data.decode("cp949")
    except UnicodeDecodeError:
        pass
    else:
        if _looks_korean(text):
            return text

    guessed, probable = _guess(data)
    if guessed is not None:
        return guessed
    maybe = f" (a detector's unreliable best guess: {probable})" if probable else ""
    raise LoadError(
        name,
        "is not valid UTF-8, UTF-16, CP949 or EUC-KR, and its encoding could not be "
        f"detected with confidence{maybe}; {_CONVERT_HINT}",
    )


def _binary_message(name: str, why: str) -> str:
    return (
        f"looks like a binary file, not text ({why}); if it is binary with a text "
        f"extension, exclude it with --exclude '{Path(name).name}'"
    )


def _bomless_utf16(data: bytes) -> str | None:
    """ASCII-range text saved as UTF-16 without a BOM: NULs at every other byte."""
    if len(data) % 2 or len(data) < 4:
        return None
    sample = data[:_SNIFF_BYTES]
    half = len(sample) // 2
    for encoding, zeros in (("utf-16-le", sample[1::2]), ("utf-16-be", sample[0::2])):
        if zeros.count(0) < 0.9 * half:
            continue
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            return None
        if any(ch in text for ch in "\x00\x01\x02\x03\x04\x05\x06\x07\x08"):
            return None
        return text
    return None


def _looks_korean(text: str) -> bool:
    """True when a CP949 decode reads as Korean rather than misread Latin-1/Windows-1252."""
    hangul = _HANGUL_RE.findall(text)
    if not hangul:
        return False
    non_ascii = len(_NON_ASCII_RE.findall(text))
    if len(hangul) < _MIN_HANGUL_SHARE * non_ascii:
        return False
    # Misread Western bytes land in CP949's extension block (lead byte 0x81-0xC6 with an
    # ASCII-letter trail byte), syllables real Korean text almost never uses.
    # Python's EUC-KR codec writes a common syllable as 2 bytes and any other as an
    # 8-byte jamo make-up sequence, so the encoded length counts the uncommon ones.
    encoded = len("".join(hangul).encode("euc_kr", errors="replace"))
    uncommon = (encoded - 2 * len(hangul)) // 6
    return len(hangul) - uncommon >= _MIN_COMMON_HANGUL_SHARE * len(hangul)


def _guess(data: bytes) -> tuple[str | None, str | None]:
    """(text, None) for a confident charset-normalizer guess, else (None, probable encoding).

    Confident means a low mess ratio and either Windows-1252 among the best candidates
    (Western text; verified to be mostly ASCII letters) or a multi-byte CJK encoding,
    whose byte structure rarely decodes by accident. Other single-byte guesses are
    refused: on short texts charset-normalizer often picks the wrong sibling (Mac
    Cyrillic for Windows-1251, ISO-8859-5 for Greek), which would be mojibake.
    """
    from charset_normalizer import from_bytes

    results = list(from_bytes(data, cp_exclusion=_NOT_GUESSED))
    if not results:
        return None, None
    best = results[0]
    if best.chaos > _MAX_CHAOS:
        return None, None
    for match in results:
        if match.chaos != best.chaos or match.coherence != best.coherence:
            break
        if "cp1252" in match.could_be_from_charset:
            try:
                text = data.decode("cp1252")
            except UnicodeDecodeError:
                break
            if _mostly_ascii_letters(text):
                return text, None
            break
    if best.encoding in _MULTIBYTE:
        return str(best), None
    language = best.language if best.language and best.language != "Unknown" else ""
    return None, best.encoding + (f" ({language})" if language else "")


def _mostly_ascii_letters(text: str) -> bool:
    """Western text is mostly unaccented letters; Cyrillic or Greek read as cp1252 is not."""
    letters = sum(1 for ch in text if ch.isalpha())
    ascii_letters = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return ascii_letters >= _MIN_ASCII_LETTER_SHARE * letters
