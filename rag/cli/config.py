"""``rag config``: the effective settings as JSON, every password and key masked
(``rag.redact``)."""

from __future__ import annotations

import json

import typer

from rag.cli.exit_codes import handle_errors
from rag.cli.options import ConfigOpt


def show_config(config: ConfigOpt = None) -> None:
    """Print the effective settings (defaults < rag.toml < RAG_* env < flags) as JSON."""
    with handle_errors():
        from rag.config import load_settings

        settings = load_settings(config)
    from rag.redact import redact_data

    typer.echo(json.dumps(redact_data(settings.model_dump(mode="json")), indent=2))
