"""FAQ entries and shell commands in extractive answers: a command continued over lines is one
statement, an FAQ line marked "Q:" is a question its "A:" line answers, and an FAQ's yes/no
entry does not answer a question asking what (rag.pipelines.extractive)."""

from __future__ import annotations

from citation_helpers import cite

from rag.keywords import KeywordTokenizer
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.faqs import asks_what_not_way, yes_no_entry
from rag.pipelines.statements import asks, statements

CONTAINER = (
    "## Container\n\nRun the image with its data volume:\n\n```sh\n"
    "docker run -d --name quillbox \\\n  -p 7040:7040 \\\n  -v quill-data:/data \\\n"
    "  ghcr.io/quillbox/quillbox:2.3\ndocker logs quillbox\n```\n\n"
    "The process runs as uid 1500.\n"
)


def test_a_shell_command_continued_over_lines_is_one_statement() -> None:
    """ "docker run -d --name quillbox \\" alone says nothing: the lines joined by a trailing
    backslash are one statement, so the image the command starts is in the quoted line."""
    assert statements(CONTAINER) == [
        "Run the image with its data volume:",
        "`docker run -d --name quillbox -p 7040:7040 -v quill-data:/data "
        "ghcr.io/quillbox/quillbox:2.3`",
        "`docker logs quillbox`",
        "The process runs as uid 1500.",
    ]
    cut = "```sh\ndocker run -d \\\n  --name quillbox \\\n"  # a chunk ending mid-command
    assert statements(cut) == ["`docker run -d --name quillbox`"]
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    answer = answerer.compose(
        "Which image tag does the docker run command start?", [cite(1, CONTAINER)], lang="en"
    )
    assert "ghcr.io/quillbox/quillbox:2.3" in answer.text, answer


FAQ = (
    "Q: How do I upgrade from 2.2?\n"
    "A: Stop the server, copy quill.db somewhere safe, install 2.3 and start it.\n\n"
    "Q: Can I go back to 2.2 after upgrading?\n"
    "A: No. Downgrades are not supported; restore the copy you made.\n\n"
    "Q: The web page shows grey boxes instead of notes.\n"
    "A: The index is still being built, or the cache directory is not writable.\n\n"
    "Q: I forgot to save a draft. Can I still get it back?\n"
    "A: Yes. Run quillbox drafts restore to bring back the last hour of drafts.\n"
)


def test_an_faq_line_marked_q_is_a_question_its_reply_answers() -> None:
    """ "Q: The web page shows grey boxes instead of notes." states a problem without a
    question mark; its "A:" line is what answers the user who describes it."""
    assert asks("Q: The web page shows grey boxes instead of notes.")
    assert asks("**Q:** Why is it slow?") and not asks("Quillbox: a notes server.")
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    answer = answerer.compose(
        "the web page just shows grey boxes instead of my notes, what's wrong?",
        [cite(1, FAQ)],
        lang="en",
    )
    assert answer.text.startswith("A: The index is still being built"), answer


def test_a_yes_no_faq_entry_does_not_answer_a_question_asking_what() -> None:
    """ "what should I back up before upgrading from 2.2" shares every word with "Can I go back
    to 2.2 after upgrading?", whose reply ("No. Downgrades ...") answers something else; asked
    how to do a thing, a "Yes. Run ..." reply still gives the way."""
    assert yes_no_entry("Q: Can I go back to 2.2 after upgrading?")
    assert not yes_no_entry("A: No. Downgrades are not supported.")  # the reply: its own words
    assert not yes_no_entry("A: Stop the server, copy quill.db somewhere safe.")
    assert not yes_no_entry("Q: How do I upgrade from 2.2?")
    assert asks_what_not_way("what should i back up before upgrading from 2.2")
    assert not asks_what_not_way("I forgot to save a draft - how do I get it back?")
    assert not asks_what_not_way("Can I go back to 2.2?")
    answerer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch)
    what = answerer.compose(
        "what should i back up before upgrading from 2.2", [cite(1, FAQ)], lang="en"
    )
    assert what.text.startswith("A: Stop the server, copy quill.db"), what
    before = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch, yes_no_weight=0.0)
    assert (
        "Downgrades"
        in before.compose(
            "what should i back up before upgrading from 2.2", [cite(1, FAQ)], lang="en"
        ).text.split("\n")[0]
    )
    way = answerer.compose(
        "I forgot to save a draft - how do I get it back?", [cite(1, FAQ)], lang="en"
    )
    assert "quillbox drafts restore" in way.text, way
