"""The ONNX quantization schemes side by side: accuracy against the torch model, retrieval
quality on SciFact dev, and embedding throughput, on this machine's CPU.

    python bench/quantization.py                          # every scheme, 400 chunks, no nDCG
    python bench/quantization.py --ndcg                   # + SciFact dev nDCG@10 (~2 min a scheme)
    python bench/quantization.py --schemes s8 s8-reduced --ref /tmp/ref.npz --save /tmp/x.npz

The torch vectors of the sample are cached in ``--ref`` so that a run under an emulated CPU
(``qemu-x86_64 -cpu EPYC-Rome .venv/bin/python bench/quantization.py --ref ...``: AVX2 without
VNNI or AVX-512) compares against the same reference without running torch there. ``--save``
keeps each scheme's vectors, and ``--compare OTHER.npz`` prints how far they are from another
run's (another CPU's) vectors of the same scheme.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SCIFACT = REPO.parent / "shared" / "evaldata" / "scifact"


def sample_chunks(n: int) -> list[str]:
    """``n`` chunks of SciFact (title + abstract, chunked as rag does), spread over the corpus."""
    import tokenizers

    from rag.chunking import TokenChunker
    from rag.embeddings import HFTokenizer, packaged_model_path
    from rag.types import Document

    tok = tokenizers.Tokenizer.from_file(str(packaged_model_path() / "tokenizer.json"))
    chunker = TokenChunker(HFTokenizer(tok), 200, 32)
    lines = (SCIFACT / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    step = max(1, len(lines) // n)
    docs = []
    for line in lines[::step][:n]:
        rec = json.loads(line)
        docs.append(
            Document(
                text=f"{rec['title']}\n\n{rec['text']}", source=str(rec.get("_id", rec.get("id")))
            )
        )
    return [c.text for c in chunker.chunk(docs)][:n]


def reference(texts: list[str], path: Path | None) -> np.ndarray:
    """The torch (sentence-transformers, float32) vectors of ``texts``, cached in ``path``."""
    if path is not None and path.exists():
        cached = np.load(path)
        if list(cached["texts"]) == texts:
            return np.asarray(cached["vectors"])
    from rag.embeddings import SentenceTransformerEmbedder

    vectors = SentenceTransformerEmbedder().embed(texts)
    if path is not None:
        np.savez(path, texts=np.array(texts), vectors=vectors)
    return vectors


def ndcg(embedder: object) -> dict[str, float]:
    """SciFact dev: nDCG@10 and Recall@5 of dense-only and hybrid retrieval, memory store."""
    from rag.config import load_settings
    from rag.evals.runner import run_eval
    from rag.stores.memory import MemoryStore

    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(data_dir=Path(data), store="memory")
        result = run_eval(
            SCIFACT,
            {"dense": {"retrieval_mode": "dense"}, "hybrid": {}},
            settings=settings,
            split="dev",
            stuff_baseline=False,
            store=MemoryStore("bench"),
            embedder=embedder,  # type: ignore[arg-type]
        )
    out: dict[str, float] = {}
    for row in result.configs:
        out[f"{row.name}_ndcg10"] = row.ndcg10
        out[f"{row.name}_recall5"] = row.recall[5]
    return out


def main() -> int:
    from rag.embeddings import OnnxEmbedder, packaged_model_path
    from rag.embeddings.export import SCHEMES, cpu_features, ort_version

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--schemes", nargs="+", default=list(SCHEMES), choices=list(SCHEMES))
    p.add_argument("--texts", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3, help="throughput: best of N passes")
    p.add_argument("--ndcg", action="store_true", help="also SciFact dev retrieval quality")
    p.add_argument("--no-speed", action="store_true", help="skip throughput (emulated CPUs)")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "rag-quant-cache")
    p.add_argument("--ref", type=Path, default=None, help="cache of the torch vectors (.npz)")
    p.add_argument("--save", type=Path, default=None, help="write each scheme's vectors (.npz)")
    p.add_argument("--compare", type=Path, default=None, help="another run's --save file")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args()

    texts = sample_chunks(args.texts)
    ref = reference(texts, args.ref)
    other = dict(np.load(args.compare)) if args.compare else {}
    flags = cpu_features()
    print(f"CPU: {platform.machine()}; features: {flags}")
    print(f"onnxruntime {ort_version()}; {len(texts)} SciFact chunks\n")
    embedders = {}
    for name in args.schemes:
        e = OnnxEmbedder(packaged_model_path(), cache_dir=args.cache, quantize=name)
        e.embed(texts[:4])  # waits for the export, warms the sessions
        embedders[name] = e
    # throughput: rounds interleaved over the schemes (best of N each), so a noisy moment of
    # the machine hits every scheme alike
    best = dict.fromkeys(args.schemes, float("inf"))
    for _ in range(0 if args.no_speed else args.rounds):
        for name, e in embedders.items():
            t0 = time.perf_counter()
            e.embed(texts)
            best[name] = min(best[name], time.perf_counter() - t0)
    rows: list[dict[str, object]] = []
    saved: dict[str, np.ndarray] = {}
    for name, e in embedders.items():
        vectors = e.embed(texts)
        cosine = (vectors * ref).sum(axis=1)
        row: dict[str, object] = {
            "scheme": name,
            "cos_mean": float(cosine.mean()),
            "cos_min": float(cosine.min()),
            "chunks_per_s": None if args.no_speed else len(texts) / best[name],
        }
        if name in other:
            row["cos_min_to_other_run"] = float((vectors * other[name]).sum(axis=1).min())
        if args.ndcg:
            row.update(ndcg(e))
        rows.append(row)
        saved[name] = vectors
        print(
            "  ".join(
                f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            ),
            flush=True,
        )
    if args.save:
        np.savez(args.save, **saved)
    if args.json:
        args.json.write_text(json.dumps({"cpu_flags": flags, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
