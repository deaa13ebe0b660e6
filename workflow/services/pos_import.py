"""Registering the rows of a ПОС export file (issue 12): each through the same `register` as the /pos dialogue.

The key is the ПОС number (source POS, source id = number), so a second import of the same file, or a row the
curator already typed into /pos, registers nothing. A number already known with another text is not taken as
the same message: it is reported as a possible repeat for a person to look at, never registered twice.

A row whose ПОС category the table does not know was registered in the strictest class; the ПОС curator is told
through the outbox under a key naming the case, so an import cut short and run again tells once, not twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from workflow.lifecycle import clean_text
from workflow.model import Actor, DomainError, InboundMessage
from workflow.pos_categories import unknown_category_notice
from workflow.services.cases import CaseUseCases

# The notice kind the ПОС curator gets for a row of an unknown category (views/cards.py renders it).
POSSIBLE_REPEAT = "возможно, повтор: ПОС № {number} уже зарегистрирован (сообщение № {case_id}) с другим текстом"


@dataclass(frozen=True)
class ImportItem:
    """A row read from the file: the message it becomes, and its category name as ПОС wrote it."""

    line: int  # the row's number in the file, as a spreadsheet shows it
    message: InboundMessage
    category_name: str | None
    category_known: bool


@dataclass(frozen=True)
class Refusal:
    line: int
    reason: str  # Russian, one line


@dataclass
class ImportReport:
    registered: list[tuple[int, int]] = field(default_factory=list)  # (line, case id)
    known: list[tuple[int, int]] = field(default_factory=list)  # the same number and text: already there
    refused: list[Refusal] = field(default_factory=list)
    unknown_category: list[tuple[int, str, int]] = field(default_factory=list)  # (line, name, case id)


def same_text(a: str, b: str) -> bool:
    """Texts compared as the case keeps them, blanks aside: a re-export that rewraps lines is the same text."""
    return " ".join(clean_text(a).split()) == " ".join(clean_text(b).split())


async def import_items(
    cases: CaseUseCases, items: Sequence[ImportItem | Refusal], actor: Actor
) -> ImportReport:
    """Register every item, in file order; a refusal read from the file is reported as it is."""
    report = ImportReport()
    for item in items:
        if isinstance(item, Refusal):
            report.refused.append(item)
            continue
        await _import_one(cases, item, actor, report)
    report.refused.sort(key=lambda r: r.line)
    return report


async def _import_one(cases: CaseUseCases, item: ImportItem, actor: Actor, report: ImportReport) -> None:
    message = item.message
    # Looked up first in a read-only transaction: a re-import of a big file takes no write lock per row (on
    # SQLite it would queue behind the running bot's writes for nothing).
    async with cases.repo.reading() as tx:
        existing = await tx.find_case_by_source(message.source.value, message.source_id)
        kept = await tx.get_message(existing) if existing is not None else None
        case = await tx.get_case(existing) if existing is not None else None
    if existing is not None and kept is not None and case is not None:
        if not same_text(kept.text, message.text):
            reason = POSSIBLE_REPEAT.format(number=message.source_id, case_id=existing)
            report.refused.append(Refusal(item.line, reason))
            return
        created = False
    else:
        try:
            outcome = await cases.register(message, actor)
        except DomainError as exc:
            report.refused.append(Refusal(item.line, f"ПОС № {message.source_id}: {exc.message}"))
            return
        case, created = outcome.case, outcome.created
    (report.registered if created else report.known).append((item.line, case.id))
    # A case already there is told about only while it still has the fallback class: one a person registered
    # through /pos with a class of their choosing is not second-guessed by the file's unknown name.
    if not item.category_known and (created or case.category == message.category):
        report.unknown_category.append((item.line, item.category_name or "", case.id))
        await _tell_unknown_category(cases, item, case.id)


async def _tell_unknown_category(cases: CaseUseCases, item: ImportItem, case_id: int) -> None:
    """The ПОС curator hears which name fell back to which class; queued again on a re-import, kept once."""
    notice = unknown_category_notice(case_id, item.category_name, item.message.category or "", cases.clock.now())
    async with cases.repo.transaction() as tx:
        queued = await tx.enqueue([notice])
    if queued:
        await cases._wake([case_id], [notice])
