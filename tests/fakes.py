"""Fakes for the ports: a settable clock, a recording notifier, an in-memory repository.

The in-memory repository keeps the same promises as storage/ (unique source ids, optimistic versions,
rollback on an exception, conditional record_sent, outbox dedup), so the use-case tests can run against it and
against real SQLite with the same assertions.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TypeVar

from workflow.model import Case, Event, InboundMessage, Term, TermHandover, TermHolder, TermStart, TermStop
from workflow.ports import (
    AccessEntry,
    ClusterRow,
    DueTerm,
    FoundCase,
    Notification,
    OutboxItem,
    OwedBy,
    Point,
    Retimed,
    SentRecord,
    SignatureRow,
    StaleVersion,
    TermPage,
)
from workflow.search import link_key, search_text

_T = TypeVar("_T")


class FakeClock:
    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = now

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class RecordingNotifier:
    def __init__(self) -> None:
        self.woken: list[Notification] = []

    async def wake(self, case_ids: Sequence[int], notifications: Sequence[Notification]) -> None:
        self.woken.extend(notifications)


@dataclass
class _State:
    cases: dict[int, Case] = field(default_factory=dict)
    messages: dict[int, InboundMessage] = field(default_factory=dict)
    sources: dict[tuple[str, str], int] = field(default_factory=dict)
    events: dict[int, list[Event]] = field(default_factory=dict)
    drafts: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    access: list[AccessEntry] = field(default_factory=list)
    terms: dict[int, Term] = field(default_factory=dict)
    attention: dict[int, datetime | None] = field(default_factory=dict)
    # Each open term's points not sent yet, in time order (storage's term_points); none stored: unknown.
    points: dict[int, list[Point]] = field(default_factory=dict)
    outbox: dict[int, OutboxItem] = field(default_factory=dict)
    outbox_keys: set[str] = field(default_factory=set)
    claims: dict[int, tuple[datetime, str]] = field(default_factory=dict)  # outbox id -> (until, owner)
    kv: dict[str, str] = field(default_factory=dict)
    event_ids: int = 0
    signatures: dict[int, tuple[str, SignatureRow]] = field(
        default_factory=dict
    )  # case id -> (procedure, row)
    clusters: dict[int, ClusterRow] = field(default_factory=dict)


class FakeTransaction:
    def __init__(self, state: _State) -> None:
        self.s = state

    async def find_case_by_source(self, source: str, source_id: str) -> int | None:
        return self.s.sources.get((source, source_id))

    async def add_case(self, case: Case, message: InboundMessage) -> Case:
        key = (message.source.value, message.source_id)
        if key in self.s.sources:
            raise ValueError(f"duplicate source message {key}")
        case_id = len(self.s.cases) + 1
        stored = replace(case, id=case_id)
        self.s.cases[case_id] = stored
        self.s.messages[case_id] = message
        self.s.sources[key] = case_id
        return stored

    async def get_case(self, case_id: int) -> Case | None:
        return self.s.cases.get(case_id)

    async def get_message(self, case_id: int) -> InboundMessage | None:
        return self.s.messages.get(case_id)

    async def save_case(self, case: Case, expected_version: int) -> None:
        current = self.s.cases.get(case.id)
        if current is None or current.version != expected_version:
            raise StaleVersion(case.id)
        self.s.cases[case.id] = case

    async def append_event(self, case_id: int, event: Event) -> None:
        await self.append_events(case_id, [event])

    async def append_events(self, case_id: int, events: Sequence[Event]) -> None:
        for event in events:
            self.s.event_ids += 1
            self.s.events.setdefault(case_id, []).append(replace(event, id=self.s.event_ids))

    async def events(self, case_id: int) -> list[Event]:
        return list(self.s.events.get(case_id, []))

    async def add_draft(self, case_id: int, version: int, text: str, author_id: int, at: datetime) -> None:
        self.s.drafts.setdefault(case_id, []).append((version, text))

    async def record_access(self, entries: Sequence[AccessEntry]) -> None:
        self.s.access.extend(entries)

    async def latest_publication(self, case_id: int) -> None:
        return None  # the fake repository queues no publications (storage tests cover them)

    async def latest_draft(self, case_id: int, upto: int | None = None) -> str | None:
        drafts = [d for d in self.s.drafts.get(case_id, []) if upto is None or d[0] <= upto]
        return max(enumerate(drafts), key=lambda d: (d[1][0], d[0]))[1][1] if drafts else None

    async def open_term(self, case_id: int, start: TermStart, next_attention: datetime | None) -> int:
        term_id = len(self.s.terms) + 1
        self.s.terms[term_id] = Term(
            id=term_id,
            case_id=case_id,
            term_id=start.term_id,
            owner=start.owner,
            unit=start.unit,
            started_at=start.started_at,
            due=start.due,
            note=start.note,
            person=start.person,
        )
        self.s.attention[term_id] = next_attention
        return term_id

    async def open_terms(
        self, case_id: int, starts: Sequence[tuple[TermStart, Sequence[Point]]]
    ) -> list[int]:
        ids = []
        for start, points in starts:
            ids.append(await self.open_term(case_id, start, points[0][1] if points else None))
            self._set_points(ids[-1], points)
        return ids

    def _set_points(self, term_row_id: int, points: Sequence[Point]) -> None:
        if points:
            self.s.points[term_row_id] = list(points)
        else:
            self.s.points.pop(term_row_id, None)

    async def close_terms(self, case_id: int, stops: Sequence[TermStop], at: datetime, by: int) -> list[Term]:
        closed = []
        for term in list(self.s.terms.values()):
            if term.case_id != case_id or term.closed_at is not None:
                continue
            matching = [
                s for s in stops if s.term_id == term.term_id and (s.unit is None or s.unit == term.unit)
            ]
            # A done stop wins over a cancelled one, a forced outcome over the one by time.
            matching.sort(key=lambda s: (s.cancelled, s.met is None, not s.keep_miss))
            if matching:
                stop = matching[0]
                met: bool | None
                if not stop.cancelled:
                    met = stop.met if stop.met is not None else at <= term.due
                else:
                    # A moot term is neither met nor missed, unless it was past due already: a miss is history.
                    met = False if stop.keep_miss and term.due < at else None
                done = replace(term, closed_at=at, met=met)
                self.s.terms[term.id] = done
                self.s.attention[term.id] = None
                self.s.points.pop(term.id, None)
                closed.append(done)
        return closed

    async def hand_over_terms(self, case_id: int, handovers: Sequence[TermHandover]) -> None:
        for h in handovers:
            for term in list(self.s.terms.values()):
                if term.case_id != case_id or term.closed_at is not None or term.term_id != h.term_id:
                    continue
                if h.unit is not None and term.unit != h.unit:
                    continue
                self.s.terms[term.id] = replace(term, owner=h.owner, unit=h.new_unit, person=h.person)

    async def restore_terms(
        self,
        case_id: int,
        *,
        reopen: Sequence[tuple[int, Sequence[Point]]],
        cancel: Sequence[int],
        holders: Sequence[TermHolder],
        at: datetime,
        by: int,
    ) -> None:
        for row_id in cancel:
            term = self.s.terms.get(row_id)
            if term is not None and term.case_id == case_id and term.closed_at is None:
                self.s.terms[row_id] = replace(term, closed_at=at, met=False if term.due < at else None)
                self.s.attention[row_id] = None
                self.s.points.pop(row_id, None)
        for row_id, points in reopen:
            term = self.s.terms.get(row_id)
            if term is not None and term.case_id == case_id and term.closed_at is not None:
                self.s.terms[row_id] = replace(term, closed_at=None, met=None)
                self.s.attention[row_id] = points[0][1] if points else None
                self._set_points(row_id, points)
        for h in holders:
            term = self.s.terms.get(h.row_id)
            if term is not None and term.case_id == case_id and term.closed_at is None:
                self.s.terms[h.row_id] = replace(term, owner=h.owner, unit=h.unit, person=h.person)

    async def retime_terms(self, case_id: int, items: Sequence[Retimed]) -> None:
        for item in items:
            term = self.s.terms[item.term_row_id]
            if term.case_id != case_id or term.closed_at is not None:
                continue
            self.s.terms[term.id] = replace(term, started_at=item.started_at, due=item.due)
            self.s.attention[term.id] = item.points[0][1] if item.points else None
            self._set_points(term.id, item.points)

    async def terms(self, case_id: int, *, open_only: bool = True) -> list[Term]:
        return [
            t
            for t in self.s.terms.values()
            if t.case_id == case_id and (not open_only or t.closed_at is None)
        ]

    async def owed_terms(
        self, owed: OwedBy, limit: int, *, silent: frozenset[str] = frozenset(), now: datetime | None = None
    ) -> TermPage:
        def owes(t: Term) -> bool:
            if now is not None and t.term_id in silent and t.due < now:
                return False
            if t.owner in owed.roles:
                return True
            case = self.s.cases[t.case_id]
            where = (case.procedure.value, case.status)
            if any(t.term_id in s.term_ids and where == (s.procedure, s.status) for s in owed.steps):
                return True
            if t.owner not in owed.unit_roles:
                return False
            if t.unit is not None:
                return t.unit in owed.units
            return any(a.unit in owed.units for a in self.s.cases[t.case_id].assignments)

        return self._page([t for t in self.s.terms.values() if t.closed_at is None and owes(t)], limit)

    async def overdue_terms(
        self, now: datetime, limit: int, *, silent: frozenset[str] = frozenset()
    ) -> TermPage:
        found = [
            t
            for t in self.s.terms.values()
            if t.closed_at is None and t.due <= now and t.term_id not in silent
        ]
        return self._page(found, limit)

    # --- /case and /find ---------------------------------------------------------------------------------

    def _found(self, case_ids: Iterable[int], limit: int) -> list[FoundCase]:
        found = []
        for case_id in sorted(set(case_ids), reverse=True)[:limit]:
            case, message = self.s.cases[case_id], self.s.messages[case_id]
            found.append(
                FoundCase(
                    case_id=case_id, procedure=case.procedure.value, status=case.status,
                    text=message.text[:200], external_number=message.external_number,
                    units=frozenset(case.units) | frozenset(case.proposed_units), author=message.author,
                )
            )  # fmt: skip
        return found

    async def cases_by_external_number(self, number: str, limit: int) -> list[FoundCase]:
        return self._found((i for i, m in self.s.messages.items() if m.external_number == number), limit)

    async def cases_by_link(self, key: str, limit: int) -> list[FoundCase]:
        found = [i for i, m in self.s.messages.items() if link_key(m.link) == key]
        found += [
            i for i, c in self.s.cases.items() if c.published_link and link_key(c.published_link) == key
        ]
        return self._found(found, limit)

    async def found_cases(self, case_ids: Sequence[int]) -> list[FoundCase]:
        return self._found((i for i in case_ids if i in self.s.cases), len(case_ids))

    async def find_cases(
        self,
        needle: str,
        *,
        final: frozenset[str],
        closed_since: datetime,
        units: frozenset[str] | None,
        limit: int,
    ) -> list[FoundCase]:
        def last_change(case_id: int) -> datetime | None:  # storage's updated_at: the last step's instant
            events = self.s.events.get(case_id, [])
            return events[-1].at if events else None

        def matches(case_id: int) -> bool:
            case, m = self.s.cases[case_id], self.s.messages[case_id]
            if needle not in search_text(m.text, m.author, m.link, m.external_number):
                return False
            changed = last_change(case_id)
            if case.status in final and (changed is None or changed < closed_since):
                return False
            return units is None or bool(units & (set(case.units) | set(case.proposed_units)))

        return self._found((i for i in self.s.cases if matches(i)), limit)

    async def overdue_terms_of_units(
        self, now: datetime, limit: int, units: frozenset[str], *, silent: frozenset[str] = frozenset()
    ) -> TermPage:
        def seen(t: Term) -> bool:
            case = self.s.cases[t.case_id]
            return bool(units & (set(case.units) | set(case.proposed_units)))

        page = await self.overdue_terms(now, 10**9, silent=silent)
        return self._page([t for t in page.terms if seen(t)], limit)

    @staticmethod
    def _page(found: list[Term], limit: int) -> TermPage:
        found.sort(key=lambda t: (t.due, t.case_id, t.id))
        return TermPage(terms=tuple(found[:limit]), total=len(found))

    async def terms_needing_attention(self, now: datetime, limit: int = 10_000) -> list[Term]:
        due = [
            self.s.terms[i]
            for i, at in self.s.attention.items()
            if at is not None and at <= now and self.s.terms[i].closed_at is None
        ]
        return sorted(due, key=lambda t: (self.s.attention[t.id] or t.due, t.id))[:limit]

    async def due_terms(self, now: datetime, limit: int = 10_000) -> list[DueTerm]:
        due = []
        for term in await self.terms_needing_attention(now, limit):
            points = self.s.points.get(term.id, [])
            passed = tuple(key for key, at in points if at <= now)
            next_at = next((at for _, at in points if at > now), None)
            due.append(DueTerm(term, passed, next_at, known=bool(points)))
        return due

    async def earliest_attention(self) -> datetime | None:
        pending = [
            at for i, at in self.s.attention.items() if at is not None and self.s.terms[i].closed_at is None
        ]
        return min(pending, default=None)

    async def record_sent(self, term_row_id: int, key: str, next_attention: datetime | None) -> bool:
        term = self.s.terms[term_row_id]
        if key and key in term.sent:
            return False
        if key:
            self.s.terms[term_row_id] = replace(term, sent=term.sent | {key})
        self.s.attention[term_row_id] = next_attention
        return True

    async def record_sent_many(
        self, items: Sequence[SentRecord], *, swept: datetime | None = None
    ) -> set[int]:
        won: set[int] = set()
        for record in items:
            if any("," in key for key in record.keys):
                raise ValueError(f"term keys {record.keys!r} must not contain a comma")
            term = self.s.terms[record.term_row_id]
            if term.closed_at is not None or term.sent != record.seen:
                continue  # closed meanwhile, or another sweep recorded something first
            self.s.terms[term.id] = replace(term, sent=term.sent.union(record.keys))
            self.s.attention[term.id] = record.next_attention
            if swept is not None:
                self._set_points(term.id, [p for p in self.s.points.get(term.id, []) if p[1] > swept])
            if record.points is not None:
                self._set_points(term.id, record.points)
            won.add(term.id)
        return won

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        new = 0
        for notification in notifications:
            if notification.dedup_key in self.s.outbox_keys:
                continue
            self.s.outbox_keys.add(notification.dedup_key)
            item_id = len(self.s.outbox) + 1
            self.s.outbox[item_id] = OutboxItem(id=item_id, notification=notification)
            new += 1
        return new

    async def pending_outbox(self, limit: int = 100) -> list[OutboxItem]:
        return [i for i in self.s.outbox.values() if i.delivered_at is None][:limit]

    async def claim_outbox(self, now: datetime, owner: str, lease: timedelta, limit: int) -> list[OutboxItem]:
        taken: list[OutboxItem] = []
        for item in self.s.outbox.values():
            if len(taken) >= limit:
                break
            claim = self.s.claims.get(item.id)
            if item.delivered_at is None and (claim is None or claim[0] <= now):
                self.s.claims[item.id] = (now + lease, owner)
                taken.append(item)
        return taken

    async def release_outbox(self, outbox_id: int, owner: str) -> None:
        claim = self.s.claims.get(outbox_id)
        if claim is not None and claim[1] == owner and self.s.outbox[outbox_id].delivered_at is None:
            del self.s.claims[outbox_id]

    async def mark_delivered(self, outbox_id: int, at: datetime) -> None:
        item = self.s.outbox[outbox_id]
        if item.delivered_at is None:
            self.s.outbox[outbox_id] = replace(item, delivered_at=at)
            self.s.claims.pop(outbox_id, None)

    async def mark_failed(self, outbox_id: int, error: str) -> None:
        item = self.s.outbox[outbox_id]
        self.s.outbox[outbox_id] = replace(item, attempts=item.attempts + 1)

    async def kv_get(self, key: str) -> str | None:
        return self.s.kv.get(key)

    async def kv_set(self, key: str, value: str) -> None:
        self.s.kv[key] = value

    async def cases(self, *, open_only: bool = True, limit: int = 200) -> list[Case]:
        return list(self.s.cases.values())[:limit]

    # --- clusters and repeats ---------------------------------------------------------------------------------

    async def add_signature(self, procedure: str, row: SignatureRow) -> None:
        if row.case_id in self.s.signatures:
            raise ValueError(f"case {row.case_id} has a signature already")
        self.s.signatures[row.case_id] = (procedure, replace(row, cluster_id=None))

    def _newest(self, rows: Iterable[SignatureRow]) -> list[SignatureRow]:
        return sorted(rows, key=lambda r: (r.at, r.case_id), reverse=True)

    async def recent_signatures(
        self, procedure: str, since: datetime, until: datetime, limit: int
    ) -> list[SignatureRow]:
        rows = (r for p, r in self.s.signatures.values() if p == procedure and since <= r.at <= until)
        return self._newest(rows)[:limit]

    async def similar_candidates(
        self,
        procedure: str,
        stems: str,
        address: str,
        since: datetime,
        until: datetime,
        *,
        per_term: int,
        limit: int,
    ) -> list[SignatureRow]:
        window = self._newest(
            r for p, r in self.s.signatures.values() if p == procedure and since <= r.at <= until
        )
        terms = set(stems.split()) | ({"@" + address} if address else set())
        found: dict[int, SignatureRow] = {}
        for term in terms:
            having = [
                r for r in window if (term[1:] == r.address if term.startswith("@") else term in r.stems.split())
            ]
            found.update((r.case_id, r) for r in having[:per_term])
        return self._newest(found.values())[:limit]

    async def latest_by_author(self, procedure: str, author: str, since: datetime) -> SignatureRow | None:
        rows = (
            r
            for p, r in self.s.signatures.values()
            if p == procedure and r.author == author and r.at >= since
        )
        return next(iter(self._newest(rows)), None)

    async def new_cluster(self, started_at: datetime) -> int:
        cluster_id = len(self.s.clusters) + 1
        self.s.clusters[cluster_id] = ClusterRow(cluster_id, started_at)
        return cluster_id

    async def join_cluster(self, cluster_id: int, case_ids: Sequence[int]) -> None:
        for case_id in case_ids:
            procedure, row = self.s.signatures[case_id]
            self.s.signatures[case_id] = (procedure, replace(row, cluster_id=cluster_id))

    async def cluster(self, cluster_id: int) -> ClusterRow | None:
        return self.s.clusters.get(cluster_id)

    async def cluster_members(
        self,
        cluster_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[SignatureRow]:
        rows = [
            r
            for _, r in self.s.signatures.values()
            if r.cluster_id == cluster_id
            and (since is None or r.at >= since)
            and (until is None or r.at <= until)
        ]
        ordered = sorted(rows, key=lambda r: (r.at, r.case_id))[offset:]
        return ordered if limit is None else ordered[:limit]

    async def cluster_size(self, cluster_id: int) -> int:
        return sum(1 for _, r in self.s.signatures.values() if r.cluster_id == cluster_id)

    async def mark_cluster_reported(self, cluster_id: int, at: datetime) -> bool:
        row = self.s.clusters[cluster_id]
        if row.reported_at is not None:
            return False
        self.s.clusters[cluster_id] = replace(row, reported_at=at)
        return True


class FakeRepository:
    """One writer at a time; an exception inside the transaction restores the state as it was."""

    def __init__(self) -> None:
        self.state = _State()

    @asynccontextmanager
    async def reading(self, *, inline: bool = False) -> AsyncIterator[FakeTransaction]:
        yield FakeTransaction(self.state)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[FakeTransaction]:
        snapshot = copy.deepcopy(self.state)
        try:
            yield FakeTransaction(self.state)
        except BaseException:
            self.state = snapshot
            raise

    async def write(self, body: Callable[[FakeTransaction], Awaitable[_T]]) -> _T:
        async with self.transaction() as tx:
            return await body(tx)
