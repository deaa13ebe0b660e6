"""Publishing an approved answer back to the network its item came from (issue 11), exactly once.

«Опубликовать» (the operator, on an approved card of a case taken in from a connected network) queues a
publication row with an event in one transaction, and bumps the case version, so the old card's buttons are
stale. The publisher worker (bot/publisher.py) claims the row, calls the network's `Publisher` with the row id
as the idempotency key, and records the outcome: on success the PUBLISH step itself, by the operator who pressed,
with the answer's link (os.publish is met when the network confirms), in the transaction that marks the row; a
refusal the operator must handle by hand (undeliverable), a failure someone must fix (failed; a revoked token
alerts the office head) and a temporary error (pending again, after a back-off) each show on the card.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, tzinfo

from workflow.lifecycle import Action, ActionPayload, Status, transition
from workflow.model import Actor, Case, DomainError, Event, InboundMessage, Network, Role, Source, valid_id
from workflow.ports import (
    ACTIVE_PUBLICATION,
    FAILED,
    FINAL_ANSWER,
    INTERIM_ANSWER,
    PENDING,
    PUBLISHED,
    SENDING,
    UNCLEAR,
    UNDELIVERABLE,
    Answer,
    Notification,
    Publication,
    PublishError,
    PublishFailed,
    PublishLater,
    PublishRefused,
    StaleVersion,
)
from workflow.services.base import NOT_FOUND, STALE_CARD
from workflow.services.cases import CaseUseCases

# The events a publication leaves on its case (the PUBLISH step itself is the success).
PUBLICATION_REQUESTED = "publication_requested"
PUBLICATION_FAILED = "publication_failed"
PUBLICATION_UNDELIVERABLE = "publication_undeliverable"
PUBLICATION_UNCLEAR = "publication_unclear"  # a network without idempotency key: it may have gone; check
PUBLICATION_LATE = "publication_late"  # posted after the case had moved on (marked published by hand)
PUBLICATION_EVENTS = frozenset(
    {PUBLICATION_REQUESTED, PUBLICATION_FAILED, PUBLICATION_UNDELIVERABLE, PUBLICATION_UNCLEAR, PUBLICATION_LATE}
)
# The notices about a publication that did not go (to the operator; a revoked token also to the office head).
NOTICE_UNDELIVERABLE = "publication_undeliverable"
NOTICE_FAILED = "publication_failed"
NOTICE_UNCLEAR = "publication_unclear"
# What a given-up row leaves: its event on the case and its notice, by the row's state.
_GIVE_UP_EVENT = {
    UNDELIVERABLE: (PUBLICATION_UNDELIVERABLE, NOTICE_UNDELIVERABLE),
    UNCLEAR: (PUBLICATION_UNCLEAR, NOTICE_UNCLEAR),
}

# Where a case's item was taken in from by a network's own intake: only those can be answered there.
CHANNEL_NETWORKS = {Source.VK: Network.VK, Source.OK: Network.OK, Source.TELEGRAM: Network.TELEGRAM}

RETRY_FIRST = timedelta(seconds=30)  # the back-off of a temporary error doubles from here
RETRY_MAX = timedelta(minutes=30)
MAX_ATTEMPTS = 20  # temporary errors this many times in a row: failed, a person looks

NETWORK_NAMES = {Network.VK: "ВКонтакте", Network.OK: "Одноклассники", Network.TELEGRAM: "Telegram"}
NOT_FROM_NETWORK = (
    "Это сообщение поступило не из подключённой соцсети: опубликуйте ответ вручную и нажмите «Опубликовано»."
)
NOT_CONNECTED = (
    "Публикация в {network} не подключена: опубликуйте ответ вручную и нажмите «Опубликовано вручную»."
)
ALREADY_QUEUED = "Ответ уже публикуется."
ALREADY_PUBLISHED = "Ответ уже опубликован."
NO_DRAFT = "Нет согласованного проекта ответа: публиковать нечего."
CASE_MOVED_ON = (
    "Не опубликовано: по сообщению уже выполнено другое действие (ответ отмечен или дело закрыто)."
)
NO_PUBLISHER = "Публикация в {network} отключена в настройках."
AMBIGUOUS = (
    "Отклик был перезапущен во время публикации, и {network} не позволяет проверить повтор: посмотрите, появился "
    "ли ответ; если да — нажмите «Опубликовано вручную», если нет — «Опубликовать снова»."
)
NOT_UNCLEAR = "Эта кнопка устарела: публикация уже не ждёт проверки."
REFUSED_AT_PRESS = "Опубликовать автоматически нельзя: {reason}. Ничего не изменено."
TOO_MANY_ATTEMPTS = "Не удалось опубликовать после {count} попыток: {reason}"
UNEXPECTED = "неожиданная ошибка при публикации"


def answer_action(kind: str) -> Action:
    """The step a publication of this kind is: the interim answer (п.11) or the answer itself."""
    return Action.INTERIM if kind == INTERIM_ANSWER else Action.PUBLISH


def current_publication(case: Case, publication: Publication | None) -> Publication | None:
    """The publication the case's next step is about; None when it belongs to a step already taken: an
    interim one once the interim answer is out, any once the case is answered or closed."""
    if publication is None or Status(case.status).final:
        return None
    if publication.kind == INTERIM_ANSWER and case.interim:
        return None
    return publication


def channel_network(message: InboundMessage | None) -> Network | None:
    """The network a case's item can be answered in: the one it was taken in from by that network's intake."""
    if message is None:
        return None
    return CHANNEL_NETWORKS.get(message.source)


def next_midnight(now: datetime, tz: tzinfo) -> datetime:
    """The start of tomorrow in the calendar's zone (a daily quota renews then)."""
    here = now.astimezone(tz)
    return datetime.combine(here.date() + timedelta(days=1), time(0), tzinfo=here.tzinfo)


def back_off(attempts: int) -> timedelta:
    delay: timedelta = RETRY_FIRST * (2 ** max(0, min(attempts - 1, 20)))
    return min(delay, RETRY_MAX)


def answer_of(publication: Publication) -> Answer:
    return Answer(
        case_id=publication.case_id,
        item_key=publication.item_key,
        text=publication.text,
        idempotency_key=publication.id,
        item_link=publication.item_link,
        kind=publication.kind,
    )


def _still_due(case: Case, publication: Publication) -> bool:
    """Whether the publication's step can still be taken: the case approved, and for an interim answer, none
    given yet (else it was marked by hand meanwhile)."""
    if case.status != Status.APPROVED.value:
        return False
    return not (publication.kind == INTERIM_ANSWER and case.interim)


class PublishingUseCases(CaseUseCases):
    # --- the press ------------------------------------------------------------------------------------------

    async def request_publication(
        self, case_id: int, actor: Actor, version: int, *, confirm: bool = False, kind: str = FINAL_ANSWER
    ) -> Publication:
        """Queue the approved answer of the case for its network; the same refusals as its step (PUBLISH, or
        INTERIM for `kind` interim: role, status, units still owing information unless `confirm`), and a stale
        card, a second press, a case from no connected network, a text the network cannot take, each change
        nothing."""
        if kind not in (FINAL_ANSWER, INTERIM_ANSWER):
            raise DomainError(NOT_FOUND, code="invalid")
        if not valid_id(case_id):
            raise DomainError(NOT_FOUND, code="not_found")
        if not valid_id(version):
            raise DomainError(STALE_CARD, code="stale")
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            case = await tx.get_case(case_id)
            if case is None:
                raise DomainError(NOT_FOUND, code="not_found")
            message = await tx.get_message(case_id)
            network = channel_network(message)
            latest = current_publication(case, await tx.latest_publication(case_id))
            if latest is not None and latest.state in ACTIVE_PUBLICATION:
                raise DomainError(ALREADY_QUEUED, code="already")
            if latest is not None and latest.state == PUBLISHED and latest.kind == kind:
                raise DomainError(ALREADY_PUBLISHED, code="already")
            if latest is not None and latest.state == UNCLEAR and latest.kind == kind:
                confirm = confirm or latest.confirmed  # «Опубликовать снова»: what was confirmed still holds
            # The lifecycle speaks first: «уже отмечен», «недостаточно прав», units still owing information.
            transition(
                case, answer_action(kind), actor, now, rules=self.rules, calendar=self.calendar,
                payload=ActionPayload(confirm=confirm),
            )  # fmt: skip
            if version != case.version:
                raise DomainError(STALE_CARD, code="stale")
            if network is None:
                raise DomainError(NOT_FROM_NETWORK, code="not_connected")
            publisher = self.publishers.get(network)
            if publisher is None:
                raise DomainError(NOT_CONNECTED.format(network=NETWORK_NAMES[network]), code="not_connected")
            text = await tx.latest_draft(case_id, case.draft_version) if case.draft_version else None
            if not text:
                raise DomainError(NO_DRAFT, code="invalid")
            assert message is not None  # the network came from it
            queued = Publication(
                id=0, case_id=case_id, network=network, item_key=message.source_id, item_link=message.link,
                text=text, kind=kind, requested_by=actor.user_id, requested_by_name=actor.name,
                confirmed=confirm,
            )  # fmt: skip
            refusal = publisher.refusal(answer_of(queued))
            if refusal:
                raise DomainError(REFUSED_AT_PRESS.format(reason=refusal), code="refused")
            publication = await tx.add_publication(queued, now)
            try:
                # A new version: the card is redrawn without «Опубликовать», the old card's buttons are stale.
                await tx.save_case(replace(case, version=case.version + 1), case.version)
            except StaleVersion:
                raise DomainError(STALE_CARD, code="stale") from None
            data: dict[str, object] = {"publication_id": publication.id, "network": network.value}
            if kind != FINAL_ANSWER:
                data["kind"] = kind
            if actor.name:
                data["by"] = actor.name
            event = Event(PUBLICATION_REQUESTED, actor.user_id, Role.OPERATOR, now, data=data)
            await tx.append_events(case_id, [event])
        await self._wake([case_id], ())
        if self.publishers.on_queued is not None:
            self.publishers.on_queued()
        return publication

    async def published_by_hand(self, case_id: int, actor: Actor, version: int) -> Publication:
        """«Опубликовано вручную» on a publication left unclear: the operator saw the answer in the thread, and
        its step is taken in one press, as the press of «Опубликовать» asked (confirmed there if it was)."""
        if not valid_id(case_id):
            raise DomainError(NOT_FOUND, code="not_found")
        async with self.repo.reading() as tx:
            case = await tx.get_case(case_id)
            latest = await tx.latest_publication(case_id) if case is not None else None
        if case is None:
            raise DomainError(NOT_FOUND, code="not_found")
        latest = current_publication(case, latest)
        if latest is None or latest.state != UNCLEAR:
            raise DomainError(NOT_UNCLEAR, code="stale")
        payload = ActionPayload(confirm=latest.confirmed)
        await self.act(case_id, answer_action(latest.kind), actor, expected_version=version, payload=payload)
        return latest

    # --- the worker's side ----------------------------------------------------------------------------------

    async def claim_publications(self, owner: str, limit: int = 10) -> list[Publication]:
        now = self.clock.now()
        async with self.repo.transaction() as tx:
            return await tx.claim_publications(now, owner, limit)

    async def next_publication_at(self) -> datetime | None:
        async with self.repo.reading() as tx:
            return await tx.next_publication_at()

    async def take_over_publications(self, owner: str) -> int:
        """At start: what a dead run was sending. With an idempotency key it is queued again (the network posts
        it once); without one nobody knows whether it went, and the operator is asked."""
        async with self.repo.reading() as tx:
            left = await tx.foreign_publication_claims(owner)
        for publication in left:
            await self.release_publication(publication)
        return len(left)

    async def release_publication(self, publication: Publication) -> None:
        """A claim that ended without an answer recorded (a crash, an error of ours)."""
        publisher = self.publishers.get(publication.network)
        if publisher is None or publisher.idempotent:
            async with self.repo.transaction() as tx:
                await tx.set_publication(
                    publication.id, PENDING, self.clock.now(), error=publication.error, expect=SENDING
                )
            return
        network = NETWORK_NAMES.get(publication.network, publication.network.value)
        await self._give_up(publication, UNCLEAR, AMBIGUOUS.format(network=network))

    async def publish_claimed(self, publication: Publication) -> Publication:
        """Post one claimed row and record what the network said; returns the row as recorded."""
        publisher = self.publishers.get(publication.network)
        network = NETWORK_NAMES.get(publication.network, publication.network.value)
        if publisher is None:
            return await self._give_up(publication, FAILED, NO_PUBLISHER.format(network=network))
        async with self.repo.reading() as tx:
            case = await tx.get_case(publication.case_id)
        if case is None or not _still_due(case, publication):
            return await self._give_up(publication, FAILED, CASE_MOVED_ON, notify=False)
        answer = answer_of(publication)
        refusal = publisher.refusal(answer)
        if refusal:
            return await self._give_up(publication, UNDELIVERABLE, refusal)
        try:
            link = await publisher.publish(answer)
        except PublishRefused as exc:
            return await self._give_up(publication, UNDELIVERABLE, exc.reason)
        except PublishFailed as exc:
            state = UNCLEAR if exc.unclear and not publisher.idempotent else FAILED
            return await self._give_up(publication, state, exc.reason, alert=exc.alert)
        except PublishLater as exc:
            return await self._later(publication, exc)
        except PublishError as exc:
            return await self._give_up(publication, FAILED, exc.reason)
        except Exception:
            if not publisher.idempotent:
                return await self._give_up(publication, UNCLEAR, AMBIGUOUS.format(network=network))
            return await self._later(publication, PublishLater(UNEXPECTED))
        return await self._published(publication, link)

    async def _published(self, publication: Publication, link: str) -> Publication:
        now = self.clock.now()
        notifications: tuple[Notification, ...] = ()
        async with self.repo.transaction() as tx:
            if not await tx.set_publication(publication.id, PUBLISHED, now, link=link, expect=SENDING):
                return await self._current(publication)
            case = await tx.get_case(publication.case_id)
            if case is None:
                return replace(publication, state=PUBLISHED, link=link)
            # The operator who pressed publishes (os.publish is his term); the network's confirmation is the
            # moment. Units still owing information were confirmed at the press or are moot now: it is out.
            actor = Actor(
                user_id=publication.requested_by, roles=frozenset({Role.OPERATOR}),
                name=publication.requested_by_name,
            )  # fmt: skip
            origin = f"publication:{publication.id}"
            if _still_due(case, publication):
                payload = ActionPayload(link=link, confirm=True, origin=origin)
                result = transition(
                    case,
                    answer_action(publication.kind),
                    actor,
                    now,
                    rules=self.rules,
                    calendar=self.calendar,
                    payload=payload,
                )
                mark = {"publication_id": publication.id, "network": publication.network.value}
                events = tuple(replace(e, data={**e.data, **mark}) for e in result.events)
                _result, notifications = await self._commit(
                    tx, case, replace(result, events=events), now, actor, origin, undoable=False
                )
            else:
                data: dict[str, object] = {"publication_id": publication.id, "link": link}
                await tx.append_events(case.id, [Event(PUBLICATION_LATE, 0, Role.SYSTEM, now, link, data)])
        await self._wake([publication.case_id], notifications)
        return replace(publication, state=PUBLISHED, link=link, error="")

    async def _later(self, publication: Publication, exc: PublishLater) -> Publication:
        now = self.clock.now()
        if publication.attempts >= MAX_ATTEMPTS:
            reason = TOO_MANY_ATTEMPTS.format(count=publication.attempts, reason=exc.reason)
            return await self._give_up(publication, FAILED, reason)
        if exc.until_tomorrow:
            at = next_midnight(now, self.calendar.tz)
        else:
            at = now + (exc.delay if exc.delay is not None else back_off(publication.attempts))
        async with self.repo.transaction() as tx:
            await tx.set_publication(
                publication.id, PENDING, now, error=exc.reason, next_at=at, expect=SENDING
            )
        await self._wake([publication.case_id], ())
        return replace(publication, state=PENDING, error=exc.reason, next_at=at)

    async def _give_up(
        self, publication: Publication, state: str, reason: str, *, alert: bool = False, notify: bool = True
    ) -> Publication:
        """Failed or undeliverable: the row, an event on the case, and a notice to the operator with the text
        to post by hand (and to the office head when `alert`)."""
        now = self.clock.now()
        action, kind = _GIVE_UP_EVENT.get(state, (PUBLICATION_FAILED, NOTICE_FAILED))
        notifications: list[Notification] = []
        if notify:
            payload: dict[str, object] = {"reason": reason, "text": publication.text}
            roles = [Role.OPERATOR, Role.OFFICE_HEAD] if alert else [Role.OPERATOR]
            notifications = [
                Notification(
                    dedup_key=f"publication:{publication.id}:{state}:{publication.attempts}:{role.value}",
                    case_id=publication.case_id,
                    kind=kind,
                    to_role=role,
                    at=now,
                    payload=payload,
                )
                for role in roles
            ]
        async with self.repo.transaction() as tx:
            if not await tx.set_publication(publication.id, state, now, error=reason, expect=SENDING):
                return await self._current(publication)
            data: dict[str, object] = {"publication_id": publication.id, "reason": reason}
            await tx.append_events(publication.case_id, [Event(action, 0, Role.SYSTEM, now, "", data)])
            if notifications:
                await tx.enqueue(notifications)
        await self._wake([publication.case_id], notifications)
        return replace(publication, state=state, error=reason)

    async def _current(self, publication: Publication) -> Publication:
        async with self.repo.reading() as tx:
            return await tx.get_publication(publication.id) or publication
