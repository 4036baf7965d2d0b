"""ONNX Runtime embedder: a local sentence-transformers model exported once to ONNX and run
without torch, with int8 weights by default.

Why: on a CPU, onnxruntime with dynamically quantized int8 MatMul weights embeds several times
faster than torch in float32; ``bench/quantization.py`` measures each scheme's cosine to the
torch vectors, retrieval quality and speed, and ``rag.embeddings.export`` says why the default
(``s8-reduced``: 7-bit weights) is as accurate on every x86-64 CPU, VNNI or not. A process that finds
the export cached never imports torch, so it also starts faster and uses less memory.
``embed_backend = "torch"`` keeps the plain sentence-transformers path.

The export is built on first use, in a child process started in the background: the
tokenizer is ready at once, so a first ingest chunks while it runs, and the first ``embed``
waits for it. Supported: models whose ``modules.json`` is a Transformer followed by Pooling
(mean, CLS or max) and optionally Normalize; rows are always unit length.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rag._lazy import require
from rag.embeddings.base import (
    EmbedderIdentity,
    HFTokenizer,
    InputType,
    Tokenizer,
    model_languages,
)
from rag.embeddings.export import cached_onnx, ensure_onnx, ort_version, scheme
from rag.errors import ConfigError
from rag.types import Vectors

_MAX_SESSIONS = 8
_SUPPORTED_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}


class OnnxEmbedder:
    """A sentence-transformers model directory embedded through onnxruntime (see module doc).

    ``quantize``: True for the default int8 scheme, False for float32, or a scheme name
    from ``rag.embeddings.export.SCHEMES``.

    Each text runs alone (batch of one) on one of ``threads`` single-threaded sessions (all
    cores by default; past 8, sessions get several threads each), in parallel threads
    (onnxruntime releases the GIL). Measured on 2 cores with int8 weights: 1.7x the
    throughput of padded batches of 64 on one two-thread session, because nothing is
    padded and small matmuls do not pay for splitting across cores. It also makes a text's
    vector independent of what else is embedded with it: dynamic int8 quantization scales
    activations per batch, so batching would let neighbours change a vector.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        cache_dir: str | Path,
        quantize: bool | str = True,
        threads: int | None = None,
        query_prefix: str = "",
        document_prefix: str = "",
    ) -> None:
        path = Path(model)
        self._check_modules(path)
        self._pooling = _pooling_mode(path)
        self.name = path.name if path.name != "model" else path.parent.name
        self.scheme = scheme(quantize)
        self.variant = "onnx" if self.scheme.weight_type is None else "onnx-int8"
        self.identity = EmbedderIdentity(
            self.name, "onnx", self.scheme.name, f"onnxruntime {ort_version()}", self.scheme.isa
        )
        self.max_tokens = _max_seq_length(path) - 2  # [CLS] and [SEP]
        self.languages = model_languages(path)
        """What the model card declares it was trained for (None: any language)."""
        tokenizers = require("tokenizers", "local", "the ONNX embedder")
        tok_file = path / "tokenizer.json"
        if not tok_file.exists():
            raise ConfigError(
                f"embedding model {str(path)!r} has no tokenizer.json, which the ONNX backend "
                "needs; set embed_backend = 'torch' (RAG_EMBED_BACKEND=torch) for this model"
            )
        self._encoder = tokenizers.Tokenizer.from_file(str(tok_file))
        self._encoder.enable_truncation(self.max_tokens + 2)
        self._encoder.no_padding()  # some tokenizer.json files pad to a fixed length
        self.tokenizer: Tokenizer = HFTokenizer(self._encoder)
        # a first run exports the model (seconds) in the background: the tokenizer, and so
        # chunking, is ready now, and the first embedding call waits for the file
        self._export: Future[Path] = Future()
        cache = Path(cache_dir)
        if (cached := cached_onnx(path, cache, quantize=self.scheme.name)) is not None:
            self._export.set_result(cached)
        else:
            threading.Thread(
                target=_resolve,
                args=(self._export, lambda: ensure_onnx(path, cache, quantize=self.scheme.name)),
                name="rag-onnx-export",
                daemon=True,
            ).start()
        threads = max(1, threads or _cores())
        # one single-threaded session per core; on big machines, a few cores per session
        # instead of dozens of sessions (each holds its own copy of the weights)
        self.workers = min(threads, _MAX_SESSIONS)
        self._threads_per_session = max(1, threads // self.workers)
        self._prefix = {"query": query_prefix, "document": document_prefix}
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._type_ids = False
        self._dimension = _output_dimension(path)

    @property
    def model_file(self) -> Path:
        """The ONNX file run (waits for the export on a first run; raises its error)."""
        return self._export.result()

    @property
    def dimension(self) -> int:
        """Vector size: from the model's config, else from embedding one text."""
        if self._dimension is None:
            self._dimension = int(self._one(self._session(0), self._encoder.encode("x")).shape[0])
        return self._dimension

    @staticmethod
    def _check_modules(path: Path) -> None:
        modules_file = path / "modules.json"
        if not modules_file.exists():
            return  # a plain transformers directory: sentence-transformers adds mean pooling
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
        unknown = [m.get("type") for m in modules if m.get("type") not in _SUPPORTED_MODULES]
        if unknown:
            raise ConfigError(
                f"embedding model {str(path)!r} has modules the ONNX backend does not run "
                f"({', '.join(map(str, unknown))}); set embed_backend = 'torch' "
                "(RAG_EMBED_BACKEND=torch) for this model"
            )

    def _session(self, worker: int) -> Any:
        """Worker ``worker``'s single-threaded inference session (made on first use)."""
        with self._lock:
            while len(self._sessions) <= worker:
                ort = require("onnxruntime", "local", "the ONNX embedder")
                options = ort.SessionOptions()
                options.intra_op_num_threads = self._threads_per_session
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                session = ort.InferenceSession(
                    str(self.model_file), options, providers=["CPUExecutionProvider"]
                )
                self._type_ids = "token_type_ids" in {i.name for i in session.get_inputs()}
                self._sessions.append(session)
            return self._sessions[worker]

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prefix = self._prefix[input_type]
        batch = [prefix + t for t in texts] if prefix else list(texts)
        out = np.empty((len(batch), self.dimension), dtype=np.float32)
        workers = min(self.workers, len(batch))
        if workers == 1:
            session = self._session(0)
            for i, text in enumerate(batch):
                out[i] = self._one(session, self._encoder.encode(text))
            return out
        # longest first, dealt round-robin: every worker gets a similar share of the text;
        # workers tokenize their own texts, so tokenizing runs in parallel too
        order = sorted(range(len(batch)), key=lambda i: -len(batch[i]))

        def work(worker: int) -> None:
            session = self._session(worker)
            for i in order[worker::workers]:
                out[i] = self._one(session, self._encoder.encode(batch[i]))

        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rag-embed")
            pool = self._pool
        for done in [pool.submit(work, w) for w in range(workers)]:
            done.result()
        return out

    def _one(self, session: Any, encoding: Any) -> Vectors:
        """One text's unit vector (no padding: the whole sequence is real tokens)."""
        ids = np.asarray([encoding.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if self._type_ids:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = session.run(None, feed)[0][0]
        if self._pooling == "cls":
            pooled = hidden[0]
        elif self._pooling == "max":
            pooled = hidden.max(axis=0)
        else:
            pooled = hidden.mean(axis=0)
        return np.asarray(pooled / max(float(np.linalg.norm(pooled)), 1e-12), dtype=np.float32)


def _cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _resolve(future: Future[Path], build: Callable[[], Path]) -> None:
    """Run ``build()`` into ``future`` (its result or its exception)."""
    try:
        future.set_result(build())
    except BaseException as exc:  # handed to whoever waits for the file
        future.set_exception(exc)


def _output_dimension(path: Path) -> int | None:
    """The pooled vector size the model directory declares (None: not declared)."""
    pooled = _read_json(path / "1_Pooling" / "config.json").get("word_embedding_dimension")
    if isinstance(pooled, int):
        return pooled
    hidden = _read_json(path / "config.json").get("hidden_size")
    return hidden if isinstance(hidden, int) else None


def _pooling_mode(path: Path) -> str:
    config = _read_json(path / "1_Pooling" / "config.json")
    if config.get("pooling_mode_cls_token"):
        return "cls"
    if config.get("pooling_mode_max_tokens"):
        return "max"
    return "mean"


def _max_seq_length(path: Path) -> int:
    st = _read_json(path / "sentence_bert_config.json")
    if isinstance(st.get("max_seq_length"), int):
        return int(st["max_seq_length"])
    config = _read_json(path / "config.json")
    return int(config.get("max_position_embeddings", 512))


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    value = json.loads(path.read_text(encoding="utf-8"))
    return value if isinstance(value, dict) else {}
