"""Tables in the sources: each row a statement, quoted whole, meaning what its first cell
names, its header said by every row, CSV records and a chunk opening mid-table
(rag.pipelines.statements, rag.pipelines.extractive)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from citation_helpers import cite

from rag.evals.metrics import best_answer_scores
from rag.keywords import KeywordTokenizer
from rag.pipelines.extractive import ExtractiveAnswerer
from rag.pipelines.extractive_rules import row_key
from rag.pipelines.statements import fragment, statements, table_header, table_rows
from rag.types import Citation

if TYPE_CHECKING:
    from rag.embeddings.onnx import OnnxEmbedder


RELEASES = (
    "version,released,codename,default_port,notes\n"
    '0.9.0,2019-03-14,Acorn,4100,"first release, JPEG only"\n'
    '2.0.0,2021-06-07,Dogwood,4480,"new default port, AVIF output"\n'
    '3.0.0,2023-10-10,Fir,4480,"GIF input removed, needs glibc 2.31"\n'
)
EXIT_CODES = (
    "Exit codes are listed below.\n\n| code | meaning |\n|------|---------|\n"
    "| 0 | every link answered |\n| 3 | the config file could not be read |\n"
)


def test_each_row_of_a_table_is_a_statement_of_its_own() -> None:
    assert statements(RELEASES) == RELEASES.splitlines()[1:]
    assert statements(EXIT_CODES) == [
        "Exit codes are listed below.",
        "| 0 | every link answered |",
        "| 3 | the config file could not be read |",
    ]
    # wrapped prose with the same commas on every line is no table
    prose = ["Gears trade speed, for force, and back, again", "so a rider, on a hill, a"]
    assert table_rows([*prose, "third line, of it, ends, here."]) is None
    verse = [
        "The first thing, the second thing, and the third thing",
        "then another one, a long one too, and more of it",
        "so it goes on, line after line, without a stop",
    ]
    assert table_rows(verse) is None
    # a chunk that starts mid-table: its first line is a row, not a header
    assert table_rows(
        ["0.9.0,2019-03-14,Acorn", "1.0.0,2019-09-02,Birch", "2.0.0,2021,Dogwood"]
    ) == [
        "0.9.0,2019-03-14,Acorn",
        "1.0.0,2019-09-02,Birch",
        "2.0.0,2021,Dogwood",
    ]
    assert table_rows(["| `port` | `8080` |", "| `workers` | `4` |"]) == [
        "| `port` | `8080` |",
        "| `workers` | `4` |",
    ]


def test_a_table_question_is_answered_with_its_row() -> None:
    answer = ExtractiveAnswerer().compose(
        "When was gritmill 2.0.0 released?", [cite(1, RELEASES)], lang="en"
    )
    assert '2.0.0,2021-06-07,Dogwood,4480,"new default port, AVIF output" [1]' in answer.text
    assert "version,released" not in answer.text  # the header is no statement
    # the cells of a row are not glued together when the answer is scored
    assert best_answer_scores(answer.text, ["2021-06-07"])[2] == 1.0
    code = ExtractiveAnswerer().compose(
        "Which exit code means the config file could not be read?", [cite(1, EXIT_CODES)], lang="en"
    )
    assert code.text == "| 3 | the config file could not be read | [1]"


def test_a_table_row_is_as_close_in_meaning_as_its_first_cell(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """A "how to" table's row embeds far from the question (pipes, paths: cosine 0.34 under
    the 0.35 floor, so the answer abstained); its first cell names what it is about."""
    table = cite(
        1,
        "Where to change what\n\n| to | open |\n|---|---|\n"
        "| add an LLM backend | `rag/llms/<name>.py` implementing `rag/llms/base.py:LLM` "
        "(hosted ones share `rag/llms/_hosted.py`); add it to `rag/llms/__init__.py:make_llm` "
        "and a price in `rag/costs/prices.toml` |\n"
        "| add a vector store | `stores/<name>.py` implementing `stores/base.py:Store`; register "
        "it in `stores/__init__.py:make_store` |\n",
    )
    answer = ExtractiveAnswerer(embedder=onnx_embedder).compose(
        "How do I add a backend?", [table], lang="en"
    )
    assert answer.text.startswith("| add an LLM backend |"), answer.reason
    assert answer.closeness is not None and answer.closeness > 0.6
    assert row_key("| add a vector store | `stores/<name>.py` |") == "add a vector store"
    assert row_key("add a vector store") == "" and row_key("| lone cell |") == ""


def test_a_chunk_opening_mid_table_keeps_its_first_row() -> None:
    """A table row opening a chunk (the table's header is in the chunk before) is a row, not
    the lower-case tail of a cut sentence: it stays a candidate and answers."""
    chunk = (
        "| change the call log or budgets | `rag/costs/calllog.py` (SQLite `CallLog`) |\n"
        "| add a loader | `connectors/<format>.py` |\n"
    )
    assert not fragment("| change the call log or budgets | `rag/costs/calllog.py` |", chunk)
    answer = ExtractiveAnswerer().compose(
        "Which file do I change for the call log?", [cite(1, chunk)], lang="en"
    )
    assert answer.text.startswith("| change the call log or budgets |"), answer.reason


def test_a_table_header_is_said_by_each_of_its_rows() -> None:
    """A CSV's header names what each row's cells are: "Does CockroachDB get transactional
    DDL?" is answered by the CockroachDB row (under ``transactional_ddl``), which lost to the
    MySQL row whose notes happen to say "DDL" (here they tie, and both are quoted)."""
    assert table_header(
        "docs/db.csv\n\ndatabase,minimum_version,transactional_ddl\na,1,yes\nb,2,no"
    ) == ("database,minimum_version,transactional_ddl")
    assert table_header("| key | meaning |\n|---|---|\n| a | b |") == "| key | meaning |"
    assert table_header("Just prose. No table here.") == ""
    csv_page = cite(
        1,
        "docs/databases.csv\n\n"
        "database,minimum_version,transactional_ddl,lock_method,notes\n"
        'PostgreSQL,12,yes,pg_advisory_lock,"indexes built concurrently need their own file"\n'
        'MySQL,8.0,no,GET_LOCK,"each DDL statement commits implicitly"\n'
        'CockroachDB,23.1,partial,lease row,"schema changes run asynchronously"',
    )
    answer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch).compose(
        "Does CockroachDB get transactional DDL with tidewright?", [csv_page], lang="en"
    )
    assert "CockroachDB,23.1,partial" in answer.text  # alone, the MySQL row won by "DDL"


def test_a_records_fields_are_one_statement_it_can_quote() -> None:
    """A CSV row or a JSON object is loaded as ``field: value`` lines (``examples/models.csv``).
    Its opening "backend: ..." starts in lower case, so it was dropped as the cut tail of a
    sentence and "What do I install for Anthropic?" had nothing to quote. Each field line is
    now a statement of its own, as each row of a table is: the answer is the field asked."""
    from rag.keywords import KeywordTokenizer

    def row(number: int, backend: str, spec: str, extra: str) -> Citation:
        text = f"backend: {backend}\nspec: {spec}\nkey: {backend.upper()}_API_KEY\ninstall: {extra}"
        return cite(number, text, record=str(number))

    anthropic = row(1, "Anthropic", "anthropic:MODEL", "pip install 'rag[anthropic]'")
    local = row(2, "llama.cpp", "local", "pip install 'rag[local]'")
    assert statements(anthropic.text) == [
        "backend: Anthropic",
        "spec: anthropic:MODEL",
        "key: ANTHROPIC_API_KEY",
        "install: pip install 'rag[anthropic]'",
    ]
    answer = ExtractiveAnswerer(KeywordTokenizer().tokenize_batch).compose(
        "What do I install for Anthropic?", [anthropic, local], lang="en"
    )
    assert answer.text == "install: pip install 'rag[anthropic]' [1]", answer.text
    # prose that merely opens with a word and a colon is not taken for fields
    assert statements("Note: the index is rebuilt.\nIt takes a minute.") == [
        "Note: the index is rebuilt.",
        "It takes a minute.",
    ]


COMMANDS = (
    "docs/commands.csv\n\n"
    "command,purpose,changes_files,common_flag,since,exit_on_error\n"
    "plant,create the garden and its settings file,yes,--from,0.1,2\n"
    "prune,show what water would change,no,--stat,0.3,1\n"
    "water,place every file from the garden,yes,--dry-run,0.1,5\n"
)


def test_a_named_rows_cells_are_read_under_their_columns() -> None:
    """A row the question names by its first cell reads cell by cell under its column names;
    a row it does not name, a header, a prose line or a row of another width does not."""
    from rag.pipelines.meaning import cell_readings

    header = "command,purpose,changes_files,common_flag,since,exit_on_error"
    row = "prune,show what water would change,no,--stat,0.3,1"
    asked = "what exit code does prune give when something goes wrong?"
    assert cell_readings(row, header, asked) == [
        "prune: purpose show what water would change",
        "prune: changes files no",
        "prune: common flag --stat",
        "prune: since 0.3",
        "prune: exit on error 1",
    ]
    assert cell_readings(row, header, "what exit code does plant give?") == []
    assert cell_readings(row, header, "does pruned work?") == []  # a word, not the name
    assert cell_readings(header, header, "what does command do?") == []
    assert cell_readings("Prune trims the garden.", header, asked) == []
    assert cell_readings("prune,1", header, asked) == []
    assert cell_readings("| `prune` | 1 | no |", "| command | exit | changes |", asked) == [
        "prune: exit 1",
        "prune: changes no",
    ]


def test_a_rows_cell_under_its_column_answers_what_the_whole_row_did_not(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """Whole, the ``prune`` row embeds far from "what exit code does prune give when something
    goes wrong?" (the answer abstained: no sentence came close in meaning); read under its
    columns, "prune: exit on error 1" is close, and its last cell is an exit status (a comma
    before one or two digits separates cells, not thousands: ``0.3,1``)."""
    answerer = ExtractiveAnswerer(embedder=onnx_embedder)
    question = "what exit code does prune give when something goes wrong?"
    answer = answerer.compose(question, [cite(1, COMMANDS)], lang="en")
    assert answer.text == "prune,show what water would change,no,--stat,0.3,1 [1]", answer.reason
