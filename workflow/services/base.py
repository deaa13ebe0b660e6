"""What every use case shares: its ports, the wake-up after a commit, and the refusals they have in common."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from workflow.calendar import WorkingCalendar
from workflow.ports import Clock, Notification, Notifier, People, PublisherRegistry, Reach, Repository
from workflow.rules import Rules
from workflow.screening import Findings, screen
from workflow.services.clusters import SpikeSettings

STALE_CARD = "Карточка устарела: по сообщению уже выполнено другое действие. Откройте актуальную карточку."
NOT_FOUND = "Сообщение не найдено."


@dataclass
class UseCaseBase:
    repo: Repository
    clock: Clock
    calendar: WorkingCalendar
    rules: Rules
    notifier: Notifier | None = None
    people: People | None = None  # names the holder of a term the step did not name (RULES.md §6)
    # Which units and roles have a chat (None: no check, e.g. the simulator, which tells nobody).
    reach: Reach | None = None
    # The networks approved answers are published to (issue 11); empty: «Опубликовать» is refused.
    publishers: PublisherRegistry = field(default_factory=PublisherRegistry)
    # п.15 / п.17 screening of every registered text (workflow.screening); tests give one that fails.
    screener: Callable[[str], Findings] = screen
    # `[screening]`: the activity spike window and the repeat lookup (issue 13).
    spikes: SpikeSettings = field(default_factory=SpikeSettings)

    async def _wake(self, case_ids: Sequence[int], notifications: Sequence[Notification]) -> None:
        """After a commit: delivery refreshes these cases' cards and sends what was queued."""
        if self.notifier is not None:
            await self.notifier.wake(case_ids, notifications)
