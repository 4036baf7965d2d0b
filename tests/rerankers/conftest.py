"""A tiny real cross-encoder, built once per session: a 2-layer BERT (hidden 32) with a
one-output classification head and a WordPiece vocabulary written here, saved with
``save_pretrained`` like any downloaded model directory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.testing.reranker_contract import QUESTION, TEXTS

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
EXTRA = "what is bm25 keyword search where does chroma keep data weather spring"


def _vocab() -> list[str]:
    words = re.findall(r"\w+|[^\w\s]", " ".join((QUESTION, *TEXTS, EXTRA)).lower())
    return SPECIAL + sorted(set(words))


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of a tiny untrained (seeded) BERT cross-encoder with num_labels=1."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    out = tmp_path_factory.mktemp("tiny-cross-encoder")
    vocab = out / "vocab.txt"
    vocab.write_text("\n".join(_vocab()) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab), do_lower_case=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(_vocab()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
        # wide initial weights, so an untrained model still gives texts distinct scores
        initializer_range=0.5,
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
