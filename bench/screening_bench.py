"""Messages screened per second on one core, against a floor: a plain lowercase + one regex pass.

Run: .venv/bin/python bench/screening_bench.py
Corpus: tests/data/screening/messages.jsonl when present (not yet written), else the table texts of
tests/unit/test_screening.py. Repeats until at least 2 s have passed.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workflow.screening import screen  # noqa: E402


def corpus() -> list[str]:
    path = ROOT / "tests" / "data" / "screening" / "messages.jsonl"
    if path.exists():
        return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    from tests.unit.test_screening import CASES

    return [text for text, _ in CASES]


def rate(texts: list[str], fn: object) -> float:
    assert callable(fn)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < 2.0:
        for text in texts:
            fn(text)
        done += len(texts)
    return done / (time.perf_counter() - start)


def main() -> None:
    texts = corpus()
    floor_re = re.compile(r"ху[йяе]|пизд|бля|еба|идиот|убью")
    floor = rate(texts, lambda t: floor_re.search(t.lower()))
    ours = rate(texts, screen)
    print(f"сообщений: {len(texts)}; screen(): {ours:,.0f} сообщ./с; нижняя граница (lower+regex): {floor:,.0f} сообщ./с")


if __name__ == "__main__":
    main()
