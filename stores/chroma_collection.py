"""``ChromaCollection``: the Chroma store's collections and errors, apart from its reads/writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ConfigError, StoreError
from rag.stores.bm25_sidecar import SidecarKeywords
from rag.stores.memory import dimension_error

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.collection_configuration import CreateCollectionConfiguration
    from chromadb.api.models.Collection import Collection

__all__ = ["MANIFEST_SUFFIX", "ChromaCollection"]

MANIFEST_SUFFIX = "__sources"
"""The manifest of collection ``X`` is the Chroma collection ``X__sources``."""


def _cosine() -> CreateCollectionConfiguration:
    """Collection configuration: HNSW in cosine space (``score = 1 - distance``)."""
    return {"hnsw": {"space": "cosine"}}


class ChromaCollection(SidecarKeywords):
    """Base of ``ChromaStore``: its collection (opened, checked, created by a first write), the
    manifest collection beside it, listing and deleting collections, and errors."""

    url: str | None
    path: Path | None
    _client: ClientAPI
    _col: Collection | None
    _manifest: Collection | None
    _dim: int | None

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn chromadb exceptions into StoreError naming the collection and the action."""
        try:
            yield
        except (StoreError, ConfigError):
            raise
        except Exception as exc:
            raise StoreError(
                f"Chroma failed to {action} in collection '{self.collection}' "
                f"({self.url or self.path}): {type(exc).__name__}: {exc}"
            ) from exc

    def _get(self, name: str) -> Collection | None:
        from chromadb.errors import NotFoundError

        try:
            return self._client.get_collection(name, embedding_function=None)
        except NotFoundError:
            return None
        except ValueError as exc:  # older clients report a missing collection as ValueError
            if "does not exist" in str(exc):
                return None
            raise

    def _load_collection(self) -> None:
        with self._errors("open the collection"):
            col = self._get(self.collection)
        if col is None:
            return
        space = (col.configuration_json.get("hnsw") or {}).get("space") or (col.metadata or {}).get(
            "hnsw:space"
        )
        if space not in (None, "cosine"):
            raise StoreError(
                f"Chroma collection '{self.collection}' uses the {space!r} distance but rag needs "
                "cosine; it was not created by rag. Use another collection name"
            )
        self._col = col
        dim = (col.metadata or {}).get("dimension")
        if isinstance(dim, int):
            self._dim = dim
            return
        with self._errors("read the embedding dimension"):  # created by another tool
            got = col.get(limit=1, include=["embeddings"])["embeddings"]
        if got is not None and len(got):
            self._dim = len(got[0])

    def _collection_for_write(self, dim: int) -> Collection:
        if self._col is None:
            self._load_collection()
        if self._col is None:
            with self._errors("create the collection"):
                self._col = self._client.get_or_create_collection(
                    self.collection,
                    configuration=_cosine(),
                    metadata={"dimension": dim, "created_by": "rag"},
                    embedding_function=None,
                )
            meta_dim = (self._col.metadata or {}).get("dimension")
            self._dim = meta_dim if isinstance(meta_dim, int) else None
        if self._dim is None:
            with self._errors("record the embedding dimension"):
                self._col.modify(metadata={**(self._col.metadata or {}), "dimension": dim})
            self._dim = dim
        if dim != self._dim:
            raise dimension_error(self.collection, self._dim, dim, "write")
        return self._col

    def _manifest_col(self, create: bool) -> Collection | None:
        if self._manifest is None:
            name = self.collection + MANIFEST_SUFFIX
            with self._errors("open the manifest"):
                if create:
                    self._manifest = self._client.get_or_create_collection(
                        name,
                        configuration=_cosine(),
                        metadata={"manifest_of": self.collection},
                        embedding_function=None,
                    )
                else:
                    self._manifest = self._get(name)
        return self._manifest

    def exists(self) -> bool:
        """Whether the collection has been created (by a first write) on this backend."""
        if self._col is None:
            self._load_collection()
        return self._col is not None

    def list_collections(self) -> list[str]:
        """Names of the rag collections on this Chroma client (manifests hidden), sorted."""
        with self._errors("list collections"):
            names = [c.name for c in self._client.list_collections()]
        return sorted(n for n in names if not n.endswith(MANIFEST_SUFFIX))

    def delete_collection(self, name: str | None = None) -> bool:
        """Delete a collection (default: this one) and its manifest; False if it did not exist."""
        from chromadb.errors import NotFoundError

        target = name or self.collection
        existed = False
        for col_name in (target, target + MANIFEST_SUFFIX):
            with self._errors(f"delete collection '{col_name}'"):
                try:
                    self._client.delete_collection(col_name)
                    existed = existed or col_name == target
                except NotFoundError:
                    pass
        if target == self.collection:
            self._col, self._manifest, self._dim = None, None, None
            if (sidecar := self._sidecar_if_any()) is not None:
                sidecar.clear()
        return existed
