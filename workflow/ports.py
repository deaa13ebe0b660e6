"""Ports: what the use cases need from the outside world, as Protocols.

`storage/` implements `Repository` (SQLite or PostgreSQL), `bot/` implements `Clock` and the delivery side of
the outbox (its own Protocol: claiming rows, cards per chat, deliveries). Tests use fakes. Every write of one use case happens inside one `Repository.transaction()` (or `Repository.write`), so a
state change, its event, its terms and its notifications are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from workflow.clusters import Signature, stored_signature
from workflow.model import (
    Case,
    ChannelItem,
    Event,
    InboundMessage,
    Network,
    Role,
    Term,
    TermHandover,
    TermHolder,
    TermStart,
    TermStop,
)

_T = TypeVar("_T")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


@dataclass(frozen=True, slots=True)
class Notification:
    """Something to tell someone, stored in the outbox before it is delivered.

    `dedup_key` is unique across the outbox: recording the same reminder or alert twice (a second sweep, a
    restart) is a no-op, so nothing is sent twice. `to_role` + `unit` name the recipients; the delivery side
    resolves them to chats.
    """

    dedup_key: str
    case_id: int | None
    kind: str  # "reminder" | "missed" | "significant" | "card" | "info" ...
    to_role: Role
    at: datetime
    term_id: str | None = None
    unit: str | None = None
    payload: dict[str, object] = field(default_factory=dict)


# The kind of the office head's report that Telegram refused a working chat (bot/delivery.py queues it).
DELIVERY_FAILED = "delivery_failed"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    notification: Notification
    attempts: int = 0
    delivered_at: datetime | None = None


# A reminder or miss point of a term: its key ("r50", "missed") and its instant (workflow.services.sweep).
Point = tuple[str, datetime]


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One term's part of `Transaction.record_sent_many`: the keys to add to the sent keys `seen` when read.

    `points`: the term's points not sent yet after this record, to be stored in place of the stored ones (a term
    whose points were not stored: `DueTerm.known` False); None keeps the stored ones.
    """

    term_row_id: int
    seen: frozenset[str]
    keys: tuple[str, ...]
    next_attention: datetime | None
    points: tuple[Point, ...] | None = None


@dataclass(frozen=True, slots=True)
class Retimed:
    """One open term's part of `Transaction.retime_terms`: its new start and due and its points not sent yet,
    in time order (the first is its next attention instant)."""

    term_row_id: int
    started_at: datetime
    due: datetime
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class DueTerm:
    """An open term that fell due (`Transaction.due_terms`), with its stored points split at the sweep's now.

    `passed`: the keys of its stored points at or before now, in order; `next_at`: the instant of its first
    stored point after now. `known` False: the term has no stored point although it needs attention (opened
    before points were stored, migration 0020): the sweep computes its points with the calendar.
    """

    term: Term
    passed: tuple[str, ...]
    next_at: datetime | None
    known: bool


class StaleVersion(Exception):
    """The case changed since the caller read it (an outdated card, a concurrent press)."""


class StorageUnavailable(Exception):
    """The database cannot be read or written just now (locked, full, read-only, server gone).

    Not a fault of the input: whoever holds the work (the inbox) keeps it and tries again once storage is back,
    so handlers' guards let it pass instead of answering «не удалось».
    """


@dataclass(frozen=True, slots=True)
class OwedBy:
    """Whose open terms to list: terms owed by any of `roles`, and by `unit_roles` only for `units`.

    A unit role's term without a unit (a ПОС executor's common term) is owed by the units the case is assigned
    to.
    """

    roles: frozenset[Role]
    unit_roles: frozenset[Role]
    units: frozenset[str]
    # Terms owed besides by owner: those a person's own step would complete, whoever holds them (the ПОС
    # coordinator posts an approved answer whose term the ПОС curator holds).
    steps: tuple[OwedStep, ...] = ()


@dataclass(frozen=True, slots=True)
class OwedStep:
    """The open terms `term_ids` of cases of `procedure` in `status`."""

    procedure: str
    status: str
    term_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class FoundCase:
    """A case as /case and /find list it: enough for one line, with what decides whether it may be shown."""

    case_id: int
    procedure: str
    status: str
    text: str
    external_number: str
    units: frozenset[str]
    author: str = ""  # whose message: what a masked line must not show (views/privacy.py, issue 15)


@dataclass(frozen=True, slots=True)
class TermPage:
    """The first terms of a list, by due instant, and how many there are in all."""

    terms: tuple[Term, ...]
    total: int


# What an access-log line says was shown (AccessEntry.what): a card with the message (/case), lines with the
# message's beginning (/find, a /case choice, the «which case?» question under a plain reply), an export.
VIEW_CARD, VIEW_FIND, VIEW_CHOICE, VIEW_EXPORT = "card", "find", "choice", "export"


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One view of a case's personal data (issue 14): who, holding which roles, where, what was shown, when."""

    case_id: int
    user_id: int
    roles: frozenset[str]
    chat_id: int | None
    what: str  # VIEW_CARD | VIEW_FIND | VIEW_CHOICE | VIEW_EXPORT
    at: datetime
@dataclass(frozen=True, slots=True)
class SignatureRow:
    """A registered message as clustering and repeats compare it (workflow/clusters.py), table
    `case_signatures`: when it came, its stems (space-separated), address key and author ("" unknown), and the
    cluster it is in."""

    case_id: int
    at: datetime
    stems: str
    address: str = ""
    author: str = ""
    cluster_id: int | None = None

    @property
    def signature(self) -> Signature:
        """The row's signature as `place` and `repeat_of` compare it (one shared object per stems and address:
        a registration compares hundreds of rows, in a storm mostly the same words)."""
        return stored_signature(self.stems, self.address)


@dataclass(frozen=True, slots=True)
class ClusterRow:
    """A cluster of similar messages (table `clusters`): reported to the head at `reported_at` (None: not yet)."""

    id: int
    started_at: datetime
    reported_at: datetime | None = None


class Reading(Protocol):
    """A read-only transaction: on SQLite it never takes the write lock, so a read never waits behind a sweep."""

    async def find_case_by_source(self, source: str, source_id: str) -> int | None: ...

    async def get_case(self, case_id: int) -> Case | None: ...

    async def get_message(self, case_id: int) -> InboundMessage | None: ...

    async def events(self, case_id: int) -> list[Event]: ...

    async def latest_draft(self, case_id: int, upto: int | None = None) -> str | None:
        """The newest draft text, of version `upto` or earlier when given (an undone submit's draft is not)."""
        ...

    async def latest_publication(self, case_id: int) -> Publication | None:
        """The case's newest publication row (what its card says about publishing), None before any."""
        ...

    async def get_publication(self, publication_id: int) -> Publication | None: ...

    async def foreign_publication_claims(self, owner: str) -> list[Publication]:
        """Rows «sending» for another owner than `owner`."""
        ...

    async def next_publication_at(self) -> datetime | None:
        """The earliest back-off instant of a pending row."""
        ...

    async def terms(self, case_id: int, *, open_only: bool = True) -> list[Term]: ...

    async def owed_terms(
        self, owed: OwedBy, limit: int, *, silent: frozenset[str] = frozenset(), now: datetime | None = None
    ) -> TermPage:
        """Open terms `owed` names, the earliest due first, with one indexed query whatever is open.

        Terms whose id is in `silent` (return-only, RULES.md §6) are left out once past due at `now`: their
        lapse is acceptance, nothing is owed.
        """
        ...

    async def overdue_terms(
        self, now: datetime, limit: int, *, silent: frozenset[str] = frozenset()
    ) -> TermPage:
        """Open terms due at or before `now`, the earliest first; never one whose id is in `silent`."""
        ...

    async def earliest_attention(self) -> datetime | None:
        """The nearest next-attention instant of any open term (the simulator jumps its clock there)."""
        ...

    # --- /case and /find (issue 10): one indexed query each -------------------------------------------------

    async def cases_by_external_number(self, number: str, limit: int) -> list[FoundCase]:
        """Cases whose source message carries this ПОС number (exact), the newest first."""
        ...

    async def cases_by_link(self, key: str, limit: int) -> list[FoundCase]:
        """Cases whose source message's link or whose published answer's link has this key
        (workflow.search.link_key), the newest first."""
        ...

    async def found_cases(self, case_ids: Sequence[int]) -> list[FoundCase]:
        """These cases (those that exist), the newest first."""
        ...

    async def find_cases(
        self,
        needle: str,
        *,
        final: frozenset[str],
        closed_since: datetime,
        units: frozenset[str] | None,
        limit: int,
    ) -> list[FoundCase]:
        """Cases whose message's search text (workflow.search.search_text) contains `needle` (already folded),
        open (status not in `final`) or final and last changed at or after `closed_since`, the newest first.

        `units` None: every case; else only cases assigned or proposed to one of `units`.
        """
        ...

    async def overdue_terms_of_units(
        self, now: datetime, limit: int, units: frozenset[str], *, silent: frozenset[str] = frozenset()
    ) -> TermPage:
        """`overdue_terms` of the cases assigned or proposed to one of `units` only."""
        ...


class Transaction(Reading, Protocol):
    """One writing transaction. Leaving the context without an exception commits; an exception rolls back."""

    async def add_case(self, case: Case, message: InboundMessage) -> Case:
        """Insert a case (its `id` is ignored) with its source message; returns it with the assigned id."""
        ...

    async def save_case(self, case: Case, expected_version: int) -> None:
        """Write `case` if the stored version is `expected_version`; raise StaleVersion otherwise.

        `case.version` must be greater than `expected_version` (ValueError otherwise): writing the same
        version back would let a second writer holding the same expectation win too.
        """
        ...

    async def append_events(self, case_id: int, events: Sequence[Event]) -> None:
        """Append several events in their order, with one statement."""
        ...

    async def add_draft(
        self, case_id: int, version: int, text: str, author_id: int, at: datetime
    ) -> None: ...

    async def open_terms(
        self, case_id: int, starts: Sequence[tuple[TermStart, Sequence[Point]]]
    ) -> list[int]:
        """Open several terms, each with its points in time order (the first is its next attention instant, none:
        it needs none), with one statement for the terms and one for the points; their ids in order."""
        ...

    async def close_terms(self, case_id: int, stops: Sequence[TermStop], at: datetime, by: int) -> list[Term]:
        """Close the matching open terms (unit None matches every unit) and return them, closed.

        A done stop: `met` is the stop's own `met` when set, else `at <= due`. A `cancelled` stop leaves `met`
        None, except that a term already past due at `at` is stored missed (False) when `keep_miss`. A term
        matched by a done and a cancelled stop counts as done. Terms come back in the order they were opened.
        """
        ...

    async def hand_over_terms(self, case_id: int, handovers: Sequence[TermHandover]) -> None:
        """Set owner, unit and person of the matching open terms (unit None matches every unit), in order."""
        ...

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
        """An undo or a reopen, by term row: `cancel` closes these open rows as cancelled (a row already past
        due is stored missed: misses are history); `reopen` opens these closed rows again (met and closing
        cleared, the sent keys kept) with their points not sent yet, in time order (the first is the next
        attention instant); `holders` sets the owner, unit and person of these rows where they are still open.
        A closed or cancelled term keeps no stored point."""
        ...

    async def retime_terms(self, case_id: int, items: Sequence[Retimed]) -> None:
        """Move open terms of the case (by row id) to a new start, due and points (which replace the stored
        ones; the first is the next attention instant); sent keys stay."""
        ...

    async def terms_needing_attention(self, now: datetime, limit: int = 10_000) -> list[Term]:
        """Open terms whose next reminder point or due instant is at or before `now`.

        Storage keeps each open term's next attention instant indexed, so the cost follows what is due,
        not what is open. Where the database has row locks (PostgreSQL), the terms come back locked for
        this transaction and terms another transaction holds are skipped: an overlapping sweep handles
        those, and no two sweeps wait on each other.
        """
        ...

    async def due_terms(self, now: datetime, limit: int = 10_000) -> list[DueTerm]:
        """The open terms whose next attention instant is at or before `now`, as `terms_needing_attention`
        selects and locks them, each with its stored points split at `now` (`DueTerm`): no calendar work."""
        ...

    async def record_sent_many(
        self, items: Sequence[SentRecord], *, swept: datetime | None = None
    ) -> set[int]:
        """Add each term's `keys` to its sent keys and move its attention point, with one conditional write.

        A term's write wins only if the term is still open and its stored sent keys are still `record.seen`
        (no other sweep recorded anything for it since it was read); the ids of the winners come back, and
        a loser is left as the winner wrote it. A record with no keys only moves the attention point. Keys
        must not contain a comma; a term appears at most once. With `swept`, each winner's stored points at
        or before it are deleted (they are the keys it sent); a winner's record with `points` has its stored
        points replaced by them.
        """
        ...

    async def enqueue(self, notifications: Sequence[Notification]) -> int:
        """Store notifications in the outbox, skipping already-known dedup keys; returns how many were new."""
        ...

    # --- personal data (issue 14) -------------------------------------------------------------------------

    async def record_access(self, entries: Sequence[AccessEntry]) -> None:
        """Append views of cases' personal data to the access log."""
        ...

    # --- similar-message clusters and repeats (issue 13) -----------------------------------------------------

    async def add_signature(self, procedure: str, row: SignatureRow) -> None:
        """Keep a registered message's signature (its `cluster_id` is ignored: see `join_cluster`)."""
        ...

    async def recent_signatures(
        self, procedure: str, since: datetime, until: datetime, limit: int
    ) -> list[SignatureRow]:
        """The signatures of `procedure` from `since` to `until` (inclusive), the newest `limit` first."""
        ...

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
        """The signatures of `procedure` from `since` to `until` (inclusive) that share at least one of `stems`
        (space-separated) or the `address` key: for each such term the newest `per_term` signatures having it,
        and of all those the newest `limit`, newest first. What clustering and repeats compare (issue 16)."""
        ...

    async def latest_by_author(self, procedure: str, author: str, since: datetime) -> SignatureRow | None:
        """The newest signature of `procedure` by `author` at or after `since`."""
        ...

    async def new_cluster(self, started_at: datetime) -> int:
        """A new, unreported cluster; its id."""
        ...

    async def join_cluster(self, cluster_id: int, case_ids: Sequence[int]) -> None:
        """Put these cases' signatures into the cluster."""
        ...

    async def cluster(self, cluster_id: int) -> ClusterRow | None: ...

    async def cluster_members(
        self,
        cluster_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> list[SignatureRow]:
        """The cluster's signatures (those from `since` to `until`, inclusive), the oldest first, from the
        `offset`-th, at most `limit`."""
        ...

    async def cluster_size(self, cluster_id: int) -> int:
        """How many signatures the cluster has."""
        ...

    async def mark_cluster_reported(self, cluster_id: int, at: datetime) -> bool:
        """Mark the cluster reported if it is not yet; whether this call did (only one caller ever does)."""
        ...

    # --- publications (issue 11) --------------------------------------------------------------------------

    async def add_publication(self, publication: Publication, at: datetime) -> Publication:
        """Queue an answer (its `id` is ignored); returns it with the assigned id."""
        ...

    async def claim_publications(self, now: datetime, owner: str, limit: int) -> list[Publication]:
        """Pending rows due at `now` (no back-off or one passed), the oldest first, now «sending» for `owner`
        with one more attempt; a row another transaction holds is skipped."""
        ...

    async def set_publication(
        self,
        publication_id: int,
        state: str,
        at: datetime,
        *,
        error: str = "",
        link: str = "",
        next_at: datetime | None = None,
        expect: str | None = None,
    ) -> bool:
        """Move a row to `state` (only from `expect` when given), its claim ended; whether it moved."""
        ...


class Repository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def write(self, body: Callable[[Transaction], Awaitable[_T]]) -> _T:
        """Run `body` in one writing transaction and return its result once that is committed (durable first).

        `body` awaits nothing but the transaction's own methods: on SQLite it runs to its end in the writer's
        thread, group-committed with other writes (storage/writer.py). Its exception rolls back only its own
        work and reaches the caller as raised.
        """
        ...

    def reading(self) -> AbstractAsyncContextManager[Reading]: ...


class People(Protocol):
    """Who holds a role, from the staff directory (bot/): names a term's holder the step itself did not name.

    RULES.md §6: a term names its person where known; when a role (of a unit) has exactly one staff member,
    that member is known to hold every term the role owes.
    """

    def sole_holder(self, role: Role, unit: str | None) -> str:
        """The name of the only staff member holding `role` (for a unit role: in `unit`), else ""."""
        ...


class Reach(Protocol):
    """Who can be told at all: whether the configuration gives a unit, or a role, a chat to be told in.

    The directory of chats lives outside the domain (bot/); a use case asks before a step whose point is to
    tell someone (routing to a unit, a report to the head), so a step nobody could hear of is refused with the
    reason before anything changes.
    """

    def unit_reachable(self, unit: str) -> bool: ...

    def role_reachable(self, role: Role) -> bool: ...


class Notifier(Protocol):
    """Wakes the delivery side after a commit: the cards of `case_ids` changed, `notifications` were queued.

    It schedules the work and returns at once: a presser's answer never waits for Telegram.
    """

    async def wake(self, case_ids: Sequence[int], notifications: Sequence[Notification]) -> None: ...


# --- citizens' networks (issue 11) -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChannelBatch:
    """What one read of a network's push feed gave: its raw events, and the cursor that follows them.

    The events are saved with the cursor in one transaction (storage/inbox.py), so a batch read again after a
    crash is the same rows. `gap`: the network says events were lost before these (VK long poll `failed: 1`),
    and a reconciliation sweep should look for them. `failed`: the read itself failed (no answer, not JSON):
    the reader waits before the next.
    """

    events: tuple[dict[str, object], ...]
    cursor: str | None
    gap: bool = False
    failed: bool = False


class ChannelSource(Protocol):
    """A network's feed of raw events (VK Bots Long Poll): each call waits for the next batch after `cursor`.

    It never raises for what the network sends (non-JSON, a timeout, an expired key): it logs one line and
    returns an empty batch with the cursor to go on from. `item` turns one saved raw event into the domain's
    item, None for what is not a citizen's item (our own echoes, unknown types, broken events).
    """

    channel: str

    async def next_batch(self, cursor: str | None) -> ChannelBatch: ...

    def item(self, raw: dict[str, object], seen_at: datetime, *, report: bool = True) -> ChannelItem | None:
        """`report=False`: the event was reported when it was saved; its skips and cuts are not logged again."""
        ...


# --- publishing answers back (issue 11) ----------------------------------------------------------------------

# A publication's states: queued, being posted (claimed by a worker), posted, refused for a reason a person must
# act on (retry allowed after a fix), or impossible through the network (answer by hand).
PENDING, SENDING, PUBLISHED, FAILED, UNDELIVERABLE = "pending", "sending", "published", "failed", "undeliverable"
ACTIVE_PUBLICATION = frozenset({PENDING, SENDING})
# Cut short where the network keeps no idempotency key (a dead run mid-send, a timeout): nobody knows whether it
# went; the operator looks and says (published by hand, or publish again).
UNCLEAR = "unclear"
FINAL_ANSWER, INTERIM_ANSWER = "final", "interim"


@dataclass(frozen=True, slots=True)
class Publication:
    """One approved answer queued for its network (table `publications`); its id is the idempotency key."""

    id: int
    case_id: int
    network: Network
    item_key: str  # the case's source id: the natural key of the item answered
    item_link: str  # the item's own link (a VK comment's names its post)
    text: str
    state: str = PENDING
    kind: str = FINAL_ANSWER
    attempts: int = 0
    error: str = ""  # Russian: why it failed or cannot go, or why it waits
    link: str = ""  # the published answer's link
    requested_by: int = 0  # who pressed «Опубликовать»: the publication is his step
    requested_by_name: str = ""
    confirmed: bool = False  # publish although units still owe information (RULES.md §6)
    next_at: datetime | None = None  # not before this instant (a retry's back-off)
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """An approved answer to publish under the item it answers; `idempotency_key` is its publication row's id
    (VK `guid` on wall.createComment, `random_id` on messages.send), so a retry after a crash posts it once."""

    case_id: int
    item_key: str
    text: str
    idempotency_key: int
    item_link: str = ""
    kind: str = FINAL_ANSWER


class PublishError(Exception):
    """A publication the network did not take. `reason` is Russian and shown on the card."""

    def __init__(self, reason: str, *, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail  # the network's own words, for the log


class PublishRefused(PublishError):
    """The network will never take it as it is (comments closed, the 24-hour window, too long): undeliverable,
    the operator answers by hand."""


class PublishFailed(PublishError):
    """A person must fix something first (a revoked token, a bad parameter); `alert`: tell the office head;
    `unclear`: the call may have posted it (no idempotency key): the operator looks before anything is retried."""

    def __init__(self, reason: str, *, detail: str = "", alert: bool = False, unclear: bool = False) -> None:
        super().__init__(reason, detail=detail)
        self.alert = alert
        self.unclear = unclear


class PublishLater(PublishError):
    """Safe to try again (the idempotency key posts it once): after `delay`, or from the next local midnight
    (`until_tomorrow`: a daily quota); no delay: the worker's own back-off."""

    def __init__(
        self, reason: str, *, detail: str = "", delay: timedelta | None = None, until_tomorrow: bool = False
    ) -> None:
        super().__init__(reason, detail=detail)
        self.delay = delay
        self.until_tomorrow = until_tomorrow


class Publisher(Protocol):
    """Posts an approved answer to the network the item came from and returns the answer's link.

    `idempotent`: the network takes an idempotency key (VK), so a claim a dead run left is posted again safely;
    without one (Telegram) such a claim is not retried blindly. `refusal` says, before any call, why the answer
    cannot go at all (too long, an item it cannot answer), else None. `publish` raises a PublishError subclass
    for what the network answered. `rate_per_second`: at most this many calls a second to the network (the
    publisher worker paces them; several are in flight at once only when it is above one).
    """

    network: Network
    idempotent: bool
    rate_per_second: float

    def refusal(self, answer: Answer) -> str | None: ...

    async def publish(self, answer: Answer) -> str: ...


@dataclass
class PublisherRegistry:
    """Which networks answers can be published to: network → its Publisher (`bot/app.py` registers one per
    connected network: VK, the Telegram channel). `on_queued` wakes the publisher worker after a commit that
    queued a publication (the worker's own tick finds it otherwise)."""

    publishers: dict[Network, Publisher] = field(default_factory=dict)
    on_queued: Callable[[], None] | None = None

    def register(self, publisher: Publisher) -> None:
        self.publishers[publisher.network] = publisher

    def get(self, network: Network) -> Publisher | None:
        return self.publishers.get(network)

    def connected(self) -> frozenset[Network]:
        return frozenset(self.publishers)
