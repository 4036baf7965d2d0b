"""``make_call_log``: the call log a setting names (SQLite by default, PostgreSQL when shared).

Its own module so that ``calllog`` (SQLite) and ``calllog_pg`` (PostgreSQL, built on
``calllog``'s records) do not import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.costs.calllog import CallLog, CallLogLike

if TYPE_CHECKING:
    from rag.config import Settings


def make_call_log(settings: Settings, *, tenant: str | None = None) -> CallLogLike:
    """The settings' call log: PostgreSQL at ``call_log_dsn`` (or at ``pg_dsn`` when the store
    is pgvector), else the SQLite file ``call_log_path``."""
    dsn = settings.call_log_dsn
    if dsn is None and settings.store == "pgvector":
        dsn = settings.pg_dsn
    if dsn:
        from rag.costs.calllog_pg import PgCallLog

        return PgCallLog(dsn, tenant=tenant)
    return CallLog(settings.call_log_path, tenant=tenant)
