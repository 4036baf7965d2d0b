"""Request bodies of the native API and the OpenAI-compatible facade (pydantic: FastAPI
validates them and answers 422 naming the field; they also make ``/openapi.json``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MetadataValue = str | int | float | bool


class DocumentIn(BaseModel):
    """One document sent as JSON: stored as the file ``source`` in the collection folder."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=255, examples=["guides/setup.md"])
    """A relative file name; its extension picks the loader (``.md``, ``.txt``, ...)."""
    text: str
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    """Accepted for forward compatibility; the loaders derive a document's metadata."""


class DocumentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    documents: list[DocumentIn] = Field(min_length=1, max_length=1000)


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["user", "assistant"]
    content: str = Field(max_length=100_000)


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1)
    k: int = Field(default=5, ge=1, le=100)
    where: dict[str, Any] | None = None
    """Filters, the grammar of ``rag.stores.base``: field -> scalar, list or operator dict."""
    mode: Literal["hybrid", "dense", "keyword"] | None = None


class AskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1)
    k: int | None = Field(default=None, ge=1, le=100)
    where: dict[str, Any] | None = None
    llm: str | None = Field(default=None, max_length=200)
    """A backend spec or routing name the server allows (the tenant's, the default, ``route``)."""
    history: list[Turn] = Field(default_factory=list, max_length=100)
    """Earlier turns of the conversation, oldest first: the question is retrieved as their
    follow-up, and a generative prompt carries the most recent turns (``history_tokens``)."""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionIn(BaseModel):
    """The fields of OpenAI's chat completion request rag reads; others are accepted and
    ignored, as OpenAI-compatible servers do."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=64)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
