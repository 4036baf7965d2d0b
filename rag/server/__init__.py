"""``rag serve``: rag behind an HTTP API (FastAPI + uvicorn).

Modules, by responsibility: ``app`` (``create_app``), ``tenants`` (keys -> tenant, limits,
budgets), ``catalog`` (each tenant's collections, their folders and ``RAG``), ``runner`` (the
one bounded executor every blocking call goes through), ``routes_native`` and
``routes_openai`` (the endpoints), ``service`` (what both share), ``schemas`` (request
bodies), ``sse``, ``errors`` (one JSON error shape), ``limits`` (body size, draining),
``keys`` (``rag serve keys add``) and ``serve`` (running uvicorn, draining on SIGTERM).
Imported only by ``rag serve``: ``rag --help`` never loads FastAPI.
"""
