"""What `otklik run` imports at start (issue 16: idle ≤ 200 MiB): the modules made lazy stay out until a path
needs them. A fresh interpreter, so that no other test's imports count."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Each is imported by the path that uses it: VK's clients when [channels.vk] is on, Alembic by a migration or
# otklik check's schema finding, holidays for a year without calendar data, aiohttp's server side where a
# webhook is served, the Telegram channel's parts when [channels.telegram] is on.
LAZY = ("vk_api", "requests", "urllib3", "charset_normalizer", "alembic", "holidays", "aiohttp.web",
        "channels.telegram", "handlers.channel_intake")  # fmt: skip
START = "import bot.app, bot.cli, bot.startup, bot.check, storage.migrate, workflow.calendar"


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(done.stdout.split())


def test_start_up_imports_none_of_the_lazy_modules() -> None:
    assert sorted(_loaded_after(START) & set(LAZY)) == []


def test_the_probe_sees_an_import() -> None:
    """The check above can fail: the same probe after importing one of them finds it."""
    assert "holidays" in _loaded_after(START + "\nfrom workflow.calendar import fallback_year\nfallback_year(2099)")
