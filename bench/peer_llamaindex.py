"""LlamaIndex's documented default indexing path, for ``bench/peers.py``:
VectorStoreIndex.from_documents (default SentenceSplitter) -> HuggingFaceEmbedding ->
ChromaVectorStore on a chromadb.PersistentClient; no LLM.

    python bench/peer_llamaindex.py ingest --dir TMP --corpus corpus.jsonl --out r.json
    python bench/peer_llamaindex.py query --dir TMP --dataset DIR --out r.json
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
    import chromadb
    from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    Settings.llm = None  # retrieval only
    embed_model = HuggingFaceEmbedding(model_name=str(peers.model_path()))
    client = chromadb.PersistentClient(path=str(args.dir))
    store = ChromaVectorStore(chroma_collection=client.get_or_create_collection(peers.COLLECTION))
    if args.step == "ingest":
        docs = [
            Document(text=peers.doc_text(r), id_=str(r.get("_id", r.get("id"))))
            for r in peers.read_jsonl(args.corpus)
        ]
        index = VectorStoreIndex.from_documents(
            docs,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed_model,
        )
        args.out.write_text(json.dumps({"documents": len(docs), "index": index.index_id}))
        return
    index = VectorStoreIndex.from_vector_store(store, embed_model=embed_model)
    retriever = index.as_retriever(similarity_top_k=K)
    result = peers.timed_queries(
        peers.worker_queries(args),
        retriever.retrieve,
        lambda n: n.node.ref_doc_id,
        lambda n: n.node.get_content(),
    )
    peers.finish_query(result, args.out)


if __name__ == "__main__":
    main()
