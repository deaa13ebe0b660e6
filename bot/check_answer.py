"""`otklik check-answer`: read drafts one per line and print the answer checks' findings."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from workflow.answer_checks import Finding, check

EXIT_OK = 0
EXIT_UNREADABLE = 2


def _parse_line(line: str) -> tuple[str, int, str | None]:
    """A JSON Lines object {"text", "media"?, "network"?} or, failing that, the line itself as plain text."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            obj: Any = json.loads(stripped)
        except ValueError:
            return line, 0, None
        if isinstance(obj, dict) and isinstance(obj.get("text"), str):
            media = obj.get("media", 0)
            network = obj.get("network")
            return (
                obj["text"],
                media if isinstance(media, int) and not isinstance(media, bool) else 0,
                network if isinstance(network, str) else None,
            )
    return line, 0, None


def _render(findings: list[Finding], number: int) -> str:
    if not findings:
        return f"{number}: замечаний нет"
    return f"{number}: " + "; ".join(f"{f.code} — {f.text}" for f in findings)


def run_check_answer(file: str | None, *, procedure: str, repeat: bool, as_json: bool) -> int:
    if file is None:
        data = sys.stdin.read()
    else:
        try:
            data = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(
                f"otklik: ошибка: не удалось прочитать файл {file}: {exc.__class__.__name__}", file=sys.stderr
            )
            return EXIT_UNREADABLE
    number = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        number += 1
        text, media, network = _parse_line(line)
        findings = check(text, procedure=procedure, repeat=repeat, media_count=media, network=network)
        if as_json:
            payload = {"ok": not findings, "findings": [{"code": f.code, "text": f.text} for f in findings]}
            print(json.dumps(payload, ensure_ascii=False))
        else:
            print(_render(findings, number))
    return EXIT_OK
