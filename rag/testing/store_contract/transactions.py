"""``transaction()`` and concurrent writers: every store is safe to share across threads; a
store that ``supports_transactions`` also commits a block's calls together or not at all."""

from __future__ import annotations

import numpy as np
import pytest

from rag.stores.base import SourceRecord, Store
from rag.testing.store_contract._base import (
    DIM,
    StoreFixture,
    make_chunk,
    unit,
    vectors,
)


class TransactionTests(StoreFixture):
    """``transaction()`` blocks and threads writing at once."""

    def test_concurrent_writers(self, store: Store) -> None:
        """Four threads write to one store at once (their own chunks plus a shared id set,
        each inside ``transaction()``): no error, every chunk stored once, every manifest entry.

        If this fails, guard shared client state with a lock, or give each thread its own
        connection (a pool), and make overwrites of the same id idempotent.
        """
        import threading

        errors: list[BaseException] = []
        barrier = threading.Barrier(4, timeout=60)
        shared = [make_chunk(f"shared-{i}", "shared text", "/docs/shared.md") for i in range(10)]

        def writer(w: int) -> None:
            rng = np.random.default_rng(w)
            try:
                barrier.wait()
                for part in range(3):
                    own = [
                        make_chunk(
                            f"w{w}-{part}-{i}", f"writer {w} part {part} chunk {i}", f"/docs/{w}.md"
                        )
                        for i in range(40)
                    ]
                    with store.transaction():
                        store.write(own, rng.normal(size=(len(own), DIM)).astype(np.float32))
                        store.write(shared, rng.normal(size=(len(shared), DIM)).astype(np.float32))
                        store.set_source(SourceRecord(f"/docs/{w}.md", f"h{part}", 120, 1.0))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert store.count() == 4 * 3 * 40 + len(shared)
        assert len(store.sources()) == 4
        assert all(len(store.ids_for_source(f"/docs/{w}.md")) == 120 for w in range(4))

    def test_transaction_commits_together_or_not_at_all(self, store: Store) -> None:
        """On a store that ``supports_transactions``, a block that raises leaves nothing of its
        writes, deletes and manifest entries; one that ends commits them all.

        If this fails, run every call inside ``transaction()`` on one connection (a savepoint
        per call) and roll it back when the block raises.
        """
        if not store.supports_transactions:
            pytest.skip("the store does not declare supports_transactions")
        store.write([make_chunk("old", "old text")], vectors(unit(0)))
        with pytest.raises(RuntimeError, match="crash"), store.transaction():
            store.delete_ids(["old"])
            store.write([make_chunk("new", "new text")], vectors(unit(1)))
            store.set_source(SourceRecord("/docs/a.md", "h", 1, 1.0))
            raise RuntimeError("crash")
        assert store.existing_ids(["old", "new"]) == {"old"}
        assert store.sources() == {}
        with store.transaction():
            store.delete_ids(["old"])
            store.write([make_chunk("new", "new text")], vectors(unit(1)))
            store.set_source(SourceRecord("/docs/a.md", "h", 1, 1.0))
        assert store.existing_ids(["old", "new"]) == {"new"}
        assert set(store.sources()) == {"/docs/a.md"}
