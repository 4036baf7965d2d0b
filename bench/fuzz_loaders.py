"""Fuzz every built-in loader on mutated samples (issue #12): hypothesis mutates a small valid
file of each format (flipped, inserted, deleted, duplicated bytes; truncation), the mutant is
read the way ingest reads it (``LoaderRegistry.iter_file`` on a file on disk), and each run
ends one of three ways: Documents, a LoadError (reported: fine), or a crash (any other
exception, or a LoadError wrapping an unexpected one: a bug to fix).

    python bench/fuzz_loaders.py                  # 60 s in all
    python bench/fuzz_loaders.py --seconds 300 --show 5

Prints a table format / examples / loaded / LoadErrors / crashes, then each distinct crash.
Exit status 1 if anything crashed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning

from rag.connectors import default_loaders
from rag.errors import LoadError


def _pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF with a Helvetica text line per entry."""
    shows = " T* ".join(f"({line}) Tj" for line in lines)
    content = f"BT /F1 12 Tf 14 TL 72 720 Td {shows} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> >> /Contents 5 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Marmots", level=1)
    document.add_paragraph("The marmot lives in a burrow.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "name", "food"
    table.cell(1, 0).text, table.cell(1, 1).text = "vole", "grass"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


SAMPLES: dict[str, Callable[[], bytes]] = {
    ".txt": lambda: "Marmots whistle.\n\nVoles eat grass; 한국어 문장입니다.\n".encode(),
    ".md": lambda: (
        b"# Marmots\n\nThey *whistle*.\n\n## Voles\n\n- grass\n- roots\n\n```py\nx=1\n```\n"
    ),
    ".html": lambda: (
        b"<html><head><title>T</title><script>x()</script></head><body><h1>Marmots</h1>"
        b"<p>They whistle &amp; dig.</p><table><tr><td>a</td><td>b</td></tr></table></body></html>"
    ),
    ".pdf": lambda: _pdf(["Marmots whistle.", "Voles eat grass."]),
    ".docx": _docx,
    ".csv": lambda: b'name,food,count\nmarmot,grass,3\nvole,"roots, seeds",5\n',
    ".json": lambda: json.dumps(
        {"title": "Cfg", "items": [{"id": 1, "text": "marmot"}, {"id": 2, "text": "vole"}]}
    ).encode(),
    ".jsonl": lambda: b'{"id": 1, "text": "marmot"}\n{"id": 2, "text": "vole", "lang": "en"}\n',
    ".py": lambda: b'"""Doc."""\n\n\ndef f(x):\n    return x + 1\n\n\nclass A:\n    pass\n',
}


def mutations(sample: bytes) -> st.SearchStrategy[bytes]:
    """``sample`` with a few random edits applied in turn."""
    edit = st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 1 << 30), st.integers(1, 255)),
        st.tuples(st.just("insert"), st.integers(0, 1 << 30), st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("delete"), st.integers(0, 1 << 30), st.integers(1, 64)),
        st.tuples(st.just("dup"), st.integers(0, 1 << 30), st.integers(1, 256)),
        st.tuples(st.just("truncate"), st.integers(0, 1 << 30), st.just(0)),
        st.tuples(st.just("special"), st.integers(0, 1 << 30), st.sampled_from(_SPECIAL)),
    )
    return st.lists(edit, min_size=1, max_size=6).map(lambda edits: _apply(sample, edits))


_SPECIAL = [
    b"\x00",
    b"\xff\xfe",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"\r",
    b"\n\n",
    b"$",
    b"{",
    b"]",
]


def _apply(sample: bytes, edits: list[tuple[str, int, object]]) -> bytes:
    data = bytearray(sample)
    for kind, where, arg in edits:
        at = where % (len(data) + 1)
        if kind == "flip" and data:
            data[at % len(data)] ^= int(arg)  # type: ignore[call-overload]
        elif kind in ("insert", "special"):
            data[at:at] = arg  # type: ignore[assignment]
        elif kind == "delete":
            del data[at : at + int(arg)]  # type: ignore[call-overload]
        elif kind == "dup":
            data[at:at] = data[at : at + int(arg)]  # type: ignore[call-overload]
        elif kind == "truncate":
            del data[at:]
    return bytes(data)


def fuzz(ext: str, seconds: float, work: Path) -> tuple[Counter[str], dict[str, bytes]]:
    """Run mutants of the ``ext`` sample for about ``seconds``; the outcome counts and one
    example input per distinct crash."""
    registry = default_loaders()
    outcome: Counter[str] = Counter()
    crashes: dict[str, bytes] = {}
    path = work / f"sample{ext}"
    deadline = time.monotonic() + seconds

    @settings(
        max_examples=1_000_000,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(mutations(SAMPLES[ext]()))
    def run(data: bytes) -> None:
        if time.monotonic() > deadline:
            raise _TimeUp
        path.write_bytes(data)
        outcome["examples"] += 1
        try:
            docs = list(registry.iter_file(path))
        except LoadError as exc:
            if "unexpected error in" in exc.reason:
                _crash(outcome, crashes, exc.reason.split(";")[0], data)
            else:
                outcome["load_errors"] += 1
            return
        except Exception as exc:  # a crash: what this run is for
            _crash(outcome, crashes, f"{type(exc).__name__}: {exc}"[:200], data)
            return
        outcome["loaded"] += 1
        for doc in docs:
            doc.text.encode("utf-8")  # no lone surrogate escapes a loader

    with contextlib.suppress(_TimeUp):
        run()
    return outcome, crashes


class _TimeUp(Exception):
    """Ends a format's run at its deadline."""


def _crash(outcome: Counter[str], crashes: dict[str, bytes], key: str, data: bytes) -> None:
    outcome["crashes"] += 1
    crashes.setdefault(key, data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="total, split evenly")
    parser.add_argument("--show", type=int, default=3, help="crash inputs to print per format")
    args = parser.parse_args()
    warnings.simplefilter("ignore", HypothesisWarning)  # large mutants' reprs
    per = args.seconds / len(SAMPLES)
    print(f"{'format':<7} | {'examples':>8} | {'loaded':>6} | {'LoadError':>9} | {'crashes':>7}")
    print("-" * 50)
    found: dict[str, dict[str, bytes]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for ext in SAMPLES:
            counts, crashes = fuzz(ext, per, Path(tmp))
            found[ext] = crashes
            print(
                f"{ext:<7} | {counts['examples']:>8} | {counts['loaded']:>6} | "
                f"{counts['load_errors']:>9} | {counts['crashes']:>7}",
                flush=True,
            )
    total = sum(len(c) for c in found.values())
    for ext, crashes in found.items():
        for key, data in list(crashes.items())[: args.show]:
            print(f"\n{ext} crash: {key}\n  input: {data[:300]!r}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
