"""``QdrantCollection``: the Qdrant store's collections, paging and errors, apart from its I/O."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, StoreError
from rag.redact import redact
from rag.stores.bm25_sidecar import SidecarKeywords
from rag.stores.memory import dimension_error
from rag.stores.qdrant_local import Local, tune

if TYPE_CHECKING:
    from qdrant_client import QdrantClient, models

__all__ = ["MANIFEST_SUFFIX", "PAGE", "QdrantCollection"]

MANIFEST_SUFFIX = "__sources"
"""The manifest of collection ``X`` is the Qdrant collection ``X__sources``."""
PAGE = 1000
"""Ids per retrieve/scroll/delete request."""


class QdrantCollection(SidecarKeywords):
    """Base of ``QdrantStore``: its collection (checked, created by a first write), the
    manifest collection beside it, listing and deleting collections, deleting and paging
    through points, and errors."""

    url: str | None
    path: Path | None
    _client: QdrantClient
    _local: Local | None
    _dim: int | None

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn qdrant-client exceptions into StoreError naming the collection and action."""
        try:
            yield
        except (StoreError, ConfigError):
            raise
        except Exception as exc:
            where = redact(self.url) if self.url else str(self.path)
            raise StoreError(
                f"Qdrant failed to {action} in collection '{self.collection}' ({where}): "
                f"{type(exc).__name__}: {redact(str(exc))}"
            ) from exc

    def _has(self, name: str) -> bool:
        with self._errors("look up a collection"):
            return bool(self._client.collection_exists(name))

    def exists(self) -> bool:
        """Whether the collection has been created (by a first write)."""
        with self._lock:
            if self._dim is not None:
                return True
            if not self._has(self.collection):
                return False
            with self._errors("read the collection's configuration"):
                vectors = self._client.get_collection(self.collection).config.params.vectors
            from qdrant_client import models

            if not isinstance(vectors, models.VectorParams):
                raise StoreError(
                    f"Qdrant collection '{self.collection}' has named vectors; it was not "
                    "created by rag. Use another collection name"
                )
            if vectors.distance != models.Distance.COSINE:
                raise StoreError(
                    f"Qdrant collection '{self.collection}' uses the {vectors.distance} distance "
                    "but rag needs cosine; it was not created by rag. Use another collection name"
                )
            self._dim = int(vectors.size)
            return True

    def _collection_for_write(self, dim: int) -> None:
        if not self.exists():
            from qdrant_client import models

            with self._errors("create the collection"):
                self._client.create_collection(
                    self.collection,
                    vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE),
                    metadata={"created_by": "rag"},
                )
                if self._local is None:  # local mode has no payload indexes
                    self._client.create_payload_index(
                        self.collection, "source", field_schema=models.PayloadSchemaType.KEYWORD
                    )
            tune(self._client, self.collection)
            self._dim = None
            self.exists()
        assert self._dim is not None
        if dim != self._dim:
            raise dimension_error(self.collection, self._dim, dim, "write")

    def _manifest_name(self, create: bool) -> str | None:
        name = self.collection + MANIFEST_SUFFIX
        if self._has(name):
            return name
        if not create:
            return None
        with self._errors("create the manifest"):
            self._client.create_collection(
                name, vectors_config={}, metadata={"manifest_of": self.collection}
            )
        tune(self._client, name)
        return name

    def list_collections(self) -> list[str]:
        """Names of the rag collections here (manifests hidden), sorted."""
        with self._lock, self._errors("list collections"):
            names = [c.name for c in self._client.get_collections().collections]
        return sorted(n for n in names if not n.endswith(MANIFEST_SUFFIX))

    def delete_collection(self, name: str | None = None) -> bool:
        """Delete a collection (default: this one) and its manifest; False if it did not exist."""
        target = name or self.collection
        with self._lock:
            existed = self._has(target)
            for col in (target, target + MANIFEST_SUFFIX):
                if self._has(col):
                    with self._errors(f"delete collection '{col}'"):
                        self._client.delete_collection(col)
            if target == self.collection:
                self._dim = None
                if (sidecar := self._sidecar_if_any()) is not None:
                    sidecar.clear()
        return existed

    def _delete_points(self, collection: str, point_ids: list[str]) -> None:
        from qdrant_client import models

        with self._errors("delete points"):
            for start in range(0, len(point_ids), PAGE):
                self._client.delete(
                    collection,
                    points_selector=models.PointIdsList(points=point_ids[start : start + PAGE]),  # type: ignore[arg-type]
                    wait=True,
                )

    def _scroll(
        self, collection: str, where: models.Filter | None, *, vectors: bool = False
    ) -> Iterator[Any]:
        """Every point of ``collection`` matching ``where`` (payload, and ``vectors`` if
        asked), page by page."""
        offset: Any = None
        while True:
            with self._errors("list points"):
                records, offset = self._client.scroll(
                    collection,
                    scroll_filter=where,
                    limit=PAGE,
                    offset=offset,
                    with_payload=True,
                    with_vectors=vectors,
                )
            yield from records
            if offset is None:
                return
