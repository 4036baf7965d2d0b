"""``rag.evals``: measure retrieval and answers on BEIR-format datasets.

from rag.evals import run_eval, plain_table
result = run_eval("evals/data/ko")            # dense, keyword, hybrid + stuff baseline
print(plain_table(result))
"""

from rag.evals.answers import AnswerRow, AnswerStats, score_answers
from rag.evals.datasets import Dataset, Query, load_dataset
from rag.evals.metrics import (
    answer_f1,
    best_answer_scores,
    char_f1,
    doc_ranking,
    exact_match,
    mrr_at,
    ndcg_at,
    recall_at,
    token_f1,
)
from rag.evals.report import answer_table, plain_table, table, to_html, to_json, write_html
from rag.evals.runner import (
    DEFAULT_CONFIGS,
    ConfigResult,
    EvalResult,
    QueryResult,
    parse_configs,
    run_eval,
)

__all__ = [
    "DEFAULT_CONFIGS",
    "AnswerRow",
    "AnswerStats",
    "ConfigResult",
    "Dataset",
    "EvalResult",
    "Query",
    "QueryResult",
    "answer_f1",
    "answer_table",
    "best_answer_scores",
    "char_f1",
    "doc_ranking",
    "exact_match",
    "load_dataset",
    "mrr_at",
    "ndcg_at",
    "parse_configs",
    "plain_table",
    "recall_at",
    "run_eval",
    "score_answers",
    "table",
    "to_html",
    "to_json",
    "token_f1",
    "write_html",
]
