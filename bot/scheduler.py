"""The periodic jobs: the term sweeper, the outbox drain, the office head's digest and the daily inbox purge,
one interval job each (and the ПОС mailbox's poll, and the hourly erasure of personal data past retention).

There are no per-deadline jobs: the database is the source of truth for terms and the sweeper asks it what is
due. `max_instances=1` keeps sweeps from overlapping in one process; the conditional writes in storage keep two
processes from sending the same alert twice. The digest job ticks as often as the sweeper: which digest is due
is decided from the clock each tick (workflow/digest.py), so no job is scheduled for a time of day.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)


def _guarded(name: str, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
    """A failing run is logged in one line and retried at the next tick; it never stops the scheduler."""

    async def run() -> None:
        try:
            await job()
        except Exception as exc:  # the next tick retries; nothing is marked done on failure
            log.error("%s failed: %s: %s", name, type(exc).__name__, exc)
        except asyncio.CancelledError:
            # A stop cancels the job in flight (scheduler.shutdown): not a failure, and not a traceback in the
            # log. Nothing awaits this task but the scheduler, so the cancellation ends here.
            log.debug("%s interrupted by the stop", name)

    return run


def build_scheduler(
    *,
    sweep: Callable[[], Awaitable[object]],
    sweep_seconds: float,
    drain: Callable[[], Awaitable[object]] | None = None,
    drain_seconds: float = 2.0,
    purge: Callable[[], Awaitable[object]] | None = None,
    digest: Callable[[], Awaitable[object]] | None = None,
    pos_mail: Callable[[], Awaitable[object]] | None = None,
    pos_mail_seconds: float = 300.0,
    retention: Callable[[], Awaitable[object]] | None = None,
    weekly_report: Callable[[], Awaitable[object]] | None = None,
    morning: Callable[[], Awaitable[object]] | None = None,
) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(
        _guarded("sweep", sweep),
        "interval",
        seconds=sweep_seconds,
        id="sweep",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    if drain is not None:
        scheduler.add_job(
            _guarded("outbox", drain),
            "interval",
            seconds=drain_seconds,
            id="outbox",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    if digest is not None:
        scheduler.add_job(
            _guarded("digest", digest),
            "interval",
            seconds=sweep_seconds,
            id="digest",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    # --- issue 14: the weekly п.18 report and the morning digests tick as the digest does (due from the clock) ---
    for name, job in (("weekly_report", weekly_report), ("morning", morning)):
        if job is not None:
            scheduler.add_job(
                _guarded(name, job),
                "interval",
                seconds=sweep_seconds,
                id=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
            )
    if pos_mail is not None:
        # The ПОС notification mailbox (bot/pos_mail.py): IMAP has no push Otklik relies on, so it is polled.
        scheduler.add_job(
            _guarded("pos mail", pos_mail),
            "interval",
            seconds=pos_mail_seconds,
            id="pos_mail",
            next_run_time=datetime.now(UTC),  # at start too: mails that came while Otklik was down
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    if retention is not None:
        # Issue 14 (helper D): personal data past their retention period erased (bot/retention_job.py), hourly
        # and at start, so a bot that was down when a case fell due erases it as soon as it is up again.
        scheduler.add_job(
            _guarded("retention", retention),
            "interval",
            hours=1,
            id="retention",
            next_run_time=datetime.now(UTC),
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )
    if purge is not None:
        # Handled inbox rows past the retention (bot/polling.py keeps every update until it is done).
        scheduler.add_job(
            _guarded("inbox purge", purge),
            "interval",
            days=1,
            id="inbox_purge",
            max_instances=1,
            coalesce=True,
        )
    return scheduler
