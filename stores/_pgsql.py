"""SQL for the pgvector store: schema migrations, chunk-table layout, filters as WHERE clauses.

Kept apart from ``rag.stores.pgvector`` so the SQL rag sends is in one place to audit: table
names come from ``table_name`` (sanitized + hashed, always passed through
``psycopg.sql.Identifier``); filter field names and values are only ever bound parameters.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag.stores.base import DuplicatePolicy, Filters, normalize_condition
from rag.types import Chunk, Location, MetadataValue, ScoredChunk, Vectors

if TYPE_CHECKING:
    from psycopg import sql

MIGRATIONS: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (
        1,
        "collections registry and source manifest",
        (
            """CREATE TABLE rag_collections (
                name text PRIMARY KEY,
                table_name text NOT NULL UNIQUE,
                dimension integer NOT NULL CHECK (dimension > 0),
                created_at timestamptz NOT NULL DEFAULT now())""",
            """CREATE TABLE rag_sources (
                collection text NOT NULL,
                source text NOT NULL,
                file_hash text NOT NULL,
                chunk_count integer NOT NULL,
                updated_at double precision NOT NULL,
                PRIMARY KEY (collection, source))""",
        ),
    ),
    (
        2,
        "keyword (BM25) index: per-chunk lengths and term postings",
        (
            """CREATE TABLE rag_kw_docs (
                collection text NOT NULL,
                chunk_id text NOT NULL,
                source text NOT NULL,
                length integer NOT NULL,
                PRIMARY KEY (collection, chunk_id))""",
            "CREATE INDEX rag_kw_docs_source ON rag_kw_docs (collection, source)",
            """CREATE TABLE rag_kw_postings (
                collection text NOT NULL,
                term text NOT NULL,
                chunk_id text NOT NULL,
                tf integer NOT NULL,
                PRIMARY KEY (collection, term, chunk_id))""",
            "CREATE INDEX rag_kw_postings_chunk ON rag_kw_postings (collection, chunk_id)",
        ),
    ),
    (
        3,
        "manifest: the identity of the embedder that embedded each source",
        ("ALTER TABLE rag_sources ADD COLUMN embedder text NOT NULL DEFAULT ''",),
    ),
    (
        4,
        "manifest and chunk tables: each source's ingest root and path relative to it",
        (
            "ALTER TABLE rag_sources ADD COLUMN root text NOT NULL DEFAULT '', "
            "ADD COLUMN rel_path text NOT NULL DEFAULT ''",
            # the chunk tables made before this version (format's %I quotes each name)
            "DO $$ DECLARE t text; BEGIN "
            "FOR t IN SELECT table_name FROM rag_collections LOOP "
            "EXECUTE format($f$ALTER TABLE %I "
            "ADD COLUMN IF NOT EXISTS root text NOT NULL DEFAULT '', "
            "ADD COLUMN IF NOT EXISTS rel_path text NOT NULL DEFAULT ''$f$, t); "
            "END LOOP; END $$",
        ),
    ),
)
"""Schema versions, oldest first. Append new ones; never edit a released entry. Chunk tables are
created by ``_create_table`` at the latest version; a migration that changes them must loop
over ``rag_collections``."""

COLUMNS = (
    *("id", "source", "text", "content_hash", "location", "metadata", "embedding"),
    *("root", "rel_path"),
)
"""Columns of a chunk table, in COPY order."""
CHUNK_SELECT = "id, source, text, content_hash, location, metadata, root, rel_path"
"""The columns ``row_chunk`` reads, in its order (a query's score follows them)."""
SCORE = 8
"""Where the score is in a query's row (after ``CHUNK_SELECT``)."""


def conflict_clause(policy: DuplicatePolicy) -> sql.Composable:
    """``ON CONFLICT`` for an insert under ``policy`` (FAIL: none, so a duplicate raises)."""
    from psycopg import sql

    if policy is DuplicatePolicy.OVERWRITE:
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[1:])
        return sql.SQL("ON CONFLICT (id) DO UPDATE SET " + updates)
    if policy is DuplicatePolicy.SKIP:
        return sql.SQL("ON CONFLICT (id) DO NOTHING")
    return sql.SQL("")


def table_name(collection: str) -> str:
    """``rag_c_<sanitized name>_<8 hex of sha256(name)>``: a valid, unique identifier (<= 55)."""
    clean = re.sub(r"[^a-z0-9_]", "_", collection.lower())[:40]
    digest = hashlib.sha256(collection.encode()).hexdigest()[:8]
    return f"rag_c_{clean}_{digest}"


# -- queries (shared by PgVectorStore and its async twin, rag.stores.pgvector_async) -----------


@dataclass(frozen=True)
class TableInfo:
    """A collection's chunk table and the dimension its first write fixed."""

    table: str
    dimension: int


COLLECTION_SQL = "SELECT table_name, dimension FROM rag_collections WHERE name = %s"
"""A collection's chunk table and dimension (one row, or none before its first write)."""

EF_SEARCH_SQL = "SELECT set_config('hnsw.ef_search', %s, true)"
"""``hnsw.ef_search`` for the current transaction only."""


def session_settings(ef_search: int, iterative: bool) -> list[tuple[str, tuple[str, ...]]]:
    """The statements that set up every pooled connection (after the vector adapters):
    each query planned for its own filter values, and the HNSW search settings."""
    return [
        # plan each query for its filter values: a generic plan guesses selectivity and may pick
        # an exact scan of 10% of the table where the HNSW index with a filter is 5x faster
        ("SET plan_cache_mode = force_custom_plan", ()),
        ("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef_search),)),
        *([("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', false)", ())] * iterative),
    ]


def query_ef_search(
    k: int, filters: Filters | None, *, ef_search: int, filtered_ef_search: int
) -> int | None:
    """``hnsw.ef_search`` to set for one top-``k`` query's transaction, or None when the
    session's ``ef_search`` holds: filtered queries scan deeper, and never fewer than ``k``."""
    ef = max(k, filtered_ef_search if filters else ef_search)
    return min(ef, 1000) if ef != ef_search else None


def dense_query(
    table: str, q: Vectors, k: int, filters: Filters | None
) -> tuple[sql.Composed, list[Any]]:
    """The SELECT of a top-``k`` cosine query for the 1-d vector ``q`` (``filters`` validated)."""
    from psycopg import sql

    where, params = build_where(filters)
    select = sql.SQL(
        "SELECT " + CHUNK_SELECT + ", embedding <=> %s AS distance FROM {t} WHERE {w} "
        "ORDER BY distance LIMIT %s"
    ).format(t=sql.Identifier(table), w=where)
    return select, [q, *params, k]


def any_rows_sql(table: str) -> sql.Composed:
    """Whether a chunk table holds any row (tells an empty collection from a strict filter)."""
    from psycopg import sql

    return sql.SQL("SELECT EXISTS (SELECT 1 FROM {t})").format(t=sql.Identifier(table))


def dense_hits(rows: Sequence[Sequence[Any]]) -> list[ScoredChunk]:
    """Hits of a ``dense_query``'s rows, scored ``1 - distance``, closest first (re-sorted:
    relaxed_order iterative scans may be slightly off)."""
    hits = [ScoredChunk(chunk=row_chunk(r), score=1.0 - float(r[SCORE])) for r in rows]
    hits.sort(key=lambda h: -h.score)
    return hits


# -- filters -> SQL ----------------------------------------------------------------------------


def build_where(filters: Filters | None) -> tuple[sql.Composable, list[Any]]:
    """A WHERE clause for validated ``filters``: constant SQL text, every name and value a parameter."""
    from psycopg import sql
    from psycopg.types.json import Jsonb

    parts: list[sql.Composable] = []
    params: list[Any] = []
    for field, cond in (filters or {}).items():
        for op, arg in normalize_condition(cond).items():
            if field == "source":
                clause, p = _source_clause(op, arg)
            else:
                clause, p = _metadata_clause(field, op, arg, Jsonb)
            parts.append(sql.SQL(clause))
            params.extend(p)
    if not parts:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(parts), params


_RANGE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _source_clause(op: str, arg: MetadataValue | list[MetadataValue]) -> tuple[str, list[Any]]:
    """``source`` is a text column: strings compare, anything else never matches."""
    if op == "$in":
        values = [v for v in arg if isinstance(v, str)] if isinstance(arg, list) else []
        return "source = ANY(%s)", [values]
    if op == "$ne":
        return ("source <> %s", [arg]) if isinstance(arg, str) else ("TRUE", [])
    if not isinstance(arg, str):
        return "FALSE", []
    if op == "$eq":
        return "source = %s", [arg]
    return f'source COLLATE "C" {_RANGE[op]} %s', [arg]


def _metadata_clause(
    field: str, op: str, arg: MetadataValue | list[MetadataValue], jsonb: Any
) -> tuple[str, list[Any]]:
    if op == "$in":
        values = [jsonb(v) for v in arg] if isinstance(arg, list) else []
        return "metadata -> %s = ANY(%s::jsonb[])", [field, values]
    if isinstance(arg, list):
        return "FALSE", []
    if op == "$eq":
        return "metadata @> %s", [jsonb({field: arg})]
    if op == "$ne":
        return "(metadata ? %s AND NOT metadata @> %s)", [field, jsonb({field: arg})]
    sym = _RANGE[op]
    if isinstance(arg, str):
        return (
            f"(jsonb_typeof(metadata -> %s) = 'string' AND (metadata ->> %s) COLLATE \"C\" {sym} %s)",
            [field, field, arg],
        )
    kind = "boolean" if isinstance(arg, bool) else "number"
    return (
        f"(jsonb_typeof(metadata -> %s) = '{kind}' AND metadata -> %s {sym} %s)",
        [field, field, jsonb(arg)],
    )


# -- messages ----------------------------------------------------------------------------------


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def describe_dsn(dsn: str) -> dict[str, str]:
    """host:port, database and user of a DSN for messages (never the password)."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        params = conninfo_to_dict(dsn)
    except Exception:
        params = {}
    host = str(params.get("host") or params.get("hostaddr") or "localhost")
    port = str(params.get("port") or 5432)
    user = str(params.get("user") or "(default user)")
    return {"addr": f"{host}:{port}", "dbname": str(params.get("dbname") or user), "user": user}


def row_chunk(row: Sequence[Any]) -> Chunk:
    """A chunk from a row selected as ``CHUNK_SELECT``."""
    return Chunk(
        id=row[0],
        source=row[1],
        text=row[2],
        content_hash=row[3],
        location=Location.model_validate(row[4]),
        metadata=row[5],
        root=row[6],
        rel_path=row[7],
    )
