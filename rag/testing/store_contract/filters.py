"""Filters (``supports_filters``): the grammar of ``rag.stores.base`` on ``query`` and ``count``."""

from __future__ import annotations

import pytest

from rag.errors import ConfigError
from rag.stores.base import Filters, Store
from rag.testing.store_contract._base import (
    FILTER_CASES,
    StoreFixture,
    result_ids,
    unit,
)


class FilterTests(StoreFixture):
    """``query``/``count`` filters with the semantics of ``rag.stores.base.matches``."""

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [(f, e) for _, f, e in FILTER_CASES],
        ids=[name for name, _, _ in FILTER_CASES],
    )
    def test_filters(self, store: Store, filters: Filters, expected: set[str]) -> None:
        """``query`` and ``count`` apply the filter grammar of ``rag.stores.base`` exactly like
        ``rag.stores.base.matches`` (the reference semantics).

        If this fails, compare your translation with ``matches``: a missing field never
        matches (not even ``$ne``), a list means membership, an empty list matches nothing,
        several operators on one field all apply, ``source`` is the chunk's source (not a
        metadata key), and numeric ranges compare ints and floats by value.
        """
        self._write_filter_corpus(store)
        results = store.query(unit(0), k=10, filters=filters)
        assert set(result_ids(results)) == expected
        assert store.count(filters) == len(expected)

    def test_filtered_query_still_ranks(self, store: Store) -> None:
        """Filters restrict the candidates; the order is still by similarity."""
        self._write_filter_corpus(store)
        query = unit(3) + 0.5 * unit(2)
        results = store.query(query, k=1, filters={"source": "/docs/b.md"})
        assert result_ids(results) == ["c4"]
        results = store.query(query, k=5, filters={"lang": ["ko", "de", "en"]})
        assert result_ids(results)[:2] == ["c4", "c3"]

    @pytest.mark.parametrize(
        "filters",
        [
            {"a'; drop table x; --": 1},
            {"lang": {"$regex": ".*"}},
            {"$or": [{"lang": "en"}]},
            {"lang": {"$gt": "a"}},
            {"year": {"$lte": True}},
            {"lang": None},
            {"lang": ["en", None]},
            {"lang": {"$ne": None}},
            {"lang": {"$in": "en"}},
            {"lang": {"$eq": ["en"]}},
            {"lang": {}},
            {"score": float("nan")},
            {"score": {"$lt": float("inf")}},
            {"lang": "e\x00n"},
            {"lang": "en\udcff"},
        ],
        ids=[
            "injection-field",
            "unknown-operator",
            "top-level-operator",
            "range-on-text",
            "range-on-bool",
            "none-value",
            "none-in-list",
            "none-in-operator",
            "in-without-list",
            "eq-with-list",
            "empty-operator-dict",
            "nan",
            "infinite-bound",
            "nul-in-text",
            "surrogate-in-text",
        ],
    )
    def test_invalid_filters_raise_config_error(self, store: Store, filters: Filters) -> None:
        """A malformed filter raises ConfigError and changes nothing. That includes filters
        two backends would answer differently (a text range bound, None, NaN): every store
        refuses them alike, before the backend sees them.

        If this fails, call ``rag.stores.base.validate_filters`` first in ``query`` and
        ``count``; never splice a field name into SQL or a backend query unchecked.
        """
        self._write_filter_corpus(store)
        with pytest.raises(ConfigError):
            store.query(unit(0), k=3, filters=filters)
        with pytest.raises(ConfigError):
            store.count(filters)
        assert store.count() == 5
        assert len(store.query(unit(0), k=10)) == 5
