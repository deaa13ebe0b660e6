"""Case cards and notification texts, in Telegram HTML.

Everything that came from a person (citizen text, author, link, drafts, reasons, unit names from config) is
escaped here and nowhere else; the card is trimmed so it never exceeds the messenger's limit: `text_limit`,
Telegram's 4,096 characters unless the sender says otherwise (MAX: 4,000), taken from the sender by bot/delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from aiogram.types import InlineKeyboardMarkup

from views import texts
from views.durations import DurationCalendar, remaining_text
from views.html import TEXT_LIMIT, escape, escape_trimmed, utf16_len, visible_length
from views.keyboards import chat_actor, view_keyboard
from views.privacy import NO_MASKING, Privacy
from workflow.draft_review import DRAFT_HELD, checks_of, submitted_checks
from workflow.intake_review import ground_line, point, quoted, screen_note
from workflow.lifecycle import (
    REGISTER,
    ROLE_NAMES,
    SCREEN_KEPT,
    SCREEN_PENDING,
    UNDO,
    Action,
    NoticeKind,
    Status,
    available_actions,
)
from workflow.model import (
    SOURCE_DELETED,
    SOURCE_EVENTS,
    Case,
    Event,
    InboundMessage,
    Procedure,
    Role,
    Source,
)
from workflow.ports import (
    ACTIVE_PUBLICATION,
    DELIVERY_FAILED,
    FAILED,
    INTERIM_ANSWER,
    PUBLISHED,
    UNCLEAR,
    UNDELIVERABLE,
    Notification,
    Publication,
)
from workflow.pos_categories import UNKNOWN_CATEGORY
from workflow.rules import Rules, RulesError
from workflow.services.clusters import SPIKE, SPIKE_GREW
from workflow.services.pos_mail import POS_MAIL_REPEAT, POS_MAIL_UNPARSED
from workflow.services.publishing import current_publication
from workflow.services.queries import CardView

HISTORY_LINES = 5
REASON_IN_HISTORY = 200
NOTE_TEXT_LIMIT = 1000


class CardCalendar(DurationCalendar, Protocol):
    pass


def local(at: datetime, calendar: CardCalendar) -> str:
    return at.astimezone(calendar.tz).strftime("%d.%m.%Y %H:%M")


def due_at(at: datetime, calendar: CardCalendar, now: datetime) -> str:
    """An instant to be met, absolute and short: «03.12 15:30» this year, «11.01.2027 17:00» in another."""
    here = at.astimezone(calendar.tz)
    if here.year == now.astimezone(calendar.tz).year:
        return here.strftime("%d.%m %H:%M")
    return here.strftime("%d.%m.%Y %H:%M")


def time_left(due: datetime, now: datetime, calendar: CardCalendar) -> str:
    """«осталось 1 ч 20 мин рабочего времени» / «осталось 6 раб. дн. 3 ч» / «просрочено на …»."""
    return remaining_text(now, due, calendar)


def term_title(term_id: str, rules: Rules) -> str:
    try:
        return rules.term(term_id).title
    except RulesError:
        return term_id


def owner_name(role: Role, unit: str | None, units: Mapping[str, str], person: str = "") -> str:
    name = ROLE_NAMES.get(role, role.value)
    name = f"{name} ({units.get(unit, unit)})" if unit else name
    return f"{name}, {person}" if person else name


def _names(value: object, units: Mapping[str, str]) -> str:
    codes = [u for u in value if isinstance(u, str)] if isinstance(value, list) else []
    return ", ".join(units.get(u, u) for u in codes)


def history_what(event: Event, units: Mapping[str, str], procedure: Procedure | None = None) -> str:
    """What the event did, in the past: «предложено направить в ЖКХ», «проект ответа согласован (версия 2)»."""
    data = event.data
    if event.action == UNDO:
        return texts.HISTORY_UNDONE.format(what=data.get("undone_label", ""))
    key = event.action
    if procedure is Procedure.POS and f"{key}:pos" in texts.HISTORY_PHRASES:
        key = f"{key}:pos"
    if data.get("kind") == INTERIM_ANSWER and f"{key}:interim" in texts.HISTORY_PHRASES:
        key = f"{key}:interim"
    template = texts.HISTORY_PHRASES.get(key)
    if template is None:
        return event.action
    version = data.get("draft_version")
    what = template.format(units=_names(data.get("units"), units), version=version if version else "—")
    order = _names(data.get("order"), units)
    if order and event.action == Action.APPROVE_ROUTING:
        what += texts.HISTORY_ORDER.format(order=order)
    responsible = data.get("responsible")
    routed = data.get("units")
    if isinstance(responsible, str) and isinstance(routed, list) and len(routed) > 1:
        what += texts.HISTORY_RESPONSIBLE.format(unit=units.get(responsible, responsible))
    note = screen_note([event]) if event.action == REGISTER else None
    if note is not None and note.flagged:
        grounds = "; ".join(ground_line(flag, words) for flag, words in note.grounds)
        what += texts.HISTORY_SCREENED.format(point=point(procedure or Procedure.OPEN_SOURCES), grounds=grounds)
    if event.action == Action.SUBMIT and data.get("anyway") is True:
        what += texts.HISTORY_SENT_ANYWAY
    found = checks_of(event) if event.action == DRAFT_HELD else ()
    if found:
        what += ": " + "; ".join(f.text[:1].lower() + f.text[1:].rstrip(".") for f in found)
    earlier = data.get("repeat_of")
    if event.action == Action.LINK_REPEAT and isinstance(earlier, int):
        what += texts.HISTORY_REPEAT_OF.format(case_id=earlier)
    return what


def check_lines(view: CardView) -> list[str]:
    """What Otklik's checks say on the card (issue 13): the screening's warning or its decision, a suggested
    report to the head, a draft held by the answer checks. Plain text, to be escaped."""
    case = view.case
    if Status(case.status).final:
        return []
    lines: list[str] = []
    note = screen_note(view.events)
    where = point(case.procedure)
    if note is not None and case.screening == SCREEN_PENDING:
        lines += [texts.CARD_SCREEN_WARNING.format(point=where, ground=ground_line(f, w)) for f, w in note.grounds]
    elif case.screening == SCREEN_KEPT:
        lines.append(texts.CARD_SCREEN_KEPT.format(point=where))
    if note is not None and note.significant and case.suggest_significant and not case.significant:
        template = texts.CARD_SCREEN_SIGNIFICANT if case.procedure is Procedure.POS else texts.CARD_SCREEN_SIGNIFICANT_OS
        lines.append(template.format(words=quoted(note.significant)))
    if case.draft_held:
        held = next((e for e in reversed(view.events) if e.action == DRAFT_HELD), None)
        found = "; ".join(f.text.rstrip(".") for f in checks_of(held))
        lines.append(texts.CARD_DRAFT_HELD.format(findings=found))
    return lines


def approval_checks(view: CardView) -> list[str]:
    """«Проверка проекта ответа:» and its findings, on the card of a draft waiting for approval (HTML)."""
    if view.case.status != Status.ON_APPROVAL.value:
        return []
    found = submitted_checks(view.events)
    if not found:
        return []
    return [texts.CARD_CHECKS_HTML, *(escape(texts.CARD_CHECK.format(text=f.text)) for f in found)]


def history_who(event: Event, units: Mapping[str, str]) -> str:
    """The person and the role they acted in (with the unit for a unit's own step): «Сергей Кузнецов, должностное
    лицо подразделения (ЖКХ)»; the role alone, capitalised, where the event names nobody."""
    role = ROLE_NAMES.get(event.actor_role, event.actor_role.value)
    unit = event.data.get("unit")
    if isinstance(unit, str) and unit and event.actor_role in (Role.UNIT_OFFICIAL, Role.EXECUTOR):
        role = f"{role} ({units.get(unit, unit)})"
    by = event.data.get("by")
    if isinstance(by, str) and by:
        return texts.HISTORY_WHO.format(name=by, role=role)
    return role[:1].upper() + role[1:]


def history_lines(
    events: list[Event],
    calendar: CardCalendar,
    limit: int | None = HISTORY_LINES,
    *,
    units: Mapping[str, str] | None = None,
    procedure: Procedure | None = None,
) -> list[str]:
    names = units or {}
    chosen = events if limit is None else events[-limit:]
    lines = []
    for event in chosen:
        line = texts.CARD_HISTORY_LINE.format(
            at=local(event.at, calendar),
            who=history_who(event, names),
            what=history_what(event, names, procedure),
        )
        reason = event.data.get("reason")
        if isinstance(reason, str) and reason:
            short = reason if len(reason) <= REASON_IN_HISTORY else reason[:REASON_IN_HISTORY] + texts.TRIMMED
            line += f": {short}"
        lines.append(escape(line))
    return lines


def source_name(case: Case, message: InboundMessage) -> str:
    """«от куратора ЦУР, ВКонтакте», «Одноклассники», «ПОС»: who handed it over and where it was published."""
    names: list[str] = []
    if case.handed_over:
        names.append(texts.CARD_SOURCE_HANDED_OVER)
    if message.network is not None:
        names.append(texts.NETWORK_NAMES.get(message.network.value, message.network.value))
    elif message.source not in (Source.INTAKE, Source.REGION_CURATOR):
        names.append(texts.SOURCE_NAMES.get(message.source.value, message.source.value))
    return ", ".join(names) or texts.SOURCE_NAMES.get(message.source.value, message.source.value)


def direct_message(message: InboundMessage) -> bool:
    """Whether the item is a message written to the administration, not a comment: VK's "dm:" keys, and
    Telegram's "{chat_id}:{message_id}" of a private chat (a person's id is positive, a group's negative)."""
    if message.source_id.startswith("dm:"):
        return True
    chat = message.source_id.split(":", 1)[0]
    return message.source is Source.TELEGRAM and chat.isdigit()


def source_state(events: list[Event], message: InboundMessage) -> tuple[str, str | None]:
    """The card's line about the network item's last change (edited, deleted by whom, restored) and the text
    it has now (None: as registered); ("", None) when the source never changed."""
    last = next((e for e in reversed(events) if e.action in SOURCE_EVENTS), None)
    if last is None:
        return "", None
    what = "message" if direct_message(message) else "comment"
    key = f"{last.action}:{what}"
    if last.action == SOURCE_DELETED:
        key += ":author" if last.data.get("by_author") is True else ":moderator"
    text = next(
        (e.text for e in reversed(events) if e.action in SOURCE_EVENTS and e.action != SOURCE_DELETED), None
    )
    return texts.CARD_SOURCE_STATE.get(key, ""), text


def _units_line(case: Case, units: Mapping[str, str]) -> str:
    parts = []
    for a in case.assignments:
        name = units.get(a.unit, a.unit)
        if a.responsible and len(case.assignments) > 1:
            name += texts.CARD_RESPONSIBLE_MARK
        if a.accepted:
            name += texts.CARD_ACCEPTED_MARK
        parts.append(name)
    return escape(", ".join(parts))


def render_card(
    view: CardView,
    chat_roles: set[Role],
    chat_units: set[str],
    *,
    calendar: CardCalendar,
    rules: Rules,
    units: Mapping[str, str],
    now: datetime,
    privacy: Privacy = NO_MASKING,
    text_limit: int = TEXT_LIMIT,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The card as `chat_roles`/`chat_units` see it: HTML text (≤ `text_limit` visible characters) and the
    chat's buttons; with `privacy` masking, no author's identity (views/privacy.py)."""
    view = privacy.view(view)
    case, message = view.case, view.message
    head: list[str] = [
        texts.CARD_TITLE_HTML.format(
            case_id=case.id, procedure=escape(texts.PROCEDURE_NAMES.get(case.procedure.value, case.procedure))
        )
    ]
    if message is not None:
        head.append(escape(texts.CARD_SOURCE.format(source=source_name(case, message))))
        if message.external_number:
            head.append(escape(texts.CARD_POS_NUMBER.format(number=message.external_number)))
        if message.author:
            head.append(escape(texts.CARD_AUTHOR.format(author=message.author)))
        if message.link:
            head.append(escape(texts.CARD_LINK.format(link=message.link)))
    if case.cur_number:
        head.append(escape(texts.CARD_CUR_CARD.format(number=case.cur_number)))
    if case.cur_curator:
        head.append(escape(texts.CARD_CUR_CURATOR.format(curator=case.cur_curator)))
    if case.category:
        title = rules.categories[case.category].title if case.category in rules.categories else case.category
        head.append(escape(texts.CARD_CATEGORY.format(category=title)))
    if case.received_at is not None:  # a hand-over detected by ЦУР earlier than it was posted here
        head.append(escape(texts.CARD_DETECTED.format(at=local(case.t0, calendar))))
        head.append(escape(texts.CARD_RECEIVED_ADMIN.format(at=local(case.received_at, calendar))))
    else:
        head.append(escape(texts.CARD_RECEIVED.format(at=local(case.t0, calendar))))
    if case.pos_due is not None and case.rules_answer_due is not None:
        pos_due, by_rules = case.pos_due.strftime("%d.%m.%Y"), local(case.rules_answer_due, calendar)
        head.append(escape(texts.CARD_POS_DUE.format(pos=pos_due, rules=by_rules)))
    if case.repeat_of is not None:
        head.append(escape(texts.CARD_REPEAT.format(case_id=case.repeat_of)))
    elif case.repeat_suggested is not None and not Status(case.status).final:
        head.append(escape(texts.CARD_REPEAT_SUGGESTED.format(case_id=case.repeat_suggested)))
    if message is not None and message.attachments:
        head.append(escape(texts.CARD_ATTACHMENTS.format(count=len(message.attachments))))
        for failed in message.attachments:
            if failed.kind == UNFETCHED:  # a network item's file its URL no longer gave (bot/channel_files.py)
                head.append(escape(texts.CARD_ATTACHMENT_FAILED.format(reason=failed.name or "?")))
    state, current_text = source_state(view.events, message) if message is not None else ("", None)
    if state:
        last_at = next(e.at for e in reversed(view.events) if e.action in SOURCE_EVENTS)
        head.append(escape(state.format(at=local(last_at, calendar))))

    tail: list[str] = ["", texts.CARD_STATUS_HTML.format(status=escape(Status(case.status).label))]
    tail += [escape(line) for line in check_lines(view)]
    if case.significant:
        tail.append(escape(texts.CARD_SIGNIFICANT))
    if case.assignments:
        tail.append(texts.CARD_UNITS_HTML.format(units=_units_line(case, units)))
    if case.proposed_units:
        names = ", ".join(units.get(u, u) for u in case.proposed_units)
        tail.append(texts.CARD_PROPOSED_HTML.format(units=escape(names)))
    # A return-only term past due is no overdue: the message counts as accepted (RULES.md §6).
    shown_terms = [t for t in view.open_terms if not rules.lapsed_silently(t.term_id, t.due, now)]
    if shown_terms:
        # The remaining times are as of this rendering; the card is refreshed at every change, reminder and miss.
        tail.append(texts.CARD_TERMS_HTML.format(at=escape(due_at(now, calendar, now))))
        for term in shown_terms:
            title = term_title(term.term_id, rules)
            line = texts.CARD_TERM.format(
                title=f"{title} ({term.note})" if term.note else title,
                owner=owner_name(term.owner, term.unit, units, term.person),
                due=due_at(term.due, calendar, now),
                left=time_left(term.due, now, calendar),
            )
            tail.append(escape(line))
    if case.rework_reason:
        tail.append(texts.CARD_REWORK_HTML.format(reason=escape(case.rework_reason[:500])))
    if case.published_link:
        tail.append(escape(texts.CARD_LINK_PUBLISHED.format(link=case.published_link)))
    publication = current_publication(case, view.publication)
    if publication is not None and publication.state != PUBLISHED:
        line = publication_line(publication, calendar, now)
        if line:
            tail.append(escape(line))
    hint = _reply_hint(case, chat_roles, chat_units)
    history = history_lines(view.events, calendar, units=units, procedure=case.procedure)
    after_draft: list[str] = []
    if history:
        after_draft += ["", texts.CARD_HISTORY_HTML, *history]
    checks = approval_checks(view)
    if checks:  # last, right above «Согласовать»
        after_draft += ["", *checks]
    if hint:
        after_draft += ["", escape(hint)]

    keyboard = view_keyboard(view, chat_roles, chat_units)
    message_text = message.text if message is not None else ""
    if current_text is not None:  # the citizen edited it: the card shows the text as it is now
        message_text = current_text
    draft = view.draft or ""
    draft_head = texts.CARD_DRAFT_HTML.format(version=case.draft_version) if draft else ""

    def assemble(body: str, draft_body: str) -> str:
        parts = [*head, "", body, *tail]
        if draft_head:
            parts += ["", draft_head, draft_body]
        parts += after_draft
        return "\n".join(parts)

    budget = max(0, text_limit - visible_length(assemble("", "")) - 2)
    body_q, draft_q = escape(message_text), escape(draft)
    body_len, draft_len = utf16_len(message_text), utf16_len(draft)
    if body_len + draft_len > budget:
        # Both texts share what is left; each keeps at least half of it when the other needs more.
        draft_budget = min(draft_len, max(budget - body_len, budget // 2))
        draft_q = escape_trimmed(draft, draft_budget)
        body_q = escape_trimmed(message_text, budget - visible_length(draft_q))
    return assemble(body_q, draft_q), keyboard


def publication_line(publication: Publication, calendar: CardCalendar, now: datetime) -> str:
    """What the card says about the answer's way to its network: on its way, waiting to retry, failed, or to be
    posted by hand; nothing once published (the card shows the link)."""
    network = texts.NETWORK_IN.get(publication.network.value, publication.network.value)
    reason = publication.error
    if publication.state in ACTIVE_PUBLICATION:
        interim = publication.kind == INTERIM_ANSWER
        if publication.next_at is not None and publication.next_at > now and reason:
            at = due_at(publication.next_at, calendar, now)
            retry = texts.CARD_INTERIM_RETRY if interim else texts.CARD_PUBLICATION_RETRY
            return retry.format(network=network, at=at, reason=reason)
        pending = texts.CARD_INTERIM_PENDING if interim else texts.CARD_PUBLICATION_PENDING
        return pending.format(network=network)
    if publication.state == FAILED:
        return texts.CARD_PUBLICATION_FAILED.format(network=network, reason=reason)
    if publication.state == UNCLEAR:
        return texts.CARD_PUBLICATION_UNCLEAR.format(reason=reason)
    if publication.state == UNDELIVERABLE:
        return texts.CARD_PUBLICATION_UNDELIVERABLE.format(network=network, reason=reason.rstrip("."))
    return ""


def _reply_hint(case: Case, roles: set[Role], units: set[str]) -> str:
    """Tell the chat it can answer by replying to the card (INFO / SUBMIT have no buttons)."""
    actions = available_actions(case, chat_actor(roles, units))
    if Action.SUBMIT in actions:
        return texts.CARD_HINT_REPLY.format(what=texts.CARD_HINT_DRAFT)
    if Action.INFO in actions:
        return texts.CARD_HINT_REPLY.format(what=texts.CARD_HINT_INFO)
    return ""


def render_history(
    view: CardView,
    calendar: CardCalendar,
    *,
    units: Mapping[str, str] | None = None,
    privacy: Privacy = NO_MASKING,
    text_limit: int = TEXT_LIMIT,
) -> str:
    """The whole audit trail of a case (for /case N), trimmed to the newest lines that fit one message."""
    view = privacy.view(view)
    title = texts.HISTORY_TITLE_HTML.format(case_id=view.case.id)
    lines = history_lines(view.events, calendar, limit=None, units=units, procedure=view.case.procedure)
    while lines and visible_length("\n".join([title, *lines])) > text_limit:
        lines = lines[1:]
    return "\n".join([title, *lines])


# A network item's attachment that could not be fetched: its `name` is the reason (bot/channel_files.py).
UNFETCHED = "unfetched"
# The kinds of the office head's notices about a citizens' network (bot/channel_health.py).
CHANNEL_DOWN = "channel_down"
CHANNEL_RESTORED = "channel_restored"


def render_channel_health(n: Notification, calendar: CardCalendar) -> str:
    """«ВКонтакте не читается с …» / «… чтение восстановлено»: times from the payload, local."""
    p = n.payload
    channel = str(p.get("channel") or "")
    name = escape(texts.CHANNEL_NAMES.get(channel, channel))

    def when(key: str) -> str:
        raw = p.get(key)
        try:
            return escape(local(datetime.fromisoformat(str(raw)), calendar))
        except ValueError:
            return "?"

    if n.kind == CHANNEL_DOWN:
        return texts.NOTE_CHANNEL_DOWN_HTML.format(channel=name, since=when("since"))
    return texts.NOTE_CHANNEL_RESTORED_HTML.format(channel=name, since=when("since"), until=when("until"))


def _window_text(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours} ч" if hours and not rest else f"{minutes} мин"


def render_spike(n: Notification, calendar: CardCalendar, text_limit: int = TEXT_LIMIT) -> str:
    """The head's report of a cluster of similar messages: how many over which window, the address and subject,
    each case listed (number, time, the start of its text); a «grew» notice lists the members that joined since the last one."""
    p = n.payload
    raw_count, raw_minutes = p.get("count"), p.get("minutes")
    count = raw_count if isinstance(raw_count, int) else 0
    minutes = raw_minutes if isinstance(raw_minutes, int) else 0
    if n.kind == SPIKE:
        lines = [texts.NOTE_SPIKE_HTML.format(count=count, window=escape(_window_text(minutes)))]
    else:
        listed_now, more = p.get("cases"), p.get("more")
        new = (len(listed_now) if isinstance(listed_now, list) else 0) + (more if isinstance(more, int) else 0)
        grew = texts.NOTE_SPIKE_GREW_MANY_HTML if new > 1 else texts.NOTE_SPIKE_GREW_HTML
        lines = [grew.format(count=count, new=new)]
    address, subject = p.get("address"), p.get("topic")
    if isinstance(address, str) and address:
        lines.append(escape(texts.NOTE_SPIKE_ADDRESS.format(address=address)))
    if isinstance(subject, list) and subject:
        lines.append(escape(texts.NOTE_SPIKE_TOPIC.format(topic=", ".join(str(w) for w in subject))))
    listed = p.get("cases")
    for item in listed if isinstance(listed, list) else []:
        if not isinstance(item, dict):
            continue
        try:
            when = datetime.fromisoformat(str(item.get("at"))).astimezone(calendar.tz).strftime("%H:%M")
        except ValueError:
            when = "?"
        line = texts.NOTE_SPIKE_CASE.format(case_id=item.get("id"), at=when, text=str(item.get("text") or ""))
        lines.append(escape(line))
    more = p.get("more")
    if isinstance(more, int) and more > 0:
        lines.append(escape(texts.NOTE_SPIKE_MORE.format(count=more)))
    text = "\n".join(lines)
    if visible_length(text) > text_limit:
        text = lines[0]
    return text


POS_MAIL_KINDS = frozenset({POS_MAIL_UNPARSED, POS_MAIL_REPEAT, UNKNOWN_CATEGORY})


def render_pos_mail(n: Notification, rules: Rules) -> str:
    """The ПОС curator's notices about notification e-mails (workflow/services/pos_mail.py); all text escaped."""
    p = n.payload
    if n.kind == POS_MAIL_UNPARSED:
        problems = p.get("problems")
        lines = [f"• {escape(str(x))}" for x in problems] if isinstance(problems, list) else []
        raw = escape(str(p.get("raw") or ""))
        if p.get("cut"):
            raw += escape(texts.POS_MAIL_RAW_CUT)
        return texts.POS_MAIL_UNPARSED_HTML.format(
            problems="\n".join(lines), subject=escape(str(p.get("subject") or "—")),
            sender=escape(str(p.get("sender") or "—")), raw=raw,
        )  # fmt: skip
    if n.kind == POS_MAIL_REPEAT:
        return texts.POS_MAIL_REPEAT_HTML.format(number=escape(str(p.get("number") or "")),
                                                 text=escape(str(p.get("text") or "")))  # fmt: skip
    class_id = str(p.get("class_id") or "")
    title = rules.categories[class_id].title if class_id in rules.categories else class_id
    return texts.POS_CATEGORY_UNKNOWN_HTML.format(
        category=escape(str(p.get("category") or texts.POS_CATEGORY_NONE)), title=escape(title)
    )


def render_notification(
    n: Notification,
    view: CardView | None,
    *,
    calendar: CardCalendar,
    rules: Rules,
    units: Mapping[str, str],
    now: datetime,
    privacy: Privacy = NO_MASKING,
    text_limit: int = TEXT_LIMIT,
) -> str:
    """A reminder, a missed-term alert or a notice of a lifecycle step, as HTML (≤ `text_limit` visible
    characters); with `privacy` masking, no author's identity (views/privacy.py)."""
    n = privacy.notification(n, view)
    view = privacy.view_or_none(view)
    lines: list[str] = []
    due = _due_of(n)
    title = term_title(n.term_id, rules) if n.term_id else ""
    if n.kind in (CHANNEL_DOWN, CHANNEL_RESTORED):
        return render_channel_health(n, calendar)
    if n.kind in POS_MAIL_KINDS:
        return render_pos_mail(n, rules)
    if n.kind in (SPIKE, SPIKE_GREW):
        return render_spike(n, calendar, text_limit)
    if n.kind == DELIVERY_FAILED:
        return "\n".join(
            [texts.NOTE_DELIVERY_FAILED_HTML, *(escape(line) for line in _failure_lines(n, units))]
        )
    if n.kind == "reminder":
        left = time_left(due, now, calendar) if due else ""
        lines.append(
            texts.NOTE_REMINDER_HTML.format(
                title=escape(title),
                owner=escape(_holder_of(n, rules, units)),
                due=escape(due_at(due, calendar, now) if due else "—"),
                left=escape(left),
            )
        )
    elif n.kind == "missed":
        owner = _holder_of(n, rules, units)
        lines.append(
            texts.NOTE_MISSED_HTML.format(
                title=escape(title),
                owner=escape(owner),
                due=escape(due_at(due, calendar, now) if due else "—"),
            )
        )
    else:
        try:
            label = NoticeKind(n.kind).label
        except ValueError:
            label = texts.PUBLICATION_NOTICES.get(n.kind, n.kind)
        lines.append(texts.NOTE_NOTICE_HTML.format(label=escape(label)))
        if n.kind in texts.PUBLICATION_NOTICES:
            lines += [escape(line) for line in _publication_details(n)]
        else:
            lines += [escape(line) for line in _notice_details(n, units)]
        if n.kind == NoticeKind.SIGNIFICANT and view is not None and view.message is not None:
            # The head has no card of the case: the report carries the message itself.
            lines += [escape(line) for line in _message_excerpt(view.message)]
    if n.case_id is not None:
        lines.append(escape(texts.NOTE_CASE.format(case_id=n.case_id)))
    text = "\n".join(lines)
    if visible_length(text) > text_limit:
        text = lines[0] if visible_length(lines[0]) <= text_limit else escape(texts.TRIMMED)
    return text


def _holder_of(n: Notification, rules: Rules, units: Mapping[str, str]) -> str:
    """Who holds the reminded or missed term: role, unit and person (RULES.md §6), for everyone told."""
    if not n.term_id:
        return ""
    try:
        term_unit = n.unit or n.payload.get("term_unit")
        unit = term_unit if isinstance(term_unit, str) else None
        holder = n.payload.get("holder")
        role = Role(holder) if isinstance(holder, str) else rules.term(n.term_id).owner
    except (RulesError, ValueError):
        return ""
    person = n.payload.get("person")
    return owner_name(role, unit, units, person if isinstance(person, str) else "")


def _notice_details(n: Notification, units: Mapping[str, str]) -> list[str]:
    p = n.payload
    details: list[str] = []
    unit = p.get("unit")
    if isinstance(unit, str) and unit:
        details.append(texts.NOTE_UNIT.format(unit=units.get(unit, unit)))
    if p.get("responsible") is True and n.kind == NoticeKind.ROUTED:
        details.append(texts.NOTE_RESPONSIBLE)
    order, of = p.get("order"), p.get("of")
    if isinstance(order, int) and isinstance(of, int) and of > 1:
        details.append(texts.NOTE_ORDER.format(order=order, of=of))
        if p.get("turn") is False:
            details.append(texts.NOTE_WAIT_TURN)
    link = p.get("link")
    if isinstance(link, str) and link and n.kind in (NoticeKind.ANSWER_PUBLISHED, NoticeKind.INTERIM_OUT):
        details.append(texts.NOTE_LINK.format(link=link))
    reason = p.get("reason")
    if isinstance(reason, str) and reason:
        template = texts.NOTE_REASON if n.kind == NoticeKind.REWORK else texts.NOTE_COMMENT
        details.append(template.format(reason=reason[:NOTE_TEXT_LIMIT]))
    text = p.get("text")
    if isinstance(text, str) and text:
        short = text if len(text) <= NOTE_TEXT_LIMIT else text[:NOTE_TEXT_LIMIT] + texts.TRIMMED
        details.append(texts.NOTE_TEXT.format(text=short))
    return details


PUBLICATION_TEXT_LIMIT = 3000  # of the answer in a notice that it did not go; the card's draft has it all


def _publication_details(n: Notification) -> list[str]:
    """Why the answer did not go, and its text to post by hand."""
    reason, text = n.payload.get("reason"), n.payload.get("text")
    details: list[str] = []
    if isinstance(reason, str) and reason:
        details.append(texts.NOTE_PUBLICATION_REASON.format(reason=reason[:NOTE_TEXT_LIMIT]))
    if isinstance(text, str) and text:
        short = text if len(text) <= PUBLICATION_TEXT_LIMIT else text[:PUBLICATION_TEXT_LIMIT] + texts.TRIMMED
        details.append(texts.NOTE_PUBLICATION_TEXT.format(text=short))
    return details


def _failure_lines(n: Notification, units: Mapping[str, str]) -> list[str]:
    """Which working chat Telegram refused, whose it is, why, and what to check."""
    p = n.payload
    roles, chat_units = p.get("roles"), p.get("units")
    known = {r.value: r for r in Role}
    names = (
        [ROLE_NAMES.get(known[r], r) for r in roles if isinstance(r, str) and r in known]
        if isinstance(roles, list)
        else []
    )
    if isinstance(chat_units, list):
        names += [
            texts.NOTE_FAILED_UNIT.format(unit=units.get(u, u)) for u in chat_units if isinstance(u, str)
        ]
    raw = str(p.get("reason") or "")
    reason = next((ru for en, ru in texts.DELIVERY_REASONS.items() if en in raw.lower()), "")
    lines = [
        texts.NOTE_FAILED_CHAT.format(
            who=", ".join(names) or texts.NOTE_FAILED_UNKNOWN, chat_id=p.get("chat_id")
        ),
        texts.NOTE_FAILED_REASON.format(reason=f"{reason} ({raw})" if reason else raw),
    ]
    case_id = p.get("about_case")
    if isinstance(case_id, int):
        lines.append(texts.NOTE_FAILED_CASE.format(case_id=case_id))
    lines.append(texts.NOTE_FAILED_ADVICE)
    return lines


def _message_excerpt(message: InboundMessage) -> list[str]:
    text = (
        message.text
        if len(message.text) <= NOTE_TEXT_LIMIT
        else message.text[:NOTE_TEXT_LIMIT] + texts.TRIMMED
    )
    lines = [texts.NOTE_AUTHOR.format(author=message.author)] if message.author else []
    lines.append(texts.NOTE_MESSAGE.format(text=text))
    if message.link:
        lines.append(texts.NOTE_LINK.format(link=message.link))
    return lines


def _due_of(n: Notification) -> datetime | None:
    raw = n.payload.get("due")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return None
    return None
