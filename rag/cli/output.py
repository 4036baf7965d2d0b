"""Consoles for the commands: Rich markup, emoji codes and highlighting are off, so ``[/x]``,
``[bold]`` and ``:smile:`` in paths, questions, filter values and error messages print as
written. Styling is applied with ``Text`` objects, never parsed from strings."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def stdout(*, width: int | None = None, soft_wrap: bool = True) -> Console:
    """A stdout console that prints text literally (no markup, emoji codes or highlighting). Lines are not
    wrapped unless ``soft_wrap`` is False (tables fit themselves to ``width``)."""
    from rich.console import Console

    return Console(markup=False, emoji=False, highlight=False, soft_wrap=soft_wrap, width=width)


def stderr() -> Console:
    """A stderr console that prints text literally (no markup, emoji codes or highlighting)."""
    from rich.console import Console

    return Console(stderr=True, markup=False, emoji=False, highlight=False, soft_wrap=True)


def print_labelled(label: str, style: str, message: str, *, console: Console | None = None) -> None:
    """``label message`` on stderr, the label styled and the message printed as written."""
    from rich.text import Text

    (console or stderr()).print(Text.assemble((label, style), " ", message))


def print_error(message: str) -> None:
    """``error: message`` on stderr."""
    print_labelled("error:", "bold red", message)
