"""The office head's daily digest and each person's morning digest as Telegram HTML, from the payload each was
queued with.

Everything from configuration or people (unit names, persons) is escaped here. The text never exceeds
Telegram's 4096 visible characters: each list stops where the budget ends and names the rest «…и ещё N».
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from views import texts
from views.cards import CardCalendar, due_at, owner_name, term_title
from views.html import TEXT_LIMIT, escape, visible_length
from workflow.lifecycle import Status
from workflow.model import Role
from workflow.rules import Rules

# Room kept for each list still to come (its header and a «…и ещё N» line) while an earlier one fills up.
_SECTION_RESERVE = 120


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _counts(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {str(k): _int(v) for k, v in value.items() if _int(v) > 0}


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _status_label(status: str) -> str:
    try:
        return Status(status).label
    except ValueError:
        return status


def _term_line(
    item: object,
    *,
    approval: bool,
    calendar: CardCalendar,
    rules: Rules,
    units: Mapping[str, str],
    now: datetime,
) -> str | None:
    if not isinstance(item, dict):
        return None
    due = _instant(item.get("due"))
    case, term_id, owner = item.get("case"), item.get("term"), item.get("owner")
    if due is None or not isinstance(case, int) or not isinstance(term_id, str):
        return None
    title = escape(term_title(term_id, rules))
    when = escape(due_at(due, calendar, now))
    if approval:
        return texts.DIGEST_APPROVAL_LINE_HTML.format(case=case, due=when, title=title)
    try:
        role = Role(str(owner))
    except ValueError:
        return None
    unit, person = item.get("unit"), item.get("person")
    who = owner_name(
        role, unit if isinstance(unit, str) else None, units, person if isinstance(person, str) else ""
    )
    return texts.DIGEST_TERM_LINE_HTML.format(case=case, due=when, title=title, owner=escape(who))


def _day_and_read_at(payload: Mapping[str, object], now: datetime) -> tuple[str, datetime]:
    """The digest's day as «ДД.ММ.ГГГГ» («—» if unreadable) and the instant its figures were read at."""
    try:
        day = date.fromisoformat(str(payload.get("day"))).strftime("%d.%m.%Y")
    except ValueError:
        day = "—"
    return day, _instant(payload.get("read_at")) or now


def render_digest(
    payload: Mapping[str, object],
    *,
    calendar: CardCalendar,
    rules: Rules,
    units: Mapping[str, str],
    now: datetime,
    text_limit: int = TEXT_LIMIT,
) -> str:
    """The digest: new cases by procedure, open ones by status, today's terms, overdue ones, his approvals."""
    day, read_at = _day_and_read_at(payload, now)
    since_at = _instant(payload.get("since"))
    since = escape(due_at(since_at, calendar, read_at)) if since_at is not None else "—"
    lines = [texts.DIGEST_TITLE_HTML.format(day=escape(day)), ""]
    new = _counts(payload.get("new"))
    if new:
        lines.append(texts.DIGEST_NEW_HTML.format(since=since, total=sum(new.values())))
        lines += [
            texts.DIGEST_NEW_PART_HTML.format(procedure=escape(texts.DIGEST_PROCEDURES.get(p, p)), count=n)
            for p, n in new.items()
        ]
    else:
        lines.append(texts.DIGEST_NEW_NONE_HTML.format(since=since))
    opened = _counts(payload.get("open"))
    if opened:
        lines.append(texts.DIGEST_OPEN_HTML.format(total=sum(opened.values())))
        lines += [
            texts.DIGEST_STATUS_LINE_HTML.format(status=escape(_status_label(s)), count=n)
            for s, n in opened.items()
        ]
    else:
        lines.append(texts.DIGEST_OPEN_NONE)
    sections = [
        ("due_today", texts.DIGEST_DUE_TODAY_HTML, False),
        ("overdue", texts.DIGEST_OVERDUE_HTML, False),
        ("approvals", texts.DIGEST_APPROVALS_HTML, True),
    ]
    _add_sections(lines, payload, sections, calendar=calendar, rules=rules, units=units, now=read_at,
                  text_limit=text_limit)  # fmt: skip
    return "\n".join(lines)


def _add_sections(
    lines: list[str],
    payload: Mapping[str, object],
    sections: list[tuple[str, str, bool]],
    *,
    calendar: CardCalendar,
    rules: Rules,
    units: Mapping[str, str],
    now: datetime,
    text_limit: int,
) -> None:
    """The term lists of a digest, appended to `lines` within the messenger's budget (`text_limit`): (payload key, header, lines
    without an owner)."""
    used = sum(visible_length(line) + 1 for line in lines)
    for index, (key, header, approval) in enumerate(sections):
        page = payload.get(key)
        items = page.get("items") if isinstance(page, dict) else None
        total = _int(page.get("total")) if isinstance(page, dict) else 0
        if not total or not isinstance(items, list):
            continue
        block = ["", header.format(total=total)]
        used += sum(visible_length(line) + 1 for line in block)
        reserve = _SECTION_RESERVE * (len(sections) - index)  # this list's tail and the lists after it
        shown = 0
        for item in items:
            line = _term_line(item, approval=approval, calendar=calendar, rules=rules, units=units, now=now)
            if line is None:
                continue
            cost = visible_length(line) + 1
            if used + cost + reserve > text_limit:
                break
            block.append(line)
            used += cost
            shown += 1
        if total > shown:
            more = texts.DIGEST_MORE_HTML.format(count=total - shown)
            block.append(more)
            used += visible_length(more) + 1
        lines += block


def render_morning(
    payload: Mapping[str, object],
    *,
    calendar: CardCalendar,
    rules: Rules,
    units: Mapping[str, str],
    now: datetime,
    text_limit: int = TEXT_LIMIT,
) -> str:
    """A person's morning digest: his terms due today, then those overdue (no owner: they are his)."""
    day, read_at = _day_and_read_at(payload, now)
    lines = [texts.MORNING_TITLE_HTML.format(day=escape(day))]
    sections = [
        ("due_today", texts.MORNING_DUE_TODAY_HTML, True),
        ("overdue", texts.MORNING_OVERDUE_HTML, True),
    ]
    _add_sections(lines, payload, sections, calendar=calendar, rules=rules, units=units, now=read_at,
                  text_limit=text_limit)  # fmt: skip
    return "\n".join(lines)
