"""``rag chat`` as a real process in a pseudo-terminal: the follow-up alone would retrieve the
wrong source; in the conversation it retrieves the right one; ``/sources``, ``/reset`` and
``/exit`` work; every turn is in the call log. Real parts: embedded Chroma, its BM25 sidecar,
the keyword tokenizer (retrieval_mode keyword, extractive answers: no model call)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.api import RAG
from rag.costs.calllog import CallLog

DOCS = {
    "widget.md": "# Widget\n\nTo install the widget, run the widget installer from the "
    "install folder. Installing the widget takes ten minutes.\n",
    "gadget.md": "# Gadget backups\n\nA gadget backup takes long: how long it takes depends "
    "on the disk, and a long backup can take hours.\n",
    "garden.md": "# Garden\n\nWater the tomatoes every morning and pick them when red.\n",
}
FLAGS = ["--collection", "conv", "--mode", "keyword", "--answer-mode", "extractive"]
PROMPT = "you> "


class Terminal:
    """A process on a pseudo-terminal: send lines, read until a marker appears."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.seen = ""

    def read_until(self, marker: str, timeout: float = 120.0) -> str:
        """Output up to and including the next ``marker`` (what was read before stays read)."""
        deadline = time.monotonic() + timeout
        while marker not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {marker!r} in time; output so far:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # the process ended
                    data = b""
                assert data, f"the process ended before {marker!r}:\n{self.seen}"
                self.seen += data.decode(errors="replace").replace("\r\n", "\n")
        head, _, self.seen = self.seen.partition(marker)
        return head

    def send(self, line: str) -> str:
        """Type ``line``; the output until the next prompt."""
        os.write(self.master, (line + "\n").encode())
        return self.read_until(PROMPT)

    def close(self) -> int:
        os.close(self.master)
        return self.proc.wait(30)


def sources_of(turn: str) -> list[str]:
    return re.findall(r"\[\d+\] (\S+)", turn)


@pytest.mark.integration
def test_chat_in_a_pseudo_terminal(tmp_path: Path, model_cache_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    data = tmp_path / "data"
    with RAG(data_dir=data, collection="conv", cache_dir=model_cache_dir) as r:
        r.ingest(docs)
    env = {**os.environ, "RAG_DATA_DIR": str(data), "RAG_CACHE_DIR": str(model_cache_dir)}
    env["RAG_TOP_K"] = "1"
    args = [sys.executable, "-m", "rag.cli"]

    # the follow-up alone: the wrong source
    alone = Terminal([*args, "chat", *FLAGS], env)
    alone.read_until(PROMPT)
    turn = alone.send("and how long does that take?")
    assert [Path(s).name for s in sources_of(turn)] == ["gadget.md"], turn
    os.write(alone.master, b"/exit\n")
    assert alone.proc.wait(30) == 0
    alone.close()

    term = Terminal([*args, "chat", *FLAGS], env)
    banner = term.read_until(PROMPT)
    assert "/sources" in banner and "/reset" in banner and "/exit" in banner
    first = term.send("How do I install the widget?")
    assert [Path(s).name for s in sources_of(first)] == ["widget.md"], first
    assert "installer" in first and "usage:" in first
    follow = term.send("and how long does that take?")
    assert [Path(s).name for s in sources_of(follow)] == ["widget.md"], follow
    assert "ten minutes" in follow
    shown = term.send("/sources")
    assert "widget.md" in shown and "Installing the widget takes ten minutes." in shown
    assert "forgotten" in term.send("/reset")
    again = term.send("and how long does that take?")
    assert [Path(s).name for s in sources_of(again)] == ["gadget.md"], "the history is gone"
    os.write(term.master, b"/exit\n")
    assert term.proc.wait(30) == 0
    term.close()

    calls = CallLog(data / "calls.db").calls()
    assert len(calls) == 4, "every turn is recorded as rag ask records it"
    assert {c.question for c in calls} == {
        "and how long does that take?",
        "How do I install the widget?",
    }
