"""Session-wide: the summary says plainly when the PostgreSQL variants did not run."""

from __future__ import annotations

import pytest

from tests.support.pg import PG_SKIP


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if PG_SKIP in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"PostgreSQL: {len(skipped)} variants skipped ({PG_SKIP})", yellow=True, bold=True
        )
