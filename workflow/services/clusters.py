"""Clusters and repeats at registration (issue 13 items 3-4), inside the registration's own transaction.

Every registered message keeps its signature (workflow/clusters.py). An open-source message is compared with
the messages of its window and joins a cluster of similar ones; the first time a cluster has `threshold`
members within one window, the head is told at once (`activity_spike`, п.17: «повышенная социальная
активность»), listing its cases. After that the head hears again (`activity_spike_grew`) at the next member
and then at each doubling of the threshold (`milestones`), with the members that joined since: at once, but a
storm of a thousand comments is a dozen notices, not a thousand. The cluster's `reported_at` is
set with a conditional write in the same transaction as the notice is queued: the report goes once, across
restarts and concurrent registrations.

A message by the same author (network and author id), or with nearly the same text, as a case of the last
`repeat_days` is offered on its card as «Повторное к № N» (`Case.repeat_suggested`; Action.LINK_REPEAT links it).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from workflow.clusters import Signature, Window, find_address, peak, place, repeat_of, topic
from workflow.lifecycle import Transition
from workflow.model import Case, InboundMessage, Procedure, Role
from workflow.ports import Notification, SignatureRow, Transaction

SPIKE = "activity_spike"
SPIKE_GREW = "activity_spike_grew"
LISTED = 20  # cases a report lists; the rest are counted
SHORT = 150  # characters of each listed case's text


@dataclass(frozen=True, slots=True)
class SpikeSettings:
    """`[screening]`: the spike window and the repeat lookup. Both run in every registration's transaction and
    read only candidates (issue 16): the signatures sharing a stem or the address with the new message
    (`Transaction.similar_candidates`), for each term its newest `per_term` within the span, so a stem that
    most messages share (a storm, a stop word the list misses) reads `per_term` rows, not the window.
    `repeat_scan`: at most so many candidates of the last `repeat_days` are compared by text (the author's own
    last case is always found, by index); `Window.cap` bounds the window's candidates likewise."""

    window: Window = field(default_factory=Window)
    repeat_days: int = 30
    repeat_scan: int = 2_000
    per_term: int = 100


def author_key(message: InboundMessage) -> str:
    """ "vk:42": the network and the author's id there; "" when the channel gave no id."""
    if message.author_id is None:
        return ""
    network = message.network.value if message.network is not None else message.source.value
    return f"{network}:{message.author_id}"


def signed_at(message: InboundMessage, now: datetime) -> datetime:
    """When the message counts as come for the window: when it reached us, never after its registration."""
    return min(message.received_at, now)


async def suggest_repeat(
    tx: Transaction, procedure: Procedure, new: Signature, author: str, at: datetime, settings: SpikeSettings
) -> int | None:
    """The earlier case of the last `repeat_days` this message may repeat, or None."""
    since = at - timedelta(days=settings.repeat_days)
    if author:
        # The author's own newest case of the span is the answer whatever the text candidates are (repeat_of
        # prefers the newest by the same author, and no candidate of theirs is newer): they are not read.
        own = await tx.latest_by_author(procedure.value, author, since)
        if own is not None:
            return own.case_id
    # A repeat by text shares at least NEAR_SHARED stems: its candidates share one (the address does not count).
    rows = await tx.similar_candidates(
        procedure.value, new.stored(), "", since, at, per_term=settings.per_term, limit=settings.repeat_scan
    )
    # The rows as they are (their `signature` is parsed once per distinct stems and address, process-wide).
    return repeat_of(new, author, rows)


def with_suggestion(opened: Transition, earlier: int) -> Transition:
    """The registration with its repeat suggestion: on the case (the card offers it) and in its event."""
    case = replace(opened.case, repeat_suggested=earlier)
    events = tuple(replace(e, data={**e.data, "repeat_suggested": earlier}) for e in opened.events)
    return replace(opened, case=case, events=events)


async def cluster_case(
    tx: Transaction,
    case: Case,
    message: InboundMessage,
    new: Signature,
    at: datetime,
    now: datetime,
    settings: SpikeSettings,
) -> tuple[Notification, ...]:
    """Keep the new case's signature and, for an open-source case, put it in its cluster; the head's notices."""
    author = author_key(message)
    await tx.add_signature(case.procedure.value, SignatureRow(case.id, at, new.stored(), new.address, author))
    if case.procedure is not Procedure.OPEN_SOURCES:
        return ()
    window = settings.window
    # A similar message shares the address or at least SHARED stems: only those sharing one are read.
    rows = await tx.similar_candidates(
        case.procedure.value, new.stored(), new.address, at - window.span, at + window.span,
        per_term=settings.per_term, limit=window.cap + 1,
    )  # fmt: skip
    placed = place(new, at, [r for r in rows if r.case_id != case.id], window)
    if placed is None:
        return ()
    cluster_id = placed.join if placed.join is not None else await tx.new_cluster(at)
    added = (*placed.pull, case.id)
    await tx.join_cluster(cluster_id, added)
    cluster = await tx.cluster(cluster_id)
    assert cluster is not None
    if cluster.reported_at is None:
        # A peak not reached before must include the new member: only its window's members can make one (and
        # a cluster that grows slowly for weeks is not read whole at every registration).
        members = await tx.cluster_members(cluster_id, since=at - window.span, until=at + window.span)
        if peak((m.at for m in members), window) < window.threshold:
            return ()
        if not await tx.mark_cluster_reported(cluster_id, now):
            return ()  # another registration reported it just now
        report = await _report(tx, cluster_id, await tx.cluster_size(cluster_id), members, len(members), window)
        return (
            Notification(
                dedup_key=f"cluster:{cluster_id}:spike", case_id=None, kind=SPIKE, to_role=Role.HEAD, at=now,
                payload=report,
            ),
        )  # fmt: skip
    # A storm must not bury the head in notices (nor hold back his chat at Telegram's 1 message a second):
    # after the report, the head is told when the cluster reaches the next milestone, with the members that
    # joined since the last one. Counted, not read: a cluster of thousands costs one COUNT.
    size = await tx.cluster_size(cluster_id)
    before = size - len(added)
    crossed = [m for m in milestones(window.threshold, size) if before < m <= size]
    if not crossed:
        return ()
    since = max((m for m in milestones(window.threshold, before) if m <= before), default=window.threshold)
    joined = await tx.cluster_members(cluster_id, offset=since, limit=LISTED)
    report = await _report(tx, cluster_id, size, joined, size - since, window)
    return (
        Notification(
            dedup_key=f"cluster:{cluster_id}:grew:{crossed[-1]}", case_id=case.id, kind=SPIKE_GREW,
            to_role=Role.HEAD, at=now, payload=report,
        ),
    )  # fmt: skip


def milestones(threshold: int, up_to: int) -> list[int]:
    """The cluster sizes after the report at which the head hears again: one more than the threshold, then each
    doubling of it (5: 6, 10, 20, 40, …), so a storm of n messages is O(log n) notices."""
    found, size = [threshold + 1], 2 * threshold
    while size <= up_to:
        found.append(size)
        size *= 2
    return [m for m in found if m <= up_to]


async def _report(
    tx: Transaction,
    cluster_id: int,
    count: int,
    listed: list[SignatureRow],
    total_listed: int,
    window: Window,
) -> dict[str, object]:
    """What the head reads: how many, over which window, the address and subject, and the cases listed."""
    texts: list[tuple[SignatureRow, str]] = []
    for member in listed[:LISTED]:
        message = await tx.get_message(member.case_id)
        texts.append((member, message.text if message is not None else ""))
    address = next((a.shown for _, t in texts if (a := find_address(t)) is not None), "")
    cases = [
        {"id": m.case_id, "at": m.at.isoformat(), "text": t if len(t) <= SHORT else t[:SHORT].rstrip() + "…"}
        for m, t in texts
    ]
    return {
        "cluster": cluster_id,
        "count": count,
        "minutes": window.minutes,
        "address": address,
        "topic": topic(t for _, t in texts),
        "cases": cases,
        "more": max(0, total_listed - min(len(listed), LISTED)),
    }
