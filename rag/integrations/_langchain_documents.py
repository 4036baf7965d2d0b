"""rag chunks and LangChain documents, both ways: a document stored whole as one chunk
(``_chunk``), and a stored chunk back as the document the user gave (``to_document``).

Imported through ``rag.integrations.langchain`` (which checks the ``langchain`` extra first).
"""

from __future__ import annotations

from typing import Any

from langchain_core.documents import Document

from rag.chunking import content_hash
from rag.pipelines.ingest_documents import SOURCE_KEYS, stored_metadata, user_metadata
from rag.types import Chunk

__all__ = ["ID_KEY", "to_document"]

ID_KEY = "_rag_id"
"""A ``RagVectorStore`` document's id, also in its metadata so ``get_by_ids`` can filter on it
(``user_metadata`` leaves it out, as every ``_rag_`` key)."""


def to_document(chunk: Chunk) -> Document:
    """A stored chunk as the LangChain ``Document`` the user gave: its text, the user's
    metadata, and the chunk id as ``id``."""
    return Document(id=chunk.id, page_content=chunk.text, metadata=user_metadata(chunk.metadata))


def _chunk(text: str, metadata: dict[Any, Any], doc_id: str) -> Chunk:
    """One whole document as a chunk: its source from the metadata (as ``ingest_documents``
    reads it) or else its id, and its id in the metadata for ``get_by_ids``."""
    source = next((v for k in SOURCE_KEYS if isinstance(v := metadata.get(k), str) and v), doc_id)
    return Chunk(
        id=doc_id,
        text=text,
        source=source,
        content_hash=content_hash(text),
        metadata={**stored_metadata(metadata), ID_KEY: doc_id},
    )
