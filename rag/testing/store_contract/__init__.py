"""The Store contract suite: every store backend runs these tests.

Subclass ``StoreContract`` in your backend's test module and override the ``store``
fixture so it returns an *empty* store; override ``reopen`` (and ``sibling``) when
the backend persists data::

    from rag.testing.store_contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore("contract", path=tmp_path)
            yield s
            s.close()

        def reopen(self, store):
            store.close()
            return MyStore(store.collection, path=store.path)

The suite is composed of one mixin per capability (haystack's document-store tests are the
model): ``WriteTests``, ``QueryTests``, ``FilterTests``, ``ManifestTests``,
``TransactionTests`` (with concurrent writers), ``KeywordSearchTests``, ``AsyncQueryTests``,
``SanitizeTests`` (text and metadata no store holds as they are), ``RootTests`` (each chunk's
root and relative path, and a source's vectors read back by content hash) and
``PersistenceTests``.
``StoreContract`` runs them all; the tests of an optional capability (``supports_transactions``,
``supports_keyword_search``, ``supports_async_query``) skip themselves on a store that does
not declare it, and ``persistent = False`` skips persistence. A backend may also compose only
the mixins it needs: ``class TestMine(WriteTests, QueryTests, ManifestTests): ...``.

Each test's docstring says what to check when it fails. The tests use small
hand-built vectors (dimension ``DIM``) and hand-made keyword terms, so no embedder or
tokenizer is involved, and need only pytest and numpy: this package never imports a backend.
"""

from __future__ import annotations

from rag.testing.store_contract._base import (
    DIM,
    FILTER_CASES,
    StoreFixture,
    make_chunk,
    unit,
    vectors,
)
from rag.testing.store_contract.async_query import AsyncQueryTests
from rag.testing.store_contract.filters import FilterTests
from rag.testing.store_contract.keyword import KeywordSearchTests
from rag.testing.store_contract.manifest import ManifestTests
from rag.testing.store_contract.persistence import PersistenceTests
from rag.testing.store_contract.query import QueryTests
from rag.testing.store_contract.roots import RootTests
from rag.testing.store_contract.sanitize import SanitizeTests
from rag.testing.store_contract.transactions import TransactionTests
from rag.testing.store_contract.write import WriteTests

__all__ = [
    "DIM",
    "FILTER_CASES",
    "AsyncQueryTests",
    "FilterTests",
    "KeywordSearchTests",
    "ManifestTests",
    "PersistenceTests",
    "QueryTests",
    "RootTests",
    "SanitizeTests",
    "StoreContract",
    "StoreFixture",
    "TransactionTests",
    "WriteTests",
    "make_chunk",
    "unit",
    "vectors",
]


class StoreContract(
    WriteTests,
    QueryTests,
    FilterTests,
    ManifestTests,
    TransactionTests,
    KeywordSearchTests,
    AsyncQueryTests,
    SanitizeTests,
    RootTests,
    PersistenceTests,
):
    """The whole contract. Override ``store``; override ``reopen``/``sibling`` for persistent
    backends, or set ``persistent = False`` to skip those tests."""
