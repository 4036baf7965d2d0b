"""LangChain's documented default RAG indexing path, for ``bench/peers.py``:
RecursiveCharacterTextSplitter(1000, 200) -> HuggingFaceEmbeddings -> Chroma.

    python bench/peer_langchain.py ingest --dir TMP --corpus corpus.jsonl --out r.json
    python bench/peer_langchain.py query --dir TMP --dataset DIR --out r.json
"""

from __future__ import annotations

import json

import peers

K = 10


def main() -> None:
    args = peers.worker_args()
    if args.step in ("stats", "count"):
        peers.chroma_stats(args.dir, peers.COLLECTION, args.out, tokens=args.step == "stats")
        return
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings

    embeddings = HuggingFaceEmbeddings(model_name=str(peers.model_path()))
    if args.step == "ingest":
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        docs = [
            Document(
                page_content=peers.doc_text(r), metadata={"id": str(r.get("_id", r.get("id")))}
            )
            for r in peers.read_jsonl(args.corpus)
        ]
        splits = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(
            docs
        )
        Chroma.from_documents(
            splits, embeddings, collection_name=peers.COLLECTION, persist_directory=str(args.dir)
        )
        args.out.write_text(json.dumps({"chunks": len(splits)}))
        return
    store = Chroma(
        collection_name=peers.COLLECTION,
        embedding_function=embeddings,
        persist_directory=str(args.dir),
    )
    result = peers.timed_queries(
        peers.worker_queries(args),
        lambda q: store.similarity_search(q, k=K),
        lambda d: d.metadata["id"],
        lambda d: d.page_content,
    )
    peers.finish_query(result, args.out)


if __name__ == "__main__":
    main()
