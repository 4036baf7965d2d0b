"""Follow-up questions: the conversation's history, checked, turned into retrieval context and
cut to a budget for the prompt.

``history`` on ``ask``/``ask_stream``/``prepare``/``retrieve`` is a sequence of
``rag.llms.base.Message`` or ``(role, content)`` tuples, oldest first, roles ``user`` and
``assistant`` only (``check_history``; a system prompt is rag's own).

A follow-up ("and how long does that take?") names nothing a retriever can find. Before
retrieval it is made standalone by a deterministic rule (``follow_up``), the same for every
model and answer mode, so the small default model is never asked to rewrite: the previous
user question's key terms (the keyword tokenizer's terms: stemmed, stopwords dropped), minus
those already in the question, are added to the keyword leg's terms, and the dense leg embeds
the previous question followed by this one (concatenating the previous turn is the usual
strong baseline of conversational search). A question that shares its key terms with the
previous one (already standalone) gets no extra terms; its dense text still carries the turn.

Where the model is capable, it rewrites the follow-up instead (``follow_up_rewrite``, ``auto``:
when answers are generative): ``rewrite_messages`` asks it for one standalone question, which
the dense leg embeds and whose terms join the keyword leg (``rewritten``). The packaged 135M
model keeps the rule: on the conversations of tests/pipelines/test_follow_up_eval.py its
rewrites find the right source less often than the rule does (numbers there).

A generative prompt carries the most recent turns that fit ``history_tokens`` as earlier chat
messages, between the system prompt and the sources (``history_slice``); an extractive answer
uses the history for retrieval only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.errors import ConfigError
from rag.llms.base import Message

__all__ = [
    "FollowUp",
    "HistorySlice",
    "Terms",
    "Turn",
    "check_history",
    "follow_up",
    "history_slice",
    "rewrite_messages",
    "rewritten",
    "standalone_of",
]

Turn = Message | tuple[str, str]
"""One earlier turn: a ``Message`` or a ``(role, content)`` tuple, role user or assistant."""

Terms = Callable[[Sequence[str]], list[list[str]]]
"""Texts -> their keyword terms (``KeywordTokenizer.tokenize_batch``)."""

_ROLES = ("user", "assistant")


def check_history(history: Sequence[Turn] | None) -> tuple[Message, ...]:
    """``history`` as Messages, oldest first; ConfigError on a role other than user or
    assistant, or a turn that is not a message or a (role, content) pair of strings."""
    out: list[Message] = []
    for i, turn in enumerate(history or ()):
        role: str
        if isinstance(turn, Message):
            role, content = turn.role, turn.content
        elif (
            isinstance(turn, tuple)
            and len(turn) == 2
            and isinstance(turn[0], str)
            and isinstance(turn[1], str)
        ):
            role, content = turn
        else:
            raise ConfigError(
                f"history[{i}] is {type(turn).__name__}; give each turn as a Message or a "
                "(role, content) tuple of strings"
            )
        if role not in _ROLES:
            raise ConfigError(
                f"history[{i}] has role {role!r}; history takes 'user' and 'assistant' turns "
                "only (rag writes the system prompt itself)"
            )
        out.append(Message(role=role, content=content))  # type: ignore[arg-type]
    return tuple(out)


@dataclass(frozen=True)
class FollowUp:
    """How a question is made standalone for retrieval: the previous user question, the
    terms it adds to the keyword leg and the text the dense leg embeds."""

    previous: str
    context_terms: tuple[str, ...]
    dense_query: str
    rewritten: bool = False
    """True when the model rewrote the question (``dense_query`` is its rewrite)."""


def follow_up(question: str, history: Sequence[Message], terms: Terms) -> FollowUp | None:
    """The retrieval context of ``question`` after ``history`` (module docstring), or None
    when the history has no user turn."""
    previous = next((m.content for m in reversed(history) if m.role == "user"), None)
    if previous is None or not previous.strip():
        return None
    own, theirs = terms([question, previous])
    seen = set(own)
    added: list[str] = []
    for term in theirs:
        if term not in seen:
            seen.add(term)
            added.append(term)
    return FollowUp(previous, tuple(added), f"{previous.strip()} {question.strip()}")


REWRITE_PROMPT = (
    "Rewrite the last question of the conversation as one standalone question that names "
    "what it refers to. Reply with the rewritten question only."
)
REWRITE_TURNS = 4
"""Most recent turns the rewrite prompt shows (each cut to ``REWRITE_CHARS``)."""
REWRITE_CHARS = 600


def rewrite_messages(question: str, history: Sequence[Message]) -> tuple[Message, ...]:
    """The prompt that asks a model to make ``question`` standalone, given ``history``."""
    lines = [f"{m.role}: {m.content[:REWRITE_CHARS]}" for m in history[-REWRITE_TURNS:]]
    user = (
        "Conversation:\n" + "\n".join(lines) + f"\n\nLast question: {question}\n"
        "Standalone question:"
    )
    return (Message(role="system", content=REWRITE_PROMPT), Message(role="user", content=user))


def standalone_of(reply: str, question: str) -> str | None:
    """The rewritten question in a model's ``reply``: its first non-empty line without quotes
    or a leading label; None when there is none or it is far longer than a question."""
    line = next((ln.strip() for ln in reply.splitlines() if ln.strip()), "")
    for label in ("standalone question:", "question:"):
        if line.lower().startswith(label):
            line = line[len(label) :].strip()
    line = line.strip("\"'` ")
    if not line or len(line) > 4 * len(question) + 300:
        return None
    return line


def rewritten(question: str, history: Sequence[Message], rewrite: str, terms: Terms) -> FollowUp:
    """The retrieval context of a model's ``rewrite`` of ``question``: its terms the question
    lacks join the keyword leg, and the dense leg embeds the rewrite."""
    previous = next((m.content for m in reversed(history) if m.role == "user"), "")
    own, theirs = terms([question, rewrite])
    seen = set(own)
    added = [t for t in dict.fromkeys(theirs) if t not in seen]
    return FollowUp(previous, tuple(added), rewrite, rewritten=True)


@dataclass(frozen=True)
class HistorySlice:
    """The turns a prompt carries, and what was left out."""

    turns: tuple[Message, ...]
    kept: int
    """Turns of the history the slice holds (consecutive turns of one role are merged)."""
    tokens: int
    cut: int
    """Earlier turns left out (over the budget, or an assistant turn whose question was)."""

    def note(self, budget: int) -> str:
        """One line for the prompt notes: what was kept and cut (empty without history)."""
        if not self.kept and not self.cut:
            return ""
        line = f"history: kept the last {self.kept} of {self.kept + self.cut} turns"
        line += f" ({self.tokens} tokens, history_tokens = {budget})"
        return line + (f"; {self.cut} earlier cut: over the budget" if self.cut else "")


def history_slice(
    history: Sequence[Message], budget: int, count_tokens: Callable[[str], int]
) -> HistorySlice:
    """The most recent whole turns whose tokens fit ``budget``, oldest first. Consecutive
    turns of one role are merged (chat templates expect user and assistant to alternate),
    and the slice never starts with an assistant turn whose question was cut."""
    runs: list[tuple[Message, int]] = []  # (merged turn, how many turns it stands for)
    for m in history:
        if runs and runs[-1][0].role == m.role:
            last, n = runs[-1]
            runs[-1] = (Message(role=m.role, content=f"{last.content}\n\n{m.content}"), n + 1)
        else:
            runs.append((m, 1))
    kept: list[tuple[Message, int]] = []
    used = 0
    for m, n in reversed(runs):
        cost = count_tokens(m.content)
        if used + cost > budget:
            break
        kept.append((m, n))
        used += cost
    kept.reverse()
    if kept and kept[0][0].role == "assistant" and len(kept) < len(runs):
        used -= count_tokens(kept[0][0].content)
        kept = kept[1:]
    cut = len(history) - sum(n for _, n in kept)
    return HistorySlice(tuple(m for m, _ in kept), len(history) - cut, used, cut)
