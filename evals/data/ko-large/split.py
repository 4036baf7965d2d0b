"""Split queries.jsonl / qrels.tsv into a tuning half and a reporting half.

Rule (fixed, documented in README.md): a question is in the reporting half iff
int(sha256(question_id.encode()).hexdigest(), 16) % 2 == 1, else in the tuning half;
questions marked "unanswerable": true in answers.jsonl (no qrels) always go to the tuning half.
Writes queries.tune.jsonl, qrels.tune.tsv, queries.report.jsonl, qrels.report.tsv
beside this file. Standard library only; run with `python3 split.py`.
"""

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def half(question_id: str) -> str:
    digest = int(hashlib.sha256(question_id.encode()).hexdigest(), 16)
    return "report" if digest % 2 == 1 else "tune"


def unanswerable_ids() -> set[str]:
    text = (HERE / "answers.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {row["id"] for row in rows if row.get("unanswerable") is True}


def main() -> None:
    text = (HERE / "queries.jsonl").read_text(encoding="utf-8")
    queries = [json.loads(line) for line in text.splitlines() if line.strip()]
    tune_only = unanswerable_ids()
    lines = (HERE / "qrels.tsv").read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [line for line in lines[1:] if line.strip()]
    for name in ("tune", "report"):
        picked = [q for q in queries if ("tune" if q["id"] in tune_only else half(q["id"])) == name]
        ids = {q["id"] for q in picked}
        with open(HERE / f"queries.{name}.jsonl", "w", encoding="utf-8") as fh:
            for q in picked:
                fh.write(json.dumps(q, ensure_ascii=False) + "\n")
        with open(HERE / f"qrels.{name}.tsv", "w", encoding="utf-8") as fh:
            fh.write(header + "\n")
            for row in rows:
                if row.split("\t")[0] in ids:
                    fh.write(row + "\n")
        print(f"{name}: {len(picked)} questions")


if __name__ == "__main__":
    main()
