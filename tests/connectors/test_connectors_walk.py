"""The walker and read_bytes: order, hidden/junk skipping, globs, symlinks, permissions.

Permission tests need a user the kernel actually refuses. When the suite runs as root
(where chmod 000 does not block reads), they fork a child that drops to uid/gid 65534
("nobody") and runs the real code there; only if that is impossible are they skipped.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag.connectors import read_bytes, walk
from rag.connectors.walker import compile_globs
from rag.errors import ConfigError, LoadError

NOBODY = 65534


def touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"content of {name}\n")


def rel(
    root: Path,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    allow_roots: tuple[Path, ...] = (),
) -> list[str]:
    out = []
    for entry in walk(root, include, exclude, allow_roots=allow_roots):
        assert entry.error is None, entry
        out.append(entry.path.relative_to(root).as_posix())
    return out


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    touch(
        tmp_path,
        "b.md",
        "a.txt",
        "docs/guide.md",
        "docs/sub/deep.txt",
        "docs/drafts/wip.md",
        "docs/.secret.md",
        ".hidden/x.md",
        "node_modules/pkg/index.js",
        "__pycache__/m.pyc",
        "venv/lib/site.py",
        ".venv/lib/site.py",
        ".git/config",
        "notes/drafts/idea.txt",
    )
    return tmp_path


def test_walk_is_sorted_recursive_and_skips_hidden_and_junk(tree: Path) -> None:
    assert rel(tree) == [
        "a.txt",
        "b.md",
        "docs/drafts/wip.md",
        "docs/guide.md",
        "docs/sub/deep.txt",
        "notes/drafts/idea.txt",
    ]


def test_walk_of_a_file_yields_that_file(tree: Path) -> None:
    entries = list(walk(tree / "docs" / "guide.md", exclude=["*.md"]))
    assert [(e.path, e.error) for e in entries] == [(tree / "docs" / "guide.md", None)]
    hidden = tree / ".hidden" / "x.md"
    assert [e.path for e in walk(hidden)] == [hidden]


def test_walk_nonexistent_root_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; check the path") as info:
        list(walk(tmp_path / "nope"))
    assert str(tmp_path / "nope") in str(info.value)


@pytest.mark.parametrize(
    ("include", "exclude", "expected"),
    [
        (("*.md",), (), ["b.md", "docs/drafts/wip.md", "docs/guide.md"]),
        (("docs/**/*.txt",), (), ["docs/sub/deep.txt"]),
        (("docs/*.md",), (), ["docs/guide.md"]),
        (("**/drafts/*",), (), ["docs/drafts/wip.md", "notes/drafts/idea.txt"]),
        ((), ("drafts",), ["a.txt", "b.md", "docs/guide.md", "docs/sub/deep.txt"]),
        ((), ("**/drafts/*", "*.txt"), ["b.md", "docs/guide.md"]),
        ((), ("docs/",), ["a.txt", "b.md", "notes/drafts/idea.txt"]),
        (("*.md",), ("docs/drafts/**",), ["b.md", "docs/guide.md"]),
        (("[ab].*",), (), ["a.txt", "b.md"]),
        (("./docs/g?ide.md",), (), ["docs/guide.md"]),
    ],
)
def test_include_and_exclude_globs(
    tree: Path, include: tuple[str, ...], exclude: tuple[str, ...], expected: list[str]
) -> None:
    assert rel(tree, include, exclude) == expected


def test_glob_star_stays_within_a_segment() -> None:
    globs = compile_globs(["docs/*.md"])
    assert globs.matches("docs/a.md", "a.md")
    assert not globs.matches("docs/sub/a.md", "a.md")
    assert compile_globs(["**/*.md"]).matches("a.md", "a.md")
    assert not compile_globs([]), "no patterns means no filter"


def test_symlinks_to_files_and_dirs_are_followed(tmp_path: Path) -> None:
    """Followed where they lead into an allowed root (#12: never out of the roots)."""
    outside = tmp_path / "outside"
    touch(outside, "shared.md", "lib/code.py")
    root = tmp_path / "root"
    touch(root, "own.txt", "in/inner.md")
    (root / "link.md").symlink_to(outside / "shared.md")
    (root / "linked").symlink_to(outside / "lib", target_is_directory=True)
    assert rel(root, allow_roots=(outside,)) == [
        "in/inner.md",
        "link.md",
        "linked/code.py",
        "own.txt",
    ]
    (root / "to-in").symlink_to(root / "in", target_is_directory=True)
    (root / "zz.md").symlink_to(root / "own.txt")  # inside the root: followed (once)
    assert rel(root, allow_roots=(outside,)) == [
        "in/inner.md",
        "link.md",
        "linked/code.py",
        "own.txt",
    ], "a file reached twice is yielded once, by its first path"


def test_symlinks_out_of_the_root_are_reported_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    touch(outside, "shared.md", "lib/code.py")
    root = tmp_path / "root"
    touch(root, "own.txt")
    (root / "link.md").symlink_to(outside / "shared.md")
    (root / "linked").symlink_to(outside / "lib", target_is_directory=True)
    entries = list(walk(root))
    assert [e.path.name for e in entries if e.ok] == ["own.txt"]
    errors = {e.path.name: e.error or "" for e in entries if not e.ok}
    assert set(errors) == {"link.md", "linked"}
    assert all("outside the ingested root" in m and "--allow-root" in m for m in errors.values())


def test_symlink_loop_yields_an_error_instead_of_recursing(tmp_path: Path) -> None:
    touch(tmp_path, "docs/a.md", "docs/inner/b.md")
    (tmp_path / "docs" / "inner" / "up").symlink_to(tmp_path / "docs", target_is_directory=True)
    (tmp_path / "docs" / "self").symlink_to(".", target_is_directory=True)
    entries = list(walk(tmp_path))
    ok = [e.path.relative_to(tmp_path).as_posix() for e in entries if e.error is None]
    errors = {e.path.relative_to(tmp_path).as_posix(): e.error for e in entries if e.error}
    assert ok == ["docs/a.md", "docs/inner/b.md"]
    assert set(errors) == {"docs/inner/up", "docs/self"}
    for message in errors.values():
        assert message is not None
        assert "symbolic link loop" in message and "exclude" in message
    assert str(tmp_path / "docs") in str(errors["docs/inner/up"])


def test_self_referencing_symlink_chain_is_reported(tmp_path: Path) -> None:
    touch(tmp_path, "a.md")
    (tmp_path / "x").symlink_to(tmp_path / "y")
    (tmp_path / "y").symlink_to(tmp_path / "x")
    entries = list(walk(tmp_path))
    assert [e.path.name for e in entries if e.error is None] == ["a.md"]
    assert {e.path.name for e in entries if e.error} == {"x", "y"}
    assert all("loop" in (e.error or "") for e in entries if e.error)


def test_broken_symlink_is_reported(tmp_path: Path) -> None:
    touch(tmp_path, "a.md")
    (tmp_path / "dangling.md").symlink_to(tmp_path / "missing.md")
    entries = list(walk(tmp_path))
    [broken] = [e for e in entries if e.error]
    assert broken.path == tmp_path / "dangling.md"
    assert "broken symbolic link" in (broken.error or "")


def test_fifo_is_skipped(tmp_path: Path) -> None:
    touch(tmp_path, "a.md")
    os.mkfifo(tmp_path / "pipe.txt")
    assert rel(tmp_path) == ["a.md"]


# --- permissions ----------------------------------------------------------------------
@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A temp dir other users can traverse (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="rag-perm-"))
    path.chmod(0o755)
    yield path
    for p in [path, *path.rglob("*")]:
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o755)
    shutil.rmtree(path)


def run_unprivileged(func: Callable[[], str]) -> str:
    """Run ``func`` where permission bits are enforced: here if not root, else in a child
    process that dropped to the 'nobody' uid/gid. Returns what ``func`` returned."""
    if os.geteuid() != 0:
        return func()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        except OSError as exc:
            result = f"DROP-FAILED {exc}"
        else:
            try:
                result = func()
            except BaseException as exc:
                result = f"CHILD-FAILED {type(exc).__name__}: {exc}"
        os.write(write_fd, result.encode())
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 65536):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    result = b"".join(chunks).decode()
    if result.startswith("DROP-FAILED"):
        pytest.skip(f"running as root and cannot drop privileges to test permissions: {result}")
    return result


def test_unreadable_file_gives_load_error_with_chmod_hint(shared_dir: Path) -> None:
    target = shared_dir / "secret.txt"
    target.write_text("top secret\n")
    target.chmod(0o000)

    def attempt() -> str:
        try:
            read_bytes(target)
        except LoadError as err:
            return str(err)
        return "READ OK"

    message = run_unprivileged(attempt)
    assert message.startswith(f"{target}: no read permission"), message
    assert "chmod" in message and "exclude" in message


def test_unlistable_directory_yields_an_error_entry(shared_dir: Path) -> None:
    touch(shared_dir, "a.md", "locked/b.md")
    (shared_dir / "locked").chmod(0o000)

    def attempt() -> str:
        return "\n".join(f"{e.path.name}|{e.error}" for e in walk(shared_dir))

    lines = run_unprivileged(attempt).split("\n")
    assert lines[0] == "a.md|None"
    name, error = lines[1].split("|", 1)
    assert name == "locked"
    assert "permission denied" in error and "chmod +rx" in error and "exclude" in error
    assert len(lines) == 2
