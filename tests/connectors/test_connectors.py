"""Loaders and decoding: every file type on generated files, locations, and bad input.

Binary fixtures (PDF, DOCX) are generated here: the PDFs by hand (a minimal valid
file with a Helvetica text stream per page), the DOCX files with python-docx.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import rag.connectors as connectors
from rag.connectors import (
    Loader,
    PartialLoadError,
    decode_text,
    default_loaders,
    lines_are_verbatim,
    load_file,
    loader_for,
)
from rag.connectors.decoding import read_text
from rag.errors import LoadError
from rag.types import Document

KOREAN = (
    "한국어 검색에는 형태소 분석이 중요합니다.\r\n"
    "조사가 붙은 단어도 같은 어간으로 찾아야 합니다.\n"
    "예: 검색을, 검색이, 검색은"
)
KOREAN_NORMALIZED = KOREAN.replace("\r\n", "\n")
SCIFACT = Path("/work/shared/evaldata/scifact/corpus.jsonl")


def load(name: str, data: bytes | str) -> list[Document]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return load_file(Path("/corpus") / name, raw)


def load_error(name: str, data: bytes | str) -> LoadError:
    with pytest.raises(LoadError) as info:
        load(name, data)
    assert info.value.path == str(Path("/corpus") / name), "the error must name the file"
    assert str(info.value).startswith(f"/corpus/{name}: ")
    return info.value


# --- minimal PDF writer ---------------------------------------------------------------
def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A valid PDF with one Helvetica text line per entry of each page (empty = no text)."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
    )
    for i, lines in enumerate(pages):
        shows = " T* ".join(f"({esc(line)}) Tj" for line in lines)
        content = f"BT /F1 12 Tf 14 TL 72 720 Td {shows} ET".encode("cp1252") if lines else b""
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    info_ref = b""
    if title is not None:
        objects.append(f"<< /Title ({esc(title)}) >>".encode())
        info_ref = b" /Info %d 0 R" % len(objects)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        info_ref,
        xref,
    )
    return bytes(out)


def encrypt_pdf(data: bytes, user_password: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# --- registry and API -------------------------------------------------------------------
def test_every_registered_loader_satisfies_the_protocol_and_owns_its_extensions() -> None:
    loaders = default_loaders()
    for ext, loader in loaders.items():
        assert isinstance(loader, Loader)
        assert ext in loader.extensions
        assert ext == ext.lower() and ext.startswith(".")
    for ext in (".txt", ".md", ".html", ".pdf", ".docx", ".csv", ".tsv", ".jsonl", ".py", ".yaml"):
        assert ext in loaders


def test_loader_for_is_case_insensitive_and_none_for_unknown() -> None:
    loaders = default_loaders()
    assert loaders.loader_for("README.MD") is loaders[".md"]
    assert loaders.loader_for(Path("a/b/report.Pdf")) is loaders[".pdf"]
    assert loaders.loader_for("archive.tar.gz") is None
    assert loaders.loader_for("Makefile") is None
    assert type(loader_for("README.MD")) is type(loaders[".md"])
    assert loader_for("Makefile") is None


def test_registering_a_loader_changes_only_that_registry() -> None:
    class Upper:
        extensions = (".up",)

        def load(self, path: Path, data: bytes) -> list[Document]:
            return [Document(source=str(path), text=data.decode().upper())]

    mine = default_loaders()
    mine.register(Upper())
    mine.register(Upper(), ".MD")  # explicit extensions, lower-cased
    assert [d.text for d in mine.load_file("x.up", b"abc")] == ["ABC"]
    assert isinstance(mine[".md"], Upper)
    copy = mine.copy()
    assert ".up" in copy and ".up" not in default_loaders()
    assert loader_for("x.up") is None
    assert "no loader for '.up'" in str(load_error("x.up", b"abc"))
    assert not isinstance(default_loaders()[".md"], Upper)
    with pytest.raises(ValueError, match="starts with a dot"):
        mine.register(Upper(), "txt")


def test_load_file_unknown_extension_names_file_and_supported_types() -> None:
    err = load_error("photo.heic", b"\x00\x01")
    assert "no loader for '.heic'" in str(err)
    assert ".md" in str(err) and "exclude" in str(err)


def test_load_file_wraps_unexpected_loader_bugs_in_load_error() -> None:
    class Broken:
        extensions = (".broken",)

        def load(self, path: Path, data: bytes) -> list[Document]:
            raise KeyError("oops")

    loaders = default_loaders()
    loaders.register(Broken())
    with pytest.raises(LoadError) as info:
        loaders.load_file(Path("/corpus") / "x.broken", b"data")
    err = info.value
    assert err.path == str(Path("/corpus") / "x.broken"), "the error must name the file"
    assert "unexpected error in Broken (KeyError" in str(err)
    assert isinstance(err.__cause__, KeyError)


def test_importing_connectors_does_not_import_pdf_docx_or_charset_detection() -> None:
    code = (
        "import sys, rag.connectors\n"
        "print([m for m in ('pypdf', 'docx', 'charset_normalizer') if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# --- decoding -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("cp949", b""),
        ("euc-kr", b""),
        ("utf-16", b""),  # Python writes the BOM
        ("utf-16-be", b"\xfe\xff"),
        ("utf-8-sig", b""),
        ("utf-32", b""),
        ("utf-8", b""),
    ],
)
def test_korean_decodes_in_every_common_encoding(encoding: str, prefix: bytes) -> None:
    data = prefix + KOREAN.encode(encoding)
    assert decode_text("ko.txt", data) == KOREAN_NORMALIZED


def test_korean_with_rare_cp949_extension_syllables() -> None:
    text = "똠방각하 햏 이 문서는 확장 완성형 글자를 조금 포함합니다."
    assert decode_text("ko.txt", text.encode("cp949")) == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Le café est très bon. Où est la bibliothèque? À bientôt, François.", "latin-1"),
        ("Grüße aus München! Die Straße ist schön.\n", "cp1252"),
        ("It’s a dog’s life and we don’t mind.", "cp1252"),
        ("“Quoted” text — with an em dash… and €5.", "cp1252"),
        ("café", "latin-1"),
        ("ÀLA CARTE ÉCOLE Ñandú", "latin-1"),
    ],
)
def test_western_legacy_text_is_not_misread_as_korean_or_central_european(
    text: str, encoding: str
) -> None:
    assert decode_text("eu.txt", text.encode(encoding)) == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("これは日本語のテキストです。東京は大きい都市です。", "shift_jis"),
        ("これは日本語のテキストです。東京は大きい都市です。", "euc_jp"),
        ("这是一个中文文档。我们测试编码检测。", "gbk"),
        ("這是一個中文文件。我們測試編碼偵測。", "big5"),
    ],
)
def test_multibyte_cjk_legacy_encodings_are_detected(text: str, encoding: str) -> None:
    assert decode_text("cjk.txt", text.encode(encoding)) == text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Привет, как дела? Это тестовый документ о поиске.", "cp1251"),
        ("Καλημέρα, τι κάνεις; Αυτό είναι ένα έγγραφο.", "cp1253"),
        ("Zażółć gęślą jaźń. Łódź jest piękna.", "cp1250"),
    ],
)
def test_ambiguous_single_byte_encodings_are_refused_not_guessed(text: str, encoding: str) -> None:
    # charset-normalizer picks Mac Cyrillic / ISO-8859-5 for these: mojibake. Refuse instead.
    try:
        decoded = decode_text("legacy.txt", text.encode(encoding))
    except LoadError as err:
        assert "iconv -f" in str(err)
    else:
        assert decoded == text, "a guess is only acceptable when it is right"


def test_newlines_are_normalized() -> None:
    assert decode_text("a.txt", b"one\r\ntwo\rthree\n") == "one\ntwo\nthree\n"


def test_bomless_utf16_ascii_text_is_read_not_called_binary() -> None:
    assert decode_text("w.txt", "hello\r\nworld\r\n".encode("utf-16-le")) == "hello\nworld\n"


def test_empty_file_is_a_clear_error() -> None:
    err = load_error("empty.txt", b"")
    assert "empty file (0 bytes); nothing to ingest" in str(err)


def test_whitespace_only_file_is_a_clear_error() -> None:
    assert "only whitespace" in str(load_error("blank.md", b" \n\n\t\n"))


def test_binary_file_named_txt_is_refused_with_exclude_hint() -> None:
    err = load_error("model.txt", bytes(range(256)) * 8)
    assert "looks like a binary file" in str(err)
    assert "--exclude 'model.txt'" in str(err)
    # control characters without NULs too
    err = load_error("ctl.txt", b"\x01\x02\x03\x04abc" * 200)
    assert "control characters" in str(err)


def test_bytes_valid_in_no_supported_encoding_are_refused_with_iconv_hint() -> None:
    # Undefined in Windows-1252, rare extension syllables if read as CP949, C1 controls in Latin-1.
    data = bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D, 0x41, 0x20]) * 20
    err = load_error("weird.txt", data)
    assert "is not valid UTF-8, UTF-16, CP949 or EUC-KR" in str(err)
    assert "iconv -f" in str(err) and "-t UTF-8" in str(err)


def test_invalid_after_bom_is_refused() -> None:
    err = load_error("bad.txt", b"\xef\xbb\xbfok \xff\xfe bad")
    assert "UTF-8 byte-order mark" in str(err)


@pytest.mark.parametrize(
    "data",
    [
        KOREAN.encode("cp949"),
        b"\xff\xfe" + KOREAN.encode("utf-16-le"),
        b"\xef\xbb\xbf" + KOREAN.encode("utf-8"),
        KOREAN.encode("utf-32"),
        "Grüße aus München!\r\nDie Straße\rist schön.\n".encode("cp1252"),
        "これは日本語のテキストです。東京は大きい都市です。".encode("shift_jis"),
        b"one\r\ntwo\rthree\r",
        "hello\r\nworld\r\n".encode("utf-16-le"),
        b"",
        b" \n\n\t\n",
        bytes(range(256)) * 8,
        b"\xef\xbb\xbfok \xff\xfe bad",
        bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D, 0x41, 0x20]) * 20,
    ],
)
def test_text_read_from_the_file_is_what_decode_text_gives(data: bytes, tmp_path: Path) -> None:
    """``read_text`` and ``TextLoader.iter_load`` (ingest's lower-memory path) give exactly the
    text, Document or error that ``decode_text`` and ``load`` give."""
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    loader = default_loaders()[".txt"]
    assert isinstance(loader, connectors.StreamingLoader)
    try:
        want = decode_text(path, data)
    except LoadError as exc:
        with pytest.raises(LoadError) as info:
            read_text(path, io.BytesIO(data))
        assert str(info.value) == str(exc)
    else:
        assert read_text(path, io.BytesIO(data)) == want
    try:
        docs = loader.load(path, data)
    except LoadError as exc:
        with pytest.raises(LoadError) as info:
            list(connectors.iter_file(path))
        assert str(info.value) == str(exc)
    else:
        assert list(connectors.iter_file(path)) == docs


# --- text and code --------------------------------------------------------------------
def test_text_loader_one_document_with_line_range() -> None:
    [doc] = load("notes.txt", "first\nsecond\nthird\n")
    assert doc.source == "/corpus/notes.txt"
    assert doc.text == "first\nsecond\nthird\n"
    assert (doc.location.start_line, doc.location.end_line) == (1, 3)


def test_code_loader_sets_language() -> None:
    [doc] = load("tool.py", "def f():\n    return 1\n")
    assert doc.metadata == {"language": "python"}
    assert (doc.location.start_line, doc.location.end_line) == (1, 2)
    assert load("conf.YML", "a: 1\n")[0].metadata["language"] == "yaml"


# --- markdown -------------------------------------------------------------------------
MARKDOWN = """\
---
title: "Getting started"
tags: [a, b]
---

Intro paragraph before any heading.

# Install

Run pip.

```bash
# this is a shell comment, not a heading
pip install rag
```

## From source

Clone it.

Usage
=====

Ask questions.

Details
-------

More text.
#not-a-heading because no space
    # indented code, not a heading

### Deep ###
Deep text.
# Second top
Top again.
"""


def test_markdown_sections_heading_paths_and_line_numbers() -> None:
    docs = load("guide.md", MARKDOWN)
    src = MARKDOWN.split("\n")
    paths = [d.location.heading_path for d in docs]
    assert paths == [
        (),
        ("Install",),
        ("Install", "From source"),
        ("Usage",),
        ("Usage", "Details"),
        ("Usage", "Details", "Deep"),
        ("Second top",),
    ]
    for doc in docs:
        start, end = doc.location.start_line, doc.location.end_line
        assert start is not None and end is not None
        # the text is exactly the source lines it cites
        assert doc.text == "\n".join(src[start - 1 : end])
        assert doc.metadata == {"title": "Getting started"}
    assert docs[0].text == "Intro paragraph before any heading."
    assert docs[0].location.start_line == 6
    assert docs[1].location.start_line == 8
    assert "# this is a shell comment, not a heading" in docs[1].text
    assert docs[3].text.startswith("Usage\n=====")
    assert "#not-a-heading" in docs[4].text and "# indented code" in docs[4].text


def test_markdown_front_matter_is_not_content() -> None:
    docs = load("fm.md", "---\ntitle: T\nauthor: x\n---\n# H\nbody\n")
    assert all("author" not in d.text for d in docs)
    assert docs[0].location.heading_path == ("H",)
    assert docs[0].location.start_line == 5


def test_markdown_of_only_headings_is_kept_whole() -> None:
    [doc] = load("toc.md", "# A\n## B\n")
    assert doc.text == "# A\n## B"
    assert doc.location.start_line == 1


def test_markdown_thematic_break_after_blank_line_is_not_a_heading() -> None:
    docs = load("hr.md", "# A\ntext\n\n---\n\nmore\n")
    assert len(docs) == 1 and "more" in docs[0].text


# --- html -----------------------------------------------------------------------------
HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Stores  guide</title>
<style>body { color: red }</style><script>var x = "hidden";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/docs">Docs</a></nav>
<p>Preamble text.</p>
<h1>Stores</h1>
<p>Chroma is   embedded
by default.</p><p>Second paragraph.</p>
<h2>pgvector</h2>
<div>Use <b>--store pgvector</b>.<br>New line.</div>
<table><tr><th>name</th><th>kind</th></tr><tr><td>chroma</td><td>embedded</td></tr></table>
<noscript>enable js</noscript>
<h2>Memory</h2><ul><li>one</li><li>two</li></ul>
</body></html>"""


def test_html_sections_text_and_title() -> None:
    docs = load("page.html", HTML)
    assert [d.location.heading_path for d in docs] == [
        (),
        ("Stores",),
        ("Stores", "pgvector"),
        ("Stores", "Memory"),
    ]
    assert docs[0].text == "Preamble text."
    assert docs[1].text == "Stores\n\nChroma is embedded by default.\n\nSecond paragraph."
    assert docs[2].text == (
        "pgvector\n\nUse --store pgvector.\nNew line.\n\nname | kind\n\nchroma | embedded"
    )
    assert docs[3].text == "Memory\n\none\n\ntwo"
    assert docs[1].location.start_line == 7
    assert docs[2].location.start_line == 10
    for doc in docs:
        assert doc.metadata == {"title": "Stores guide"}
        for hidden in ("color: red", "hidden", "Home", "enable js"):
            assert hidden not in doc.text


def test_html_honors_meta_charset() -> None:
    page = '<html><head><meta charset="euc-kr"></head><body><h1>제목</h1><p>본문입니다</p></body></html>'
    [doc] = load("ko.html", page.encode("euc-kr"))
    assert doc.text == "제목\n\n본문입니다"
    page = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1252">'
        "</head><body><p>Café “déjà vu”</p></body></html>"
    )
    [doc] = load("fr.html", page.encode("cp1252"))
    assert doc.text == "Café “déjà vu”"


def test_html_without_visible_text_is_an_error() -> None:
    err = load_error("empty.html", "<html><head><script>x()</script></head><body></body></html>")
    assert "no visible text" in str(err)


# --- pdf ------------------------------------------------------------------------------
def test_pdf_one_document_per_page_with_page_numbers(capfd: pytest.CaptureFixture[str]) -> None:
    data = make_pdf(
        [["Chroma runs embedded.", "No server (needed)."], [], ["pgvector needs PostgreSQL."]],
        title="Store notes",
    )
    docs = load("notes.pdf", data)
    assert [d.location.page for d in docs] == [1, 3]  # the empty page 2 yields nothing
    assert docs[0].text == "Chroma runs embedded.\nNo server (needed)."
    assert docs[1].text == "pgvector needs PostgreSQL."
    assert docs[0].metadata == {"page_count": 3, "title": "Store notes"}
    assert docs[0].location.describe() == "p. 1"
    assert capfd.readouterr().err == ""


def test_pdf_encrypted_with_password_is_refused_with_qpdf_hint() -> None:
    data = encrypt_pdf(make_pdf([["secret text"]]), user_password="secret")
    err = load_error("locked.pdf", data)
    assert "encrypted PDF" in str(err) and "qpdf --decrypt" in str(err)


def test_pdf_encrypted_with_empty_user_password_loads() -> None:
    data = encrypt_pdf(make_pdf([["readable anyway"]]), user_password="")
    [doc] = load("restricted.pdf", data)
    assert doc.text == "readable anyway"


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\n garbage", b"hello, not a pdf", make_pdf([["a"], ["b"]])[:200]],
    ids=["garbage", "not-pdf", "truncated"],
)
def test_corrupt_pdf_is_refused(data: bytes, capfd: pytest.CaptureFixture[str]) -> None:
    err = load_error("broken.pdf", data)
    assert "not a readable PDF" in str(err) and "re-export it or exclude it" in str(err)
    assert capfd.readouterr().err == "", "pypdf log noise must be silenced"


def test_pdf_without_text_says_it_needs_ocr() -> None:
    err = load_error("scan.pdf", make_pdf([[], []]))
    assert "no extractable text in its 2 page(s)" in str(err) and "OCR" in str(err)


# --- docx -----------------------------------------------------------------------------
def make_docx() -> bytes:
    import docx

    document = docx.Document()
    document.core_properties.title = "Operations guide"
    document.add_paragraph("Preface paragraph.")
    document.add_heading("Install", level=1)
    document.add_paragraph("Use pip install rag.")
    document.add_heading("Extras", level=2)
    document.add_paragraph("The pgvector extra adds PostgreSQL.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "extra"
    table.cell(0, 1).text = "adds"
    table.cell(1, 0).text = "korean"
    table.cell(1, 1).text = "kiwipiepy"
    document.add_heading("Empty section", level=1)
    document.add_heading("Usage", level=1)
    document.add_paragraph("rag ask 'question'")
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def test_docx_sections_heading_paths_and_tables() -> None:
    docs = load("guide.docx", make_docx())
    assert [d.location.heading_path for d in docs] == [
        (),
        ("Install",),
        ("Install", "Extras"),
        ("Usage",),
    ]
    assert docs[0].text == "Preface paragraph."
    assert docs[1].text == "Install\n\nUse pip install rag."
    assert docs[2].text == (
        "Extras\n\nThe pgvector extra adds PostgreSQL.\n\nextra | adds\nkorean | kiwipiepy"
    )
    assert all(d.metadata == {"title": "Operations guide"} for d in docs)


@pytest.mark.parametrize(
    "data",
    [b"not a zip at all", b"PK\x03\x04 truncated zip"],
    ids=["garbage", "truncated-zip"],
)
def test_corrupt_docx_is_refused(data: bytes) -> None:
    err = load_error("broken.docx", data)
    assert "not a readable .docx" in str(err)


def test_zip_that_is_not_a_docx_is_refused() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "hi")
    assert "not a readable .docx" in str(load_error("fake.docx", buf.getvalue()))


# --- csv ------------------------------------------------------------------------------
def test_csv_rows_become_records_with_physical_line_numbers() -> None:
    data = (
        "name,role,notes\n"
        "Ada,engineer,\n"
        '"Lin","lead","multi\nline note"\n'
        "\n"
        "Bo,,extra,overflow\n"
        "Cy\n"
    )
    docs = load("people.csv", data)
    assert [d.text for d in docs] == [
        "name: Ada\nrole: engineer",
        "name: Lin\nrole: lead\nnotes: multi\nline note",
        "name: Bo\nnotes: extra\ncolumn 4: overflow",
        "name: Cy",
    ]
    assert [d.location.record for d in docs] == ["1", "2", "3", "4"]
    assert [(d.location.start_line, d.location.end_line) for d in docs] == [
        (2, 2),
        (3, 4),
        (6, 6),
        (7, 7),
    ]


def test_csv_dialect_is_sniffed_and_tsv_uses_tabs() -> None:
    docs = load("semi.csv", "a;b\n1;2\n3;4\n")
    assert docs[1].text == "a: 3\nb: 4"
    docs = load("t.tsv", "a\tb\n1,5\t2\n")
    assert docs[0].text == "a: 1,5\nb: 2"


def test_csv_with_only_a_header_is_an_error() -> None:
    assert "no data rows" in str(load_error("h.csv", "a,b,c\n"))


def test_csv_in_cp949_decodes() -> None:
    docs = load("ko.csv", "이름,설명\n검색,형태소 분석\n".encode("cp949"))
    assert docs[0].text == "이름: 검색\n설명: 형태소 분석"


# --- json -----------------------------------------------------------------------------
def test_jsonl_records_text_title_ids_and_metadata() -> None:
    lines = [
        {"_id": "d1", "title": "First", "text": "Body one.", "year": 2020, "ok": True},
        {"content": "Body two.", "score": 0.5, "nested": {"x": 1}},
        {"id": 7, "body": "Body three.", "long": "x" * 500},
        {"question": "Why?", "answer": {"short": "Because", "refs": ["a", "b"]}},
    ]
    data = (
        "\n".join(json.dumps(r) for r in lines[:2])
        + "\n\n"
        + "\n".join(json.dumps(r) for r in lines[2:])
    )
    docs = load("data.jsonl", data)
    assert [d.text for d in docs] == [
        "First\n\nBody one.",
        "Body two.",
        "Body three.",
        "question: Why?\nanswer.short: Because\nanswer.refs: a, b",
    ]
    assert [d.location.record for d in docs] == ["d1", "2", "7", "5"]
    assert [d.location.start_line for d in docs] == [1, 2, 4, 5]
    assert all(d.location.start_line == d.location.end_line for d in docs)
    assert docs[0].metadata == {"_id": "d1", "title": "First", "year": 2020, "ok": True}
    assert docs[1].metadata == {"score": 0.5}
    assert docs[2].metadata["long"] == "x" * 200


def test_jsonl_bad_lines_keep_the_good_records() -> None:
    data = '{"text": "good one"}\n{broken\n{"text": "good two"}\nnot json\n'
    with pytest.raises(PartialLoadError) as info:
        load("mixed.jsonl", data)
    err = info.value
    assert isinstance(err, LoadError)
    assert [d.text for d in err.documents] == ["good one", "good two"]
    assert err.failed == ["2", "4"]
    assert "2 of 4 lines are not valid JSON (lines 2, 4" in str(err)
    assert "first error: line 2" in str(err)
    assert str(err).startswith("/corpus/mixed.jsonl: ")


def test_partial_load_error_survives_pickling() -> None:
    import pickle

    err = PartialLoadError(
        "f.jsonl", "bad", documents=[Document(source="f", text="t")], failed=["3"]
    )
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.reason, copy.failed, copy.documents) == (
        "f.jsonl",
        "bad",
        ["3"],
        err.documents,
    )


def test_jsonl_with_no_valid_line_is_a_load_error() -> None:
    with pytest.raises(LoadError) as info:
        load("bad.jsonl", "{nope\n[1,\n")
    assert not isinstance(info.value, PartialLoadError)
    assert "no line is valid JSON (line 1:" in str(info.value)


def test_json_list_object_and_jsonl_named_json() -> None:
    docs = load("list.json", json.dumps([{"text": "a"}, {"id": "x", "text": "b"}, None]))
    assert [(d.text, d.location.record) for d in docs] == [("a", "0"), ("b", "x")]
    [doc] = load("obj.json", json.dumps({"name": "rag", "store": {"kind": "chroma", "port": 8000}}))
    assert doc.text == "name: rag\nstore.kind: chroma\nstore.port: 8000"
    assert doc.metadata == {"name": "rag"}
    docs = load("lines.json", '{"text": "one"}\n{"text": "two"}\n')
    assert [d.text for d in docs] == ["one", "two"]


def test_invalid_json_names_line_and_column() -> None:
    err = load_error("bad.json", '{"a": 1,\n "b": }')
    assert "not valid JSON" in str(err) and "line 2, column" in str(err)


@pytest.mark.skipif(not SCIFACT.exists(), reason="SciFact evaluation data not present")
def test_scifact_corpus_loads_every_record() -> None:
    """The whole BEIR corpus, in file order. How fast it loads is the ingest benchmark's
    business (`bench/`), not a timed assertion here: it failed at 1.06 s under CI load."""
    docs = load_file(SCIFACT, SCIFACT.read_bytes())
    assert len(docs) == 5183
    assert docs[0].location.record == "4983"
    assert docs[0].text.startswith("Microstructural development")


def test_read_bytes_errors_are_load_errors(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="is a directory"):
        connectors.read_bytes(tmp_path)
    with pytest.raises(LoadError, match="does not exist"):
        connectors.read_bytes(tmp_path / "gone.txt")
    (tmp_path / "ok.txt").write_bytes(b"abc")
    assert connectors.read_bytes(tmp_path / "ok.txt") == b"abc"


def test_example_corpus_loads_cleanly_and_stays_small() -> None:
    """The README demo ingests examples/: every file must load, with citable locations."""
    root = Path(__file__).resolve().parents[2] / "examples"
    entries = list(connectors.walk(root))
    assert len(entries) >= 6
    for entry in entries:
        assert entry.error is None
        data = connectors.read_bytes(entry.path)
        assert len(data) < 3072, f"{entry.path} should stay under 3 KB"
        docs = load_file(entry.path, data)
        assert docs and all(d.location.describe() for d in docs)
    korean = load_file(root / "korean.md", (root / "korean.md").read_bytes())
    assert korean[1].location.heading_path == ("한국어 문서 검색", "인코딩")


def test_only_documents_whose_text_is_source_lines_claim_to_be_verbatim() -> None:
    """A chunker maps chunk offsets to line numbers only for verbatim documents."""
    verbatim = [
        *load("notes.txt", "first\nsecond\n\n\n"),
        *load("tool.py", "x = 1\ny = 2"),
        *load("guide.md", MARKDOWN),
    ]
    for doc in verbatim:
        assert lines_are_verbatim(doc), doc
    derived = [
        *load("people.csv", "name,role\nAda,engineer\n"),
        *load("data.jsonl", '{"title": "T", "text": "body"}\n'),
        *load("page.html", HTML),
        *load("notes.pdf", make_pdf([["a", "b"]])),
    ]
    for doc in derived:
        assert not lines_are_verbatim(doc), doc
