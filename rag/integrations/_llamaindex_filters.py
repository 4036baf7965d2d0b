"""LlamaIndex metadata filters -> rag's filter grammar (``rag.stores.base``), exactly.

rag's grammar is one conjunction per query (field -> operator dict) with ``$eq $ne $gt $gte
$lt $lte $in``. A LlamaIndex ``MetadataFilters`` tree (AND/OR, nested) is turned into its
disjunctive normal form: a list of ``Branch``es, each one conjunction. Each branch becomes one
store query; the union of the branches' top ``k`` (by similarity) holds the top ``k`` of the
whole filter, so merging them is exact.

A conjunction may say more than one rag filter can hold: ``NIN [a, b]`` is ``$ne a`` and
``$ne b`` on one field, two ``GT`` on one field, ``node_ids``. The first condition per field
and operator goes to the store; the rest are ``residual`` checks run in Python with rag's own
reference semantics (``rag.stores.base.matches``) over candidates fetched in growing batches
until ``k`` pass or the store has no more (``RagVectorStore`` does that), so the answer stays
exact.

Semantics are rag's, which differ from LlamaIndex's in-memory store in one place: a node
without the key never matches (not even ``NE``/``NIN``). ``source`` is rag's source field
(the ref doc id of nodes a ``RagVectorStore`` wrote, the file of ingested chunks).
``FilterCondition.NOT`` and the operators ``ANY ALL CONTAINS TEXT_MATCH
TEXT_MATCH_INSENSITIVE IS_EMPTY`` have no rag equivalent and raise ``ConfigError``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from rag.errors import ConfigError
from rag.stores.base import Condition, Filters, chunk_fields, matches, validate_filters
from rag.types import Chunk, MetadataValue

__all__ = ["MAX_BRANCHES", "Branch", "to_branches"]

MAX_BRANCHES = 64
"""Most conjunctions one filter may expand to (each is one store query)."""

_OPERATORS: dict[FilterOperator, str] = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
}
SUPPORTED = ", ".join([*(op.name for op in _OPERATORS), "NIN"])

Atom = tuple[str, str, MetadataValue | list[MetadataValue] | None]
"""One condition in rag's terms: (field, operator, argument); operator ``present`` (argument
None) means the field exists (what ``NIN []`` asks)."""


@dataclass(frozen=True)
class Branch:
    """One conjunction: what the store filters (``filters``), what is checked in Python on the
    candidates it returns (``residual``), and the node ids it is restricted to (or None)."""

    filters: dict[str, Condition] = field(default_factory=dict)
    residual: tuple[Atom, ...] = ()
    node_ids: frozenset[str] | None = None

    @property
    def exact(self) -> bool:
        """True when the store's answer needs no Python check."""
        return not self.residual and self.node_ids is None

    def accepts(self, chunk: Chunk) -> bool:
        """Whether ``chunk`` passes the residual checks (rag's reference semantics)."""
        if self.node_ids is not None and chunk.id not in self.node_ids:
            return False
        values = chunk_fields(chunk)
        for key, op, arg in self.residual:
            if op == "present":
                if key not in values:
                    return False
            elif not matches(values, {key: {op: arg}}):  # type: ignore[dict-item]
                return False
        return True


def to_branches(
    filters: MetadataFilters | None,
    *,
    doc_ids: Sequence[str] | None = None,
    node_ids: Sequence[str] | None = None,
) -> list[Branch]:
    """The conjunctions (at least one; an empty filter is one empty branch) whose union is
    ``filters`` restricted to ``doc_ids`` (rag sources) and ``node_ids`` (chunk ids) when
    those are not empty."""
    conjunctions = _dnf(filters) if filters is not None else [[]]
    # an empty list means no restriction, as in LlamaIndex's own stores (its retriever
    # passes node_ids=[] when none were given)
    extra: list[Atom] = [("source", "$in", list(doc_ids))] if doc_ids else []
    ids = frozenset(node_ids) if node_ids else None
    return [_branch([*atoms, *extra], ids) for atoms in conjunctions]


def _dnf(filters: MetadataFilters) -> list[list[Atom]]:
    condition = filters.condition or FilterCondition.AND
    if condition not in (FilterCondition.AND, FilterCondition.OR):
        raise ConfigError(
            f"LlamaIndex filter condition {condition.value!r} has no equivalent in rag's filter "
            "grammar (a missing field never matches, so NOT cannot be rewritten exactly); use "
            f"AND/OR with the operators {SUPPORTED}"
        )
    parts = [_dnf(f) if isinstance(f, MetadataFilters) else _atoms(f) for f in filters.filters]
    if not parts:
        return [[]]
    count = (sum if condition == FilterCondition.OR else math.prod)(len(p) for p in parts)
    if count > MAX_BRANCHES:
        raise ConfigError(
            f"LlamaIndex filter expands to {count} AND-branches (one store query each); at "
            f"most {MAX_BRANCHES} are allowed: use IN/NIN instead of many ORs on one key"
        )
    if condition == FilterCondition.OR:
        return [conj for part in parts for conj in part]
    return [[atom for conj in combo for atom in conj] for combo in itertools.product(*parts)]


def _atoms(f: MetadataFilter) -> list[list[Atom]]:
    """One LlamaIndex condition as a DNF (a single conjunction), checked by rag's grammar."""
    value = f.value
    if f.operator == FilterOperator.NIN:
        if not isinstance(value, list):
            raise ConfigError(
                f"LlamaIndex filter on {f.key!r}: NIN takes a list of values, not {value!r}"
            )
        atoms: list[Atom] = [(f.key, "$ne", v) for v in value] or [(f.key, "present", None)]
    else:
        op = _OPERATORS.get(f.operator)
        if op is None:
            raise ConfigError(
                f"LlamaIndex filter operator {f.operator.name} (on {f.key!r}) has no equivalent "
                f"in rag's filter grammar; use one of {SUPPORTED}"
            )
        atoms = [(f.key, op, list(value) if isinstance(value, list) else value)]
    for key, op, arg in atoms:
        probe: Filters = {key: "present"} if op == "present" else {key: {op: arg}}  # type: ignore[dict-item]
        try:
            validate_filters(probe)
        except ConfigError as exc:
            raise ConfigError(
                f"LlamaIndex filter {f.key!r} {f.operator.name} {value!r}: {exc}"
            ) from None
    return [atoms]


def _branch(atoms: list[Atom], node_ids: frozenset[str] | None) -> Branch:
    """Push the first condition per (field, operator) to the store; keep the rest as residual."""
    filters: dict[str, dict[str, MetadataValue | list[MetadataValue]]] = {}
    residual: list[Atom] = []
    for key, op, arg in atoms:
        ops = filters.setdefault(key, {})
        if op == "present" or op in ops:
            residual.append((key, op, arg))
        else:
            ops[op] = arg  # type: ignore[assignment]
    pushed: dict[str, Condition] = {k: v for k, v in filters.items() if v}
    validate_filters(pushed)
    return Branch(pushed, tuple(residual), node_ids)


def pushed_filters(branch: Branch) -> Filters | None:
    """The store-side filter of ``branch`` (None when it has none)."""
    return branch.filters or None
