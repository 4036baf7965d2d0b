"""The web page at ``/`` in a real browser: Debian's Chromium driven by Playwright.

``make test-deps`` installs the ``chromium`` package (Playwright's own browser download needs
the internet); the test runs against the real ``rag serve`` process with the default offline
stack. A screenshot of the answered page lands in ``test-artifacts/web/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BASE_TOML, start_server

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "web"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[str]:
    """``rag serve`` with no tenants (loopback only, no keys) and extractive answers."""
    root = tmp_path_factory.mktemp("web")
    (root / "rag.toml").write_text(BASE_TOML, encoding="utf-8")
    running = start_server(root, model_cache_dir)
    yield running.url
    running.stop()


def test_web_page_uploads_asks_streams_and_shows_a_cited_passage(server: str) -> None:
    """Upload a file, ask with the keyboard, see the text arrive while the answer streams,
    follow a ``[n]`` to its passage (file and lines), and see tokens, latency and cost; a
    question the file does not answer is declined with the reason shown."""
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium package (make test-deps)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            # generous waits: CI shares 2 cores with the rest of the suite
            page.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)
            page.goto(server + "/")
            expect(page).to_have_title("rag")
            expect(page.locator("#collection-help")).to_contain_text("No collections yet")

            page.fill("#new-collection", "docs")
            page.set_input_files("#files", str(REPO / "examples" / "stores.md"))
            page.click("#upload")
            expect(page.locator("#upload-status")).to_contain_text("1 new", timeout=120_000)
            expect(page.locator("#collection")).to_have_value("docs")

            page.focus("#question")
            page.keyboard.type("How do I switch to pgvector?")
            page.keyboard.press("Control+Enter")
            expect(page.locator("#status")).to_have_text("Done.", timeout=120_000)
            # the page rendered the text of the delta events before the final one replaced it
            streamed = page.locator("#answer").get_attribute("data-streamed") or ""
            assert "pgvector" in streamed, streamed
            answer = page.locator("#answer")
            expect(answer).to_contain_text("pgvector")
            expect(page.locator("#usage")).to_contain_text("tokens")
            expect(page.locator("#usage")).to_contain_text(" s · ")
            expect(page.locator("#sources li").first).to_contain_text("stores.md")

            # keyboard: focus the first [n] of the answer and press Enter
            cite = answer.locator("button.cite").first
            cite.focus()
            page.keyboard.press("Enter")
            head = page.locator("#passage-head")
            expect(head).to_contain_text("stores.md")
            expect(head).to_contain_text("lines")
            expect(page.locator("#passage")).to_contain_text("pgvector")
            expect(page.locator("#passage")).to_be_focused()
            page.screenshot(path=str(ARTIFACTS / "answered.png"), full_page=True)

            # a question the file does not answer: declined, and the page says why
            page.fill("#question", "What is the boiling point of liquid nitrogen?")
            page.focus("#question")
            page.keyboard.press("Control+Enter")
            expect(page.locator("#status")).to_have_text("Done.", timeout=120_000)
            expect(answer).to_contain_text("The sources do not say.")
            expect(page.locator("#usage")).to_contain_text("not answered: ")
        finally:
            browser.close()
    assert (ARTIFACTS / "answered.png").stat().st_size > 0
