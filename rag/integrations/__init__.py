"""Adapters to other frameworks (LangChain, LlamaIndex): an entry-point layer over the facade.

Each adapter lives in its own module and imports its framework lazily; importing `rag` never
imports either framework, and a missing extra raises an error naming the extra to install.
"""
