"""``rag config``: the effective settings as JSON, the database password masked."""

from __future__ import annotations

import json
import re

import typer

from rag.cli.exit_codes import handle_errors
from rag.cli.options import ConfigOpt


def show_config(config: ConfigOpt = None) -> None:
    """Print the effective settings (defaults < rag.toml < RAG_* env < flags) as JSON."""
    with handle_errors():
        from rag.config import load_settings

        settings = load_settings(config)
    data = settings.model_dump(mode="json")
    if data.get("pg_dsn"):
        data["pg_dsn"] = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", data["pg_dsn"])
    typer.echo(json.dumps(data, indent=2))
