"""What calls cost: the price list (``pricing``, data in ``prices.toml``) and the call log
(``calllog``, one SQLite row per model call).

A parts-level package beside ``rag.llms``: it depends only on the core values
(``rag.types.Usage``, ``rag.errors``), so the LLM backends, the pipelines and ``rag costs``
can all use it without importing each other.
"""
