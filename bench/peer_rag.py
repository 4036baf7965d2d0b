"""rag's side of ``bench/peers.py`` (ingest runs through the ``rag ingest`` CLI itself).

python bench/peer_rag.py query --dir TMP --dataset DIR --out result.json
python bench/peer_rag.py stats|count --dir TMP --out result.json
"""

from __future__ import annotations

from typing import Any

import peers

K = 10


class _CountingLLM:
    """Stands in for the LLM in ``RAG.prepare``: counts tokens with the embedding model's
    tokenizer, so rag's prompt context is measured like the peers' chunks."""

    backend = "bench"
    model = "all-MiniLM-L6-v2 tokens"
    supports_streaming = False
    context_window = 1_000_000

    def __init__(self) -> None:
        self._path = peers.model_path()

    def count_tokens(self, text: str) -> int:
        return peers.token_counts([text], self._path, special=False)[0]

    def complete(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the bench measures prompts only; it never generates")

    stream = complete


def prompt_context_tokens(r: Any, questions: list[str], hits: dict[str, Any]) -> list[int] | str:
    """rag's packed prompt (default top_k, budget and sentence selection), exactly as
    ``RAG.prepare`` builds it from the hits already retrieved: its context_tokens."""
    try:
        from rag import RAG

        counting = r.with_settings(r.settings, llm=_CountingLLM())
        assert isinstance(counting, RAG)
        top_k = r.settings.top_k
        return [counting.prepare(q, retrieval=hits[q].top(top_k)).context_tokens for q in questions]
    except Exception as exc:  # the prompt API moves while other work lands: say so, don't die
        return f"unavailable: {type(exc).__name__}: {exc}"


def main() -> None:
    args = peers.worker_args()
    if args.step in ("stats", "count"):
        peers.chroma_stats(
            args.dir / "chroma", peers.COLLECTION, args.out, tokens=args.step == "stats"
        )
        return
    if args.step != "query":
        raise SystemExit("rag ingests through its CLI: `rag ingest CORPUS --data-dir DIR --json`")
    from rag import RAG

    r = RAG(data_dir=args.dir, collection=peers.COLLECTION)
    queries = peers.worker_queries(args)
    seen: dict[str, Any] = {}

    def search(q: str) -> Any:
        seen[q] = r.retrieve(q, k=K)
        return seen[q]

    result = peers.timed_queries(
        queries, search, lambda h: h.chunk.location.record, lambda h: h.chunk.text
    )
    result["retrieval_mode"] = r.settings.retrieval_mode
    ctx = prompt_context_tokens(r, list(queries.values()), seen)
    if isinstance(ctx, list):
        result["prompt_context_tokens"] = ctx
    else:
        result["prompt_context_note"] = ctx
    peers.finish_query(result, args.out)


if __name__ == "__main__":
    main()
