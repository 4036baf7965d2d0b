"""``rag serve keys add NAME``: a new API key for a tenant, of which rag.toml keeps only the
SHA-256 digest (in the tenant's ``[[server.tenants]]`` table, created when missing).

The file is edited as text, so its comments and layout stay as they were: a new tenant is a
table appended at the end; a known tenant gets the digest added to its ``key_sha256`` list.
The result is parsed again before it replaces the file (atomically), so a file this cannot
edit safely is left untouched with an error that says what to add by hand.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from rag.config import TENANT_NAME
from rag.errors import ConfigError
from rag.server.tenants import key_digest, new_key

_HEADER = re.compile(r"^\s*\[", re.MULTILINE)
_TENANT_HEADER = re.compile(r"^\s*\[\[\s*server\.tenants\s*\]\]\s*(#.*)?$", re.MULTILINE)


def add_key(path: Path, tenant: str) -> str:
    """Create a key for ``tenant``, store its digest in ``path``; return the key."""
    if not re.fullmatch(TENANT_NAME, tenant):
        raise ConfigError(
            f"tenant name {tenant!r} is not valid: use 1-24 letters, digits or '-', starting "
            "with a letter or digit"
        )
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix it first") from None
    key = new_key()
    digest = key_digest(key)
    tenants = before.get("server", {}).get("tenants", [])
    if any(t.get("name") == tenant for t in tenants):
        new_text = _append_digest(text, tenant, digest, path)
    else:
        sep = "" if not text or text.endswith("\n\n") else ("\n" if text.endswith("\n") else "\n\n")
        new_text = f'{text}{sep}[[server.tenants]]\nname = "{tenant}"\nkey_sha256 = ["{digest}"]\n'
    after = tomllib.loads(new_text)
    stored = [t for t in after.get("server", {}).get("tenants", []) if t.get("name") == tenant]
    if len(stored) != 1 or digest not in stored[0].get("key_sha256", []):
        raise ConfigError(_by_hand(path, tenant, digest))
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new_text, encoding="utf-8")
    os.replace(tmp, path)
    return key


def _append_digest(text: str, tenant: str, digest: str, path: Path) -> str:
    """``text`` with ``digest`` added to the ``key_sha256`` list of ``tenant``'s table."""
    for header in _TENANT_HEADER.finditer(text):
        start = header.end()
        following = _HEADER.search(text, start)
        end = following.start() if following else len(text)
        block = text[start:end]
        if not re.search(rf'^\s*name\s*=\s*["\']{re.escape(tenant)}["\']', block, re.MULTILINE):
            continue
        keys = re.search(r"^(\s*key_sha256\s*=\s*\[)([^\]]*)\]", block, re.MULTILINE)
        if keys is None:
            line = f'key_sha256 = ["{digest}"]\n'
            body = block if block.endswith("\n") else block + "\n"
            return text[:start] + body + line + text[end:]
        inner = keys.group(2).rstrip()
        inner = inner.rstrip(",")
        joined = f'{inner}, "{digest}"' if inner.strip() else f'"{digest}"'
        block = block[: keys.start()] + keys.group(1) + joined + "]" + block[keys.end() :]
        return text[:start] + block + text[end:]
    raise ConfigError(_by_hand(path, tenant, digest))


def _by_hand(path: Path, tenant: str, digest: str) -> str:
    return (
        f"could not add the key to tenant {tenant!r} in {path} automatically; add "
        f'"{digest}" to its key_sha256 list by hand (no key was created)'
    )
