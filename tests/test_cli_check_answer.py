"""`otklik check-answer` end to end through bot.cli.main: files, stdin, JSON Lines, --json, unreadable file."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main


def test_json_lines_and_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    drafts = tmp_path / "drafts.txt"
    drafts.write_text(
        "Здравствуйте! Яма заделана 1 декабря подрядчиком.\n"
        "Информация принята к сведению.\n"
        + json.dumps(
            {"text": "Здравствуйте! Яма заделана 1 декабря, фото прилагаем.", "media": 0}, ensure_ascii=False
        )
        + "\n",
        encoding="utf-8",
    )
    assert main(["check-answer", str(drafts), "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"ok": True, "findings": []}
    assert {f["code"] for f in lines[1]["findings"]} == {"no_greeting", "formal_reply"}
    assert lines[1]["ok"] is False
    assert [f["code"] for f in lines[2]["findings"]] == ["no_media"]
    assert set(lines[2]["findings"][0]) == {"code", "text"}


def test_stdin_repeat_russian_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Здравствуйте! Вопрос на контроле управления.\n"))
    assert main(["check-answer", "--repeat", "--procedure", "pos"]) == 0
    out = capsys.readouterr().out
    assert "no_measures" in out and "Повторное обращение" in out


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-answer", str(tmp_path / "missing.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "не удалось прочитать" in err[0]
