"""A setting's definition and the line that gives its value: docs explain a key in prose
("`keep_backups` is how many earlier versions ... are kept") apart from the block that sets
it (``keep_backups = 10``), and a question about the key's value is answered by the pair."""

from __future__ import annotations

import re
from collections.abc import Sequence

_DEFINES = re.compile(
    r"^\W*`([A-Za-z_][\w.-]*)`\s+(?:is|are|sets?|controls?|limits?|caps?|decides?|says?|"
    r"gives?|holds?|names?|tells?|chooses?|picks?)\b"
)
"""A sentence opening with a key it explains: "`poll_interval` is how often ...", "`mode`
picks ..."."""


def defined_key(text: str) -> str | None:
    """The key ``text`` opens by explaining, or None."""
    m = _DEFINES.match(text)
    return m.group(1) if m else None


def setting_line(best: str, texts: Sequence[str], order: Sequence[int]) -> int | None:
    """When ``best`` explains a key, the best ranked statement of ``texts`` (``order``: best
    first) that sets it (```poll_interval = "5s"```, ``poll_interval: 5s``), else None. The
    definition says what the key means, the line what it is set to: quoted together they
    answer "how often does an idle runner ask for work?"."""
    key = defined_key(best)
    if key is None:
        return None
    sets = re.compile(rf"^\W*{re.escape(key)}\s*[=:]\s*[^\s=]")
    return next((k for k in order if sets.match(texts[k])), None)
