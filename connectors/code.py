"""Source code and config files: one Document per file, lines 1..N, ``language`` metadata."""

from __future__ import annotations

from pathlib import Path

from rag.connectors._common import blank_error, line_count
from rag.connectors.decoding import decode_text
from rag.types import Document, Location

LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".js": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".kt": "kotlin",
    ".c": "c",
    ".h": "c",
    ".cpp": "cpp",
    ".hpp": "cpp",
    ".cs": "csharp",
    ".rb": "ruby",
    ".php": "php",
    ".sh": "shell",
    ".sql": "sql",
    ".swift": "swift",
    ".scala": "scala",
    ".lua": "lua",
    ".r": "r",
    ".m": "objective-c-or-matlab",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".ini": "ini",
    ".cfg": "ini",
}
"""File extension -> ``language`` metadata value."""


class CodeLoader:
    """Reads a source or config file whole; the language comes from its extension."""

    extensions: tuple[str, ...] = tuple(LANGUAGES)

    def load(self, path: Path, data: bytes) -> list[Document]:
        text = decode_text(path, data)
        if not text.strip():
            raise blank_error(path)
        return [
            Document(
                source=str(path),
                text=text,
                location=Location(start_line=1, end_line=line_count(text)),
                metadata={"language": LANGUAGES.get(path.suffix.lower(), "unknown")},
            )
        ]
