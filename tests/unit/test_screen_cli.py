"""`otklik screen`: plain text and JSON Lines in, one line per message out; unreadable file → exit 2."""

import json
from pathlib import Path

import pytest

from bot.cli import main


def test_json_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "m.txt"
    src.write_text('вы идиоты\n{"text": "б*я, нет отопления"}\nспасибо за лавочки\n', encoding="utf-8")
    assert main(["screen", str(src), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["flags"] for r in rows] == [["insult"], ["obscenity"], []]
    assert [r["significant"] for r in rows] == [False, True, False]
    assert set(rows[0]) == {"flags", "exclude", "significant", "matches"}


def test_human_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "m.txt"
    src.write_text("я тебя найду\nкогда починят фонарь?\n", encoding="utf-8")
    assert main(["screen", str(src)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("исключить (п.15): угроза")
    assert out[1] == "в работу"


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["screen", str(tmp_path / "нет.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "не удалось прочитать файл" in err
