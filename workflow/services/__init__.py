"""The use cases over ports: the only async part of the domain, one module per concern.

`Services` is what the outer layers hold: the writing use cases (`cases`), the sweeper's (`sweep`) and the
read side (`queries`), sharing one set of ports (`base`).
"""

from __future__ import annotations

from workflow.services.base import NOT_FOUND, STALE_CARD
from workflow.services.cases import Outcome
from workflow.services.channels import ChannelUseCases
from workflow.services.handover import HandOverOutcome, HandOverUseCases
from workflow.services.pos_mail import PosMailUseCases
from workflow.services.publishing import PublishingUseCases
from workflow.services.queries import QueryUseCases
from workflow.services.review import ReviewUseCases
from workflow.services.sweep import MISSED, SweepUseCases, next_attention, reminder_points


class Services(
    ReviewUseCases, PublishingUseCases, ChannelUseCases, HandOverUseCases, PosMailUseCases, SweepUseCases,
    QueryUseCases,
):
    """All use cases over one repository, clock, calendar, rules and notifier (the channels', the hand-overs',
    ПОС mail's and the checks' answers over the cases')."""


__all__ = [
    "MISSED",
    "NOT_FOUND",
    "STALE_CARD",
    "HandOverOutcome",
    "Outcome",
    "Services",
    "next_attention",
    "reminder_points",
]
