"""Domain objects: frozen dataclasses shared by every layer.

Nothing here knows about storage, Telegram or the clock. Instants are always timezone-aware; storage keeps
them in UTC and gives them back aware.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

# Case ids (and every other row id) are positive 64-bit integers: what SQLite's INTEGER PRIMARY KEY and
# PostgreSQL's BIGINT hold. An id from outside (a command, a button) beyond this range names no case and is
# refused before it reaches SQL, where it would overflow the driver.
MAX_ID = 2**63 - 1
_ASCII_NUMBER = re.compile(r"[0-9]{1,30}")  # ASCII only: str.isdigit() and int() also take «²», «١», «１»


def parse_id(raw: str) -> int | None:
    """A positive id written in ASCII digits, within 1..MAX_ID; None for anything else."""
    if not _ASCII_NUMBER.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None


def valid_id(value: int) -> bool:
    return 1 <= value <= MAX_ID


class Procedure(StrEnum):
    OPEN_SOURCES = "open_sources"
    POS = "pos"


class Role(StrEnum):
    """Role ids as RULES.md names them; one person may hold several."""

    OPERATOR = "operator"
    OFFICE_HEAD = "office_head"
    REGION_CURATOR = "region_curator"
    UNIT_OFFICIAL = "unit_official"
    HEAD = "head"
    COORDINATOR = "coordinator"
    POS_CURATOR = "pos_curator"
    EXECUTOR = "executor"
    SYSTEM = "system"


class Source(StrEnum):
    """Where a message came from; every channel becomes the same inbound message."""

    VK = "vk"
    OK = "ok"
    TELEGRAM = "telegram"
    REGION_CURATOR = "region_curator"
    POS = "pos"
    MANUAL = "manual"
    # Posted in the intake chat by staff (source id "<chat>:<message>"), whatever the button pressed under it: one
    # case per intake message. Where it was published is `InboundMessage.network`; who found it, `handed_over`.
    INTAKE = "intake"


class Network(StrEnum):
    """The social network an open-source message was published in (п.4): its answer goes out there (п.10)."""

    VK = "vk"
    OK = "ok"
    TELEGRAM = "telegram"
    OTHER = "other"  # a page or a messenger outside п.4's three networks


class DomainError(Exception):
    """A refused request. `message` is Russian and safe to show to the person who pressed the button."""

    def __init__(self, message: str, *, code: str = "refused") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a staff member with roles and, for unit officials and executors, units."""

    user_id: int
    roles: frozenset[Role]
    units: frozenset[str] = frozenset()
    name: str = ""

    def has(self, role: Role) -> bool:
        return role in self.roles


SYSTEM_ACTOR = Actor(user_id=0, roles=frozenset({Role.SYSTEM}), name="Отклик")


@dataclass(frozen=True, slots=True)
class Attachment:
    kind: str  # "photo" | "document" | "video" | "link"
    ref: str  # a file id, a URL or a storage key
    name: str = ""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A citizen's message as any channel hands it over, before it becomes a case."""

    source: Source
    source_id: str  # the network's own id of the message; (source, source_id) is unique
    procedure: Procedure
    text: str
    received_at: datetime  # when it reached the administration: posted in the chat, picked up, arrived in ПОС
    author: str = ""
    link: str = ""
    category: str | None = None  # ПОС category class
    attachments: tuple[Attachment, ...] = ()
    external_number: str = ""  # ПОС number
    # Open sources, п.10: when the region curator (ЦУР) detected the message; T0 when given (RULES.md §2).
    detected_at: datetime | None = None
    pos_due: date | None = None  # ПОС: the answer due date ПОС itself shows, when the curator entered it
    network: Network | None = None  # open sources: where it was published, when known (an intake chat press)
    # Open sources: handed over by the region curator of ЦУР (п.6), not found by the operator himself; implied by
    # Source.REGION_CURATOR. The region curator then hears how it ends (RULES.md §6).
    handed_over: bool = False
    author_id: int | None = None  # the network's id of the author (a VK user), when the channel gave one
    # A ЦУР hand-over: the IM card's own number and who handed it over (kept on the case, Case.cur_*).
    cur_number: str = ""
    cur_curator: str = ""

    @property
    def t0(self) -> datetime:
        """The instant the terms count from: the ЦУР detection time when given, else `received_at`."""
        return self.detected_at if self.detected_at is not None else self.received_at


@dataclass(frozen=True, slots=True)
class Assignment:
    unit: str
    responsible: bool = False
    accepted: bool = False
    info_given: bool = False
    order: int = 0  # open sources, п.12.1: place in the order the office head set (1, 2, …); 0 = not set
    waiting: bool = False  # in an order, the unit's turn has not come: its os.unit_info has not started


@dataclass(frozen=True, slots=True)
class Case:
    """The current state of one message's handling; `version` rejects stale updates."""

    id: int
    procedure: Procedure
    status: str
    version: int
    t0: datetime
    category: str | None = None
    assignments: tuple[Assignment, ...] = ()
    proposed_units: tuple[str, ...] = ()
    repeat_of: int | None = None
    # An earlier case this one may repeat (the same author or nearly the same text, workflow/clusters.py): offered
    # on the card as «Повторное к № N»; a person links it (Action.LINK_REPEAT), which sets `repeat_of`.
    repeat_suggested: int | None = None
    interim: bool = False  # an interim answer was given; the final answer is pending
    draft_version: int = 0
    rework_reason: str = ""
    published_link: str = ""
    significant: bool = False  # reported to the head as socially significant (open sources п.17)
    declined_units: tuple[str, ...] = ()  # units that returned the message as not their competence
    received_at: datetime | None = None  # open sources: the hand-over's post time, when it differs from T0
    handed_over: bool = False  # open sources: handed over by the region curator (he hears how it ends)
    # Open sources: the ЦУР detection time is stated (by the hand-over itself or later, `set_detected`): T0 is final.
    detection_stated: bool = False
    proposed_order: tuple[str, ...] = ()  # open sources: the order of officials proposed with the routing
    pos_due: date | None = None  # ПОС: the due date ПОС shows, as the curator entered it
    rules_answer_due: datetime | None = (
        None  # ПОС: pos.answer by the Порядок, kept when ПОС's date is stricter
    )
    drafted_by: str = ""  # the name of the person who sent the current draft: he holds its rework
    closed_from: str = ""  # a closed case: the status it was closed in (a reopen returns it there)
    # Open sources, a ЦУР hand-over (registered, or attached to an item Otklik took in itself: workflow/handover.py):
    # the IM card's own number and who handed it over, shown on the card.
    cur_number: str = ""
    cur_curator: str = ""
    # п.15 / п.17 screening at intake (issue 13; the findings are in the registration event's data): "pending"
    # while the card asks a person to decide, "kept" once decided not to exclude; "" when nothing was found.
    screening: str = ""
    suggest_significant: bool = False  # screening saw a socially significant topic: the card suggests the report
    # A submitted draft the answer checks held (workflow/draft_review.py): its text and findings are in the
    # latest «draft_held» event until it is sent anyway, replaced by another draft, or withdrawn.
    draft_held: bool = False

    def assignment(self, unit: str) -> Assignment | None:
        return next((a for a in self.assignments if a.unit == unit), None)

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(a.unit for a in self.assignments)

    @property
    def responsible_unit(self) -> str | None:
        """The unit preparing the common answer (ПОС п.14.1); None before routing or while unnamed."""
        return next((a.unit for a in self.assignments if a.responsible), None)


@dataclass(frozen=True, slots=True)
class TermStart:
    """A term the transition opens. `unit` narrows the owner to one unit's people where it applies."""

    term_id: str
    due: datetime
    owner: Role
    started_at: datetime
    unit: str | None = None
    note: str = (
        ""  # Russian, shown with the term's title: why the term is what it is (e.g. a late co-executor)
    )
    person: str = ""  # the person holding it, where known


@dataclass(frozen=True, slots=True)
class TermStop:
    """A term the transition closes (met when done before or at its due instant).

    `met` forces the outcome of a done stop: a return-only term (RULES.md §6) ends met when the step that makes a
    return moot is done, whenever that is. `cancelled` marks a term whose step became moot rather than done (the
    alternative term was done, the case was closed or excluded, the unit declined or was taken off): it is
    neither met nor missed — unless it was already past due, for a miss is history (`keep_miss`; False for a
    return-only term, whose lapse is no miss).
    """

    term_id: str
    unit: str | None = None
    cancelled: bool = False
    met: bool | None = None
    keep_miss: bool = True


@dataclass(frozen=True, slots=True)
class TermHandover:
    """An open term passes to another holder (RULES.md §6, "who holds a term now").

    Matches the open terms `term_id` of `unit` (None: of any unit); sets the owing role, the unit and the
    person (empty: not known).
    """

    term_id: str
    owner: Role
    unit: str | None = None
    new_unit: str | None = None
    person: str = ""


@dataclass(frozen=True, slots=True)
class TermHolder:
    """Who held an open term (its row) before an action handed it over: what an undo puts back."""

    row_id: int
    owner: Role
    unit: str | None = None
    person: str = ""


@dataclass(frozen=True, slots=True)
class UndoState:
    """What one action changed, kept with its event so that the action can be undone (workflow.lifecycle).

    `case` is the case as it was before the action; `opened` the term rows the action opened (an undo cancels
    them), `closed` the rows it closed (an undo opens them again), `holders` the holders of the open terms
    before it (an undo hands them back). Nothing is deleted: the undo is an event of its own.
    """

    case: Case
    opened: tuple[int, ...] = ()
    closed: tuple[int, ...] = ()
    holders: tuple[TermHolder, ...] = ()


@dataclass(frozen=True, slots=True)
class TermRetime:
    """An open term moves to a new start and due: the T0 terms once the ЦУР detection time is stated later.

    Matches the open terms `term_id` that started at `was_started_at` (one re-opened since counts from its own
    instant and stays); their sent keys stay, the next attention instant follows the new due.
    """

    term_id: str
    was_started_at: datetime
    started_at: datetime
    due: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the append-only audit trail.

    `undo` is set on the events of actions that can be undone (what to put back); `id` is the stored row's id
    (0 before it is stored).
    """

    action: str
    actor_id: int
    actor_role: Role
    at: datetime
    text: str = ""
    data: dict[str, object] = field(default_factory=dict)
    undo: UndoState | None = None
    id: int = field(default=0, compare=False)  # the stored row's id; not part of what the event says


@dataclass(frozen=True, slots=True)
class Term:
    """An open or closed term as storage keeps it."""

    id: int
    case_id: int
    term_id: str
    owner: Role
    unit: str | None
    started_at: datetime
    due: datetime
    closed_at: datetime | None = None
    met: bool | None = None
    sent: frozenset[str] = frozenset()  # reminder / alert keys already recorded, e.g. "r50", "r80", "missed"
    note: str = ""
    person: str = ""


# The events a network item's own changes leave on its case (workflow/services/channels.py): the source's doing,
# not a step of the handling, so nothing to undo and no term restarts.
SOURCE_EDITED = "source_edited"
SOURCE_DELETED = "source_deleted"
SOURCE_RESTORED = "source_restored"
SOURCE_EVENTS = frozenset({SOURCE_EDITED, SOURCE_DELETED, SOURCE_RESTORED})
# A ЦУР hand-over attached to the case of an item already taken in (workflow/handover.py).
HANDED_OVER = "handed_over"


class ItemKind(StrEnum):
    """What a network event says about an item: it appeared, its author edited it, it went, it came back."""

    NEW = "new"
    EDIT = "edit"
    DELETE = "delete"
    RESTORE = "restore"


@dataclass(frozen=True, slots=True)
class ChannelItem:
    """One network item (a wall comment, a community message) as the domain sees it, whatever the transport.

    `key` is the natural key of CHANNELS.md (VK comment "{owner_id}_{comment_id}", VK message
    "dm:{peer_id}:{conversation_message_id}"): the case's source id, so an item seen again (a redelivered event,
    a reconciliation sweep) is one case. `thread` is what orders the items (a post, a conversation); `revision`
    tells two versions of one item apart. `seen_at` is when Otklik first saw it: T0 (RULES.md §2).
    """

    network: Network
    key: str
    kind: ItemKind
    seen_at: datetime
    text: str = ""
    author: str = ""
    author_id: int = 0
    link: str = ""
    attachments: tuple[Attachment, ...] = ()
    thread: str = ""
    revision: str = ""
    written_at: datetime | None = None  # the network's own date of the item, when it gives one
    deleted_by_author: bool | None = None  # a deletion: by its author (True) or by a moderator (False)
