"""The hourly erasure of personal data past their retention period (issue 14): `[retention]`, workflow/retention.py.

Storage lists the ended cases that could be due (storage/personal_data.py), the pure rule decides which are,
and they are erased, each with a `pd_erased` event. A run that fails erases nothing of its current batch
(one transaction per batch) and the next tick takes it up again.
"""

from __future__ import annotations

import logging
from datetime import tzinfo

from storage.personal_data import PersonalData
from workflow.model import Actor, Role
from workflow.ports import Clock
from workflow.retention import BY_RETENTION, RetentionPolicy, candidate_bounds, due_for_erasure

log = logging.getLogger(__name__)

# Who erases by schedule: the system (the history says why: the retention period).
RETENTION_ACTOR = Actor(user_id=0, roles=frozenset({Role.SYSTEM}), name="")


async def erase_due(pd: PersonalData, clock: Clock, policy: RetentionPolicy, tz: tzinfo) -> list[int]:
    """Erase every case due at the clock's `now`; the ids erased."""
    if not policy.enabled:
        return []
    now = clock.now()
    bounds = candidate_bounds(now, policy, tz)
    erased: list[int] = []
    after_id = 0
    while page := await pd.ended_cases(
        bounds, after_id=after_id
    ):  # pages by id: never stuck on cases not due
        due = due_for_erasure(page, now, policy, tz)
        if due:
            erased += await pd.erase(due, at=now, actor=RETENTION_ACTOR, reason=BY_RETENTION)
        after_id = page[-1].case_id
    if erased:
        log.info("personal data erased after the retention period: %d case(s)", len(erased))
    return erased
