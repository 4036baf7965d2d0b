"""One place that hides secrets in text rag shows or stores: settings, errors, logs, the call log.

``redact(text)`` masks, wherever they appear in ``text``:

* the password of a URL's userinfo, whatever it contains (``postgresql://u:p@ss/w:rd@host``
  -> ``postgresql://u:***@host``; a user-less ``://:secret@host`` too);
* ``key=value`` secrets of libpq DSNs and query strings (``password=``, ``sslpassword=``,
  ``passfile=`` is not a secret and stays; quoted values ``password='a b'`` included);
* bearer tokens and the API key shapes of the hosted providers (``sk-...``, ``sk-ant-...``).

The user name, host, port and database stay visible: they are what a message needs to say
which server failed. Masking is idempotent (``redact(redact(x)) == redact(x)``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MASK = "***"

# scheme://[user][:password]@host — the password runs to the LAST "@" before the host, so
# passwords holding "@", ":" or "/" are masked whole
_URL_USERINFO = re.compile(
    r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.\-]*://(?P<user>[^\s:/@'\"]*)):(?P<pw>[^\s'\"]*)@"
    r"(?P<host>[^\s@/'\"?#]*)"
)
_KEY_VALUE = re.compile(
    r"(?P<key>\b(?:password|sslpassword|passwd|pwd|api[_-]?key|access[_-]?token|secret)\s*=\s*)"
    r"(?P<value>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s&;,'\"]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>\bBearer\s+)(?P<value>[A-Za-z0-9._~+/=\-]{8,})")
_API_KEY = re.compile(r"\b(?:sk|rk|pk)-(?:[A-Za-z]+-)?[A-Za-z0-9_\-]{12,}")


def redact(text: str) -> str:
    """``text`` with every password, key and token it holds replaced by ``***``."""
    if not text:
        return text
    out = _URL_USERINFO.sub(_mask_userinfo, text)
    out = _KEY_VALUE.sub(lambda m: m.group("key") + MASK, out)
    out = _BEARER.sub(lambda m: m.group("key") + MASK, out)
    return _API_KEY.sub(MASK, out)


def _mask_userinfo(m: re.Match[str]) -> str:
    if m.group("pw") == MASK:
        return m.group(0)
    return f"{m.group('head')}:{MASK}@{m.group('host')}"


def redact_data(value: Any) -> Any:
    """``redact`` applied to every string inside nested dicts, lists and tuples (for settings
    dumped as JSON)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
