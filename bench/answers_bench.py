"""Answer checks bench: drafts checked per second and agreement with the labelled corpus.

Run: .venv/bin/python bench/answers_bench.py [ROUNDS]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workflow.answer_checks import check

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "screening" / "drafts.jsonl"


def _codes(row: dict[str, Any]) -> set[str]:
    found = check(
        row["text"],
        procedure=row.get("procedure", "open_sources"),
        repeat=bool(row.get("repeat", False)),
        media_count=int(row.get("media", 0)),
        network=row.get("network"),
    )
    return {f.code for f in found}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    agree = 0
    for row in rows:
        got = _codes(row)
        if got == set(row["codes"]):
            agree += 1
        else:
            print(f"расхождение: {sorted(got)} вместо {row['codes']}: {row['text'][:70]}")
    started = time.perf_counter()
    for _ in range(rounds):
        for row in rows:
            _codes(row)
    elapsed = time.perf_counter() - started
    print(f"черновиков: {len(rows)}; совпадение с разметкой: {agree / len(rows):.1%}")
    print(f"скорость: {rounds * len(rows) / elapsed:.0f} черновиков в секунду")


if __name__ == "__main__":
    main()
