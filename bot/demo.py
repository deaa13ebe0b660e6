"""`otklik demo`: the real bot against the built-in Telegram, VK, OK and IMAP emulators, playing one working day.

No token and no network: the emulators listen on 127.0.0.1, the database is a temporary SQLite file, and the
clock is virtual — it jumps from step to step and the real sweeper runs at every jump, so reminders and missed
terms appear when they would. The administration's VK wall and Telegram channel are connected: a citizen's
comment becomes a case by itself and «Опубликовать» puts the approved answer under it; so does the OK group's
topic. A ЦУР IM card of a VK comment already taken in attaches to its case, and a ПОС notification e-mail in the
mailbox becomes a ПОС case. At 18:05 the head asks for the week's п.18 report (/report неделя). At the end it
prints what every chat saw, the VK post's comments, the channel post's discussion thread and the OK topic.
`otklik demo --db PATH` keeps the day's database there, for `otklik report --db PATH`.

`otklik demo --messenger max` (issue 15) plays the same day with the staff in MAX's emulator, through the same
bot and MAX's adapter (bot/max_session.py): the same scenes, cards, buttons and transcript format (the staff's
side is read through bot/demo_staff.py). The Telegram channel's scene cannot exist there (its bot is the staff's
Telegram bot, and `[channels.telegram]` is refused with MAX): one narration line says so, and in its slot MAX
plays a citizens' scene of its own: `[channels.max]` is on for the staff's own MAX bot (whoever is not in the
staff directory and writes to it in a dialog is a citizen), a resident writes to it, is acknowledged with the
case number, and the approved answer goes back into the dialog (printed at the end beside the other networks).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import OtklikApp
from bot.demo_staff import MESSENGER_NAMES, Button, MaxStaff, Messenger, Seen, StaffChats, TelegramStaff
from bot.settings import (
    ChannelsSettings,
    ChatSettings,
    DatabaseSettings,
    MaxChannelSettings,
    MessengerSettings,
    OkSettings,
    PosMailSettings,
    PosSettings,
    SchedulerSettings,
    Settings,
    StaffMember,
    TelegramChannelSettings,
    TelegramSettings,
    VkSettings,
)
from emulators.imap import ImapEmulator
from emulators.max import MaxEmulator
from emulators.ok import OkEmulator
from emulators.ok.server import OkComment
from emulators.telegram import TelegramEmulator
from emulators.vk import Comment, VkEmulator
from views import texts
from workflow.model import Source

TZ = ZoneInfo("Asia/Novosibirsk")
START = datetime(2026, 12, 1, 9, 30, tzinfo=TZ)  # a Tuesday
MORNING = START.replace(hour=9, minute=0)  # the demo's clock starts here: the VK comment comes at 09:12
# The unit's photo of the pit: any bytes do, the emulator stores them as a JPEG the bot passes on by file id.
PIT_PHOTO = b"\xff\xd8\xff\xe0 pit at Lenina 5"


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    roles: tuple[str, ...]
    units: tuple[str, ...] = ()


OPERATOR = Person(1001, "Мария Иванова", ("operator",))
OFFICE_HEAD = Person(1002, "Ольга Петрова", ("office_head",))
REGION_CURATOR = Person(1003, "Андрей Соколов (ЦУР НСО)", ("region_curator",))
HOUSING = Person(1004, "Сергей Кузнецов", ("unit_official", "executor"), ("housing",))
POS_CURATOR = Person(1005, "Елена Орлова", ("pos_curator",))
SOCIAL = Person(1006, "Наталья Волкова", ("unit_official", "executor"), ("social",))
HEAD = Person(1007, "Глава района", ("head",))
PEOPLE = (OPERATOR, OFFICE_HEAD, REGION_CURATOR, HOUSING, POS_CURATOR, SOCIAL, HEAD)

INTAKE_CHAT = -1001
HOUSING_CHAT = -1004
SOCIAL_CHAT = -1006
CHAT_TITLES = {
    INTAKE_CHAT: "Управление делами — приём сообщений",
    OFFICE_HEAD.user_id: "Начальник управления делами (личный чат)",
    REGION_CURATOR.user_id: "Куратор ЦУР (личный чат)",
    HOUSING_CHAT: "ЖКХ — рабочий чат",
    POS_CURATOR.user_id: "Куратор ПОС (личный чат)",
    SOCIAL_CHAT: "Социальная защита — рабочий чат",
    HEAD.user_id: "Глава района (личный чат)",
}

# The administration's VK community and its wall post the citizen comments under.
VK_GROUP = 201
VK_GROUP_NAME = "Администрация Северного района"
VK_CITIZEN = (42, "Пётр", "Смирнов")
VK_NEIGHBOUR = (43, "Лидия", "Козлова")  # her comment is later handed over by the ЦУР too
# Six residents of one house write about the same burst pipe within a quarter of an hour (17:40–17:55): a spike
# of similar messages, reported to the head at once (п.17, issue 13).
SPIKE_ADDRESS = "ул. Октябрьская, 14"
SPIKE_COMMENTS = (
    (
        (44, "Ирина", "Морозова"),
        40,
        "Ул. Октябрьская, 14: с утра прорвало трубу, вода заливает двор и подвал.",
    ),
    (
        (45, "Олег", "Павлов"),
        43,
        "На Октябрьской 14 вода из трубы хлещет уже час, когда приедет аварийная служба?",
    ),
    ((46, "Светлана", "Егорова"), 46, "Октябрьская, 14 — двор затоплен, дети не могут пройти в школу."),
    ((47, "Николай", "Зайцев"), 49, "У дома 14 на улице Октябрьской прорыв трубы, на асфальте лёд."),
    ((48, "Татьяна", "Соловьёва"), 52, "Жители дома ул. Октябрьская, 14 третий час без холодной воды!"),
    (
        (49, "Виктор", "Николаев"),
        55,
        "Октябрьская, 14: вода уже в подвале, затопит щитовую — останемся без света.",
    ),
)
VK_POST = "Ремонт дорог: сообщите о ямах в комментариях, мы передадим их в ЖКХ."
# The administration's Telegram channel and its discussion group, where comments are written.
TG_CHANNEL = -1005000000001
TG_GROUP = -1005000000002
TG_CHANNEL_TITLE = "Северный район — официально"
TG_CITIZEN = Person(7001, "Анна Смирнова", ())
# The resident who writes to the administration's MAX bot in his dialog with it (the demo on MAX only).
MAX_CITIZEN = Person(7002, "Алексей Григорьев", ())
# The administration's Odnoklassniki group: its topic (a post) the citizens comment under, and the demo's keys.
OK_GROUP = "70000000000001"
OK_GROUP_NAME = "Администрация Северного района (Одноклассники)"
OK_TOPIC = "155000000001"
OK_CITIZEN = ("577123", "Галина Лебедева")
OK_TOPIC_TEXT = "Зимнее содержание дворов: напишите в комментариях, где не убран снег."
# The ПОС notification mailbox (the IMAP emulator) and the ПОС categories the district maps to term classes.
POS_MAIL_USER, POS_MAIL_PASSWORD = "pos@severny.example", "demo-pos-secret"
POS_CATEGORIES = {"Дороги": "local_fast", "Благоустройство": "local_fast", "Мусор": "federal_fast"}
TG_POST = "Благоустройство парка «Юбилейный»: что добавить этой весной? Пишите в комментариях."


DAY_MINUTES = 24 * 60


class DemoClock:
    def __init__(self, now: datetime) -> None:
        self.instant = now

    def now(self) -> datetime:
        return self.instant


def demo_settings(
    api_base: str, token: str, db_path: Path, *, channels: ChannelsSettings | None = None,
    messenger: MessengerSettings | None = None,
) -> Settings:
    """The demo's set-up; `messenger`: the staff's (Telegram's `api_base` and `token` unless it says MAX)."""
    return Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{db_path}"),
        telegram=TelegramSettings(token=token, api_base=api_base, rate_limits=False),
        messenger=messenger or MessengerSettings(),
        chats=ChatSettings(
            intake=INTAKE_CHAT,
            office_head=OFFICE_HEAD.user_id,
            region_curator=REGION_CURATOR.user_id,
            pos_curator=POS_CURATOR.user_id,
            head=HEAD.user_id,
            units={"housing": HOUSING_CHAT, "social": SOCIAL_CHAT},
        ),
        staff=[
            StaffMember(telegram_id=p.user_id, name=p.name, roles=list(p.roles), units=list(p.units))
            for p in PEOPLE
        ],
        scheduler=SchedulerSettings(),
        channels=channels or ChannelsSettings(),
        pos=PosSettings(categories=POS_CATEGORIES),
    )


def demo_channels(vk: VkEmulator, imap: ImapEmulator, ok: OkEmulator, *, telegram: bool = True) -> ChannelsSettings:
    """The VK group (its long poll, the service key's sweep), the Telegram channel with its discussion group
    (only with the staff in Telegram: its bot reads the channel) or else the citizens' dialogs with the staff's
    own MAX bot (deployment (a) of `[channels.max]`: no token of its own), the OK group's comments (polled through fb.do
    at the shortest interval allowed; no webhook: comments only) and the ПОС notification mailbox (plain IMAP:
    the emulator is on this machine). The outage watch gets a whole day: the demo's clock jumps by minutes
    or hours between steps while the networks are read in real time (OK's poll every 5 s), so «no read for 30
    minutes» came true or not by how fast the machine was, and two runs printed different days."""
    return ChannelsSettings(
        ok=OkSettings(enabled=True, group_id=ok.group_id, application_key=ok.application_key,
                      application_secret=ok.application_secret, access_token=ok.user_token(),
                      api_base=ok.base_url, poll_seconds=5, health_minutes=DAY_MINUTES),
        pos_mail=PosMailSettings(enabled=True, host="127.0.0.1", port=imap.port, tls=False,
                                 user=POS_MAIL_USER, password=POS_MAIL_PASSWORD),
        vk=VkSettings(enabled=True, group_id=VK_GROUP, token=vk.group_token(VK_GROUP),
                      service_key=vk.service_key(), api_base=vk.base_url, wait_seconds=1,
                      health_minutes=DAY_MINUTES),
        telegram=TelegramChannelSettings(enabled=telegram, channel_id=TG_CHANNEL, group_id=TG_GROUP),
        max=MaxChannelSettings(enabled=not telegram),
    )  # fmt: skip


class DemoError(Exception):
    """The demo script could not find what it expected on screen: says which step."""


class Director:
    """Plays people: writes, replies and presses buttons in the emulator, then waits for the bot to finish."""

    def __init__(
        self,
        staff: StaffChats,
        app: OtklikApp,
        clock: DemoClock,
        say: Callable[[str], None],
        vk: VkEmulator | None = None,
        imap: ImapEmulator | None = None,
        ok: OkEmulator | None = None,
        channel: TelegramEmulator | None = None,
    ) -> None:
        self.imap = imap
        self.ok = ok
        self.staff = staff
        self.channel = channel  # the Telegram emulator with the administration's channel, when the staff are there
        self.app = app
        self.clock = clock
        self.say = say
        self.vk = vk

    def _move(self, instant: datetime) -> None:
        self.clock.instant = instant
        if self.vk is not None:  # comments and answers are dated by the VK emulator's own clock
            self.vk.set_time(instant.timestamp())
        if self.ok is not None:  # and OK's by its own
            self.ok.now = instant.timestamp()

    async def at(self, hh: int, mm: int, day: int = 0) -> None:
        """Move the virtual clock forward, running the real sweeper at the new instant."""
        target = (START + timedelta(days=day)).replace(hour=hh, minute=mm)
        # Stop at every reminder or miss on the way, as the 30-second sweeper would.
        while True:
            async with self.app.repo.transaction() as tx:
                nearest = await tx.earliest_attention()
            if nearest is None or nearest > target or nearest <= self.clock.instant:
                break
            self._move(nearest)
            await self.app.sweep()
            await self.settle()
        self._move(max(self.clock.instant, target))
        await self.app.sweep()
        await self.settle()

    async def settle(self) -> None:
        """Wait until every update is confirmed and handled and every delivery it woke has finished.

        Asks the bot itself, not a quiet spell of API calls: a handler slower than any pause would otherwise
        finish after the clock had moved on, and a reminder would land at another step from run to run."""
        while True:
            await self.staff.wait_for(lambda: not self.staff.has_pending_updates and self.app.quiet(), timeout=30)
            if self.vk is None:
                return
            # The VK reader saves a batch before it asks again: a long poll waiting past the last event means
            # every event (a comment, the echo of our answer) is in the inbox, where quiet() sees it.
            await self.vk.wait_for(self._vk_read, timeout=30)
            if not self.staff.has_pending_updates and self.app.quiet():
                return

    def _vk_read(self) -> bool:
        assert self.vk is not None
        checks = self.vk.long_poll_checks
        after_last = str(len(self.vk.events(VK_GROUP)) + 1)
        return bool(checks) and checks[-1].finished_at is None and checks[-1].params.get("ts") == after_last

    async def vk_comment(self, post_id: int, author: int, text: str) -> Comment:
        """A citizen comments under the wall post in VK: nobody in Otklik does anything, the long poll brings it."""
        assert self.vk is not None
        user = self.vk.users[author]
        short = f"{text[:60]}{'…' if len(text) > 60 else ''}"
        self.say(f"  {user.first_name} {user.last_name} пишет ВКонтакте под записью: {short}")
        comment = self.vk.add_comment(VK_GROUP, post_id, author, text)
        await self.settle()
        return comment

    async def pos_mail(self, number: str, category: str, received: str, author: str, text: str) -> None:
        """ПОС sends its notification e-mail; the mailbox is read by the app's own poll job, run here at the
        moment the scheduler would run it (the demo's clock is virtual, the job's timer is not)."""
        assert self.imap is not None and self.app.pos_mail is not None
        self.say(
            f"  В почтовый ящик ПОС приходит уведомление о сообщении № {number} (категория «{category}»)"
        )
        mail = EmailMessage()
        mail["Subject"] = f"Новое сообщение ПОС № {number}"
        mail["From"] = "noreply@pos.gosuslugi.ru"
        mail["Message-ID"] = f"<{number}@pos.gosuslugi.ru>"
        mail.set_content(f"Номер сообщения: {number}\nКатегория: {category}\nДата поступления: {received}\n"
                         f"Заявитель: {author}\nТекст сообщения: {text}\n")  # fmt: skip
        self.imap.add_mail(mail.as_bytes())
        await self.app.pos_mail.poll()
        await self.settle()

    async def ok_comment(self, author: tuple[str, str], text: str) -> OkComment:
        """A citizen comments under the group's topic in OK: the app's poll of fb.do brings it (every 5 s of real
        time); the demo waits until its case exists, then until the app is quiet."""
        assert self.ok is not None
        self.say(
            f"  {author[1]} пишет в Одноклассниках под темой группы: {text[:60]}{'…' if len(text) > 60 else ''}"
        )
        comment = self.ok.comment(OK_TOPIC, author[0], text, name=author[1])
        key = f"{OK_TOPIC}:{comment.id}"
        async with asyncio.timeout(30):
            while True:
                async with self.app.repo.reading() as tx:
                    if await tx.find_case_by_source(Source.OK.value, key) is not None:
                        break
                await asyncio.sleep(0.05)
        await self.settle()
        return comment

    async def vk_post(self, text: str) -> int:
        assert self.vk is not None
        post = self.vk.add_post(VK_GROUP, text)
        await self.settle()
        return post.id

    async def tg_post(self, text: str) -> int:
        """The channel publishes a post; returns its copy in the discussion group (the thread's root)."""
        assert self.channel is not None
        _post, copy = self.channel.post_to_channel(TG_CHANNEL, text)
        assert copy is not None
        await self.settle()
        return copy.message_id

    async def tg_comment(self, post_copy_id: int, person: Person, text: str) -> None:
        """A citizen comments under the channel's post (in its discussion group): the bot takes it in itself."""
        self.say(f"  {person.name} пишет в обсуждении поста: {text[:60]}{'…' if len(text) > 60 else ''}")
        assert self.channel is not None
        self.channel.comment(TG_GROUP, person.user_id, post_copy_id, text)
        await self.settle()

    async def max_dialog(self, person: Person, text: str) -> None:
        """A resident writes to the administration's MAX bot in his dialog with it: the bot takes it in itself."""
        self.say(f"  {person.name} пишет боту администрации в MAX: {text[:60]}{'…' if len(text) > 60 else ''}")
        self.staff.push_message(person.user_id, person.user_id, text)
        await self.settle()

    def _cards(self, chat_id: int) -> list[Seen]:
        return [m for m in self.staff.sent(chat_id) if m.buttons]

    def _cards_of(self, chat_id: int, case: int | None) -> list[Seen]:
        cards = self._cards(chat_id)
        if case is None:
            return cards
        return [m for m in cards if m.text.startswith(f"Сообщение № {case} ")]

    def _find_button(self, chat_id: int, label: str, case: int | None = None) -> tuple[Seen, str]:
        for msg in reversed(self._cards_of(chat_id, case)):
            for row in msg.buttons:
                for button in row:
                    if label in button.text and button.data is not None:
                        return msg, button.data
        raise DemoError(f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» нет кнопки «{label}»")

    def case_showing(self, chat_id: int, snippet: str) -> int:
        """The number of the case whose newest card in the chat shows `snippet` (numbers are not hard-coded)."""
        for msg in reversed(self._cards(chat_id)):
            shown = msg.text
            found = re.match(r"Сообщение № (\d+) ", shown)
            if found is not None and snippet in shown:
                return int(found[1])
        raise DemoError(f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» нет карточки с текстом «{snippet}»")

    def next_case(self) -> int:
        """The number the next case will get: one past the highest any chat's card shows (every case has a
        card somewhere), so the narration names it without hard-coding how many came before."""
        seen = [int(found[1]) for chat_id in CHAT_TITLES for m in self.staff.sent(chat_id)
                if (found := re.match(r"Сообщение № (\d+) · ", m.text)) is not None]  # fmt: skip
        return max(seen, default=0) + 1

    def card_line(self, chat_id: int, case: int, start: str) -> str:
        """The line of the case's card that starts with `start`, as shown now (for the narration)."""
        for msg in reversed(self._cards_of(chat_id, case)):
            line = next((x for x in msg.text.splitlines() if x.startswith(start)), None)
            if line is not None:
                return line
        raise DemoError(f"на карточке № {case} нет строки «{start}…»")

    async def press(self, chat_id: int, person: Person, label: str, case: int | None = None) -> None:
        msg, data = self._find_button(chat_id, label, case)
        self.say(f"  {person.name} нажимает «{label}»")
        self.staff.push_callback(chat_id, person.user_id, msg.message_id, data)
        await self.settle()

    async def write(self, chat_id: int, person: Person, text: str) -> None:
        line = text.replace("\n", " / ")  # a pasted card's lines, on one narration line
        self.say(f"  {person.name} пишет: {line[:70]}{'…' if len(line) > 70 else ''}")
        self.staff.push_message(chat_id, person.user_id, text)
        await self.settle()

    async def reply_to_card(self, chat_id: int, person: Person, case: int, text: str) -> None:
        cards = self._cards_of(chat_id, case)
        if not cards:
            raise DemoError(f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» нет карточки сообщения № {case}")
        self.say(f"  {person.name} отвечает на карточку № {case}: {text[:60]}{'…' if len(text) > 60 else ''}")
        self.staff.push_message(chat_id, person.user_id, text, reply_to=cards[-1].message_id)
        await self.settle()

    async def reply_to_notice(
        self, chat_id: int, person: Person, case: int, text: str, photo: bytes | None = None
    ) -> None:
        """Reply to the bot's latest notice or reminder about the case (🔔/⏰, not the card), with a photo if
        given (the text is then its caption)."""
        notices = [
            m
            for m in self.staff.sent(chat_id)
            if not m.buttons and m.text.startswith(("🔔", "⏰")) and f"Сообщение № {case}" in m.text.splitlines()
        ]
        if not notices:
            raise DemoError(
                f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» нет уведомления о сообщении № {case}"
            )
        first_line = notices[-1].text.splitlines()[0]
        media = "[фото] " if photo is not None else ""
        self.say(
            f"  {person.name} отвечает на «{first_line[:40]}…»: {media}{text[:50]}{'…' if len(text) > 50 else ''}"
        )
        self.staff.push_message(chat_id, person.user_id, text, reply_to=notices[-1].message_id, photo=photo)
        await self.settle()

    async def command(self, chat_id: int, person: Person, text: str) -> None:
        self.say(f"  {person.name} отправляет команду {text}")
        self.staff.push_message(chat_id, person.user_id, text)
        await self.settle()

    async def answer_prompt(self, chat_id: int, person: Person, text: str) -> None:
        """Reply to the bot's latest prompt (a ForceReply asking for a reason or a link)."""
        prompts = [
            m for m in self.staff.sent(chat_id) if "ответом на это сообщение" in m.text
        ]
        if not prompts:
            raise DemoError(f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» бот ничего не спросил")
        self.say(f"  {person.name} отвечает: {text}")
        self.staff.push_message(chat_id, person.user_id, text, reply_to=prompts[-1].message_id)
        await self.settle()


async def play_day(d: Director) -> None:
    say = d.say
    await d.at(9, 0)
    post = await d.vk_post(VK_POST)
    say("09:12 Житель пишет комментарий под записью администрации ВКонтакте — Отклик сам забирает его (long poll): "
        "карточка № 1 появляется в чате приёма без действий оператора, срок считается с 09:12.")  # fmt: skip
    await d.at(9, 12)
    await d.vk_comment(post, VK_CITIZEN[0],
                       "На улице Ленина у дома 5 огромная яма, две машины уже пробили колёса. "
                       "Когда отремонтируют? <b>Срочно</b> & без отписок!")  # fmt: skip
    say("09:30 ЦУР передал сообщение из Одноклассников: оператор вставляет его в чат приёма; одно нажатие «От ЦУР» "
        "регистрирует его, время выявления ЦУР бот предлагает взять из сообщения — ещё одно нажатие.")  # fmt: skip
    await d.at(9, 30)
    await d.write(INTAKE_CHAT, OPERATOR,
                  "Игорь Белов, Одноклассники: Во дворе дома 7 на улице Ленина не горят фонари, вечером темно.")  # fmt: skip
    await d.press(INTAKE_CHAT, OPERATOR, "От ЦУР")
    await d.press(INTAKE_CHAT, OPERATOR, "Как в сообщении")
    say("09:40 Уполномоченное лицо направляет оба сообщения в ЖКХ; начальник управления делами согласует.")
    await d.at(9, 40)
    for case in (1, 2):
        await d.press(INTAKE_CHAT, OPERATOR, "Направить", case=case)
        await d.press(INTAKE_CHAT, OPERATOR, "ЖКХ", case=case)
        await d.press(INTAKE_CHAT, OPERATOR, "Готово", case=case)
    say("09:50 Начальник управления делами смотрит, что ждёт его: в /my — согласование направления.")
    await d.at(9, 50)
    await d.command(OFFICE_HEAD.user_id, OFFICE_HEAD, "/my")
    await d.at(9, 55)
    await d.press(OFFICE_HEAD.user_id, OFFICE_HEAD, "Согласовать направление", case=1)
    await d.press(OFFICE_HEAD.user_id, OFFICE_HEAD, "Согласовать направление", case=2)
    say("09:58 Жалоб на дороги много — уполномоченное лицо докладывает Главе района (п.17).")
    await d.at(9, 58)
    await d.press(INTAKE_CHAT, OPERATOR, "Общественно значимое", case=1)

    say("10:05 В ПОС поступила жалоба; куратор ПОС регистрирует её, пересылая уведомление.")
    await d.at(10, 5)
    await d.write(POS_CURATOR.user_id, POS_CURATOR,
                  "Сообщение № 4512345\nКатегория: federal_fast\nПоступило: 01.12.2026 10:02\n"
                  "Текст: Не вывозят мусор с контейнерной площадки на ул. Мира, 12 уже неделю.")  # fmt: skip
    await d.press(POS_CURATOR.user_id, POS_CURATOR, "Направить")
    await d.press(POS_CURATOR.user_id, POS_CURATOR, "ЖКХ")
    await d.press(POS_CURATOR.user_id, POS_CURATOR, "Социальная")
    await d.press(POS_CURATOR.user_id, POS_CURATOR, "Готово")
    await d.press(POS_CURATOR.user_id, POS_CURATOR, "ЖКХ")  # the responsible executor (п.14.1)
    await d.at(10, 20)
    await d.press(HOUSING_CHAT, HOUSING, "Принять", case=3)

    say(
        "11:10 ЖКХ отвечает на напоминание (не на карточку) сведениями для ответа и фото места: бот относит ответ "
        "к сообщению № 1, а фото уходит уполномоченному лицу."
    )
    await d.at(11, 10)
    await d.reply_to_notice(HOUSING_CHAT, HOUSING, 1,
                            "Ямочный ремонт у дома 5 назначен на 3 декабря, подрядчик ООО «Дорстрой». Фото места.",
                            photo=PIT_PHOTO)  # fmt: skip

    say(
        "11:30 Соцзащита так и не приняла жалобу ПОС. Срок возврата (до 10:35) прошёл без напоминаний: он касается "
        "только возврата и просрочкой не считается; срок информации соисполнителя идёт дальше."
    )
    await d.at(11, 30)

    say("12:00 Пишут оскорбления — сообщение не подлежит ответу (п.15).")
    await d.at(12, 0)
    await d.write(
        INTAKE_CHAT, OPERATOR, "Аноним, Одноклассники: вы все там … (нецензурная брань и угрозы сотруднику)"
    )
    await d.press(INTAKE_CHAT, OPERATOR, "Одноклассники")
    await d.press(INTAKE_CHAT, OPERATOR, "п.15", case=4)
    await d.answer_prompt(INTAKE_CHAT, OPERATOR, "Нецензурные выражения и угрозы должностному лицу")

    await telegram_channel_block(d)

    say("14:10 Проект ответа уходит куратору ЦУР вместе с фото от ЖКХ; куратор возвращает его на доработку.")
    await d.at(14, 10)
    await d.reply_to_card(INTAKE_CHAT, OPERATOR, 1, "Пётр, здравствуйте! Яму отремонтируют 3 декабря.")
    await d.at(14, 25)
    await d.press(REGION_CURATOR.user_id, REGION_CURATOR, "На доработку", case=1)
    await d.answer_prompt(
        REGION_CURATOR.user_id, REGION_CURATOR, "Укажите подрядчика и пообещайте фото после ремонта."
    )
    await d.at(14, 50)
    await d.reply_to_card(INTAKE_CHAT, OPERATOR, 1,
                          "Пётр, здравствуйте! Ямочный ремонт у дома 5 выполнит ООО «Дорстрой» 3 декабря; "
                          "после ремонта разместим фото.")  # fmt: skip
    await d.at(15, 5)
    await d.press(REGION_CURATOR.user_id, REGION_CURATOR, "Согласовать", case=1)

    say("15:20 Оператор нажимает «Опубликовать»: ответ появляется ВКонтакте под комментарием жителя, "
        "ссылка на него — в карточке.")  # fmt: skip
    await d.at(15, 20)
    await d.press(INTAKE_CHAT, OPERATOR, "Опубликовать", case=1)

    merged_case = d.next_case()
    say(f"15:30 Ещё один комментарий ВКонтакте: Отклик забирает его сам (сообщение № {merged_case}, срок от 15:30).")
    await d.at(15, 30)
    merged = await d.vk_comment(post, VK_NEIGHBOUR[0],
                                "У остановки «Школа» на Садовой не убран снег, люди идут по проезжей части.")  # fmt: skip
    say("15:45 Куратор ЦУР передаёт тот же комментарий карточкой из ИМ (выявлен ЦУР в 15:10, раньше Отклика): "
        f"оператор вставляет её в чат приёма — она присоединяется к сообщению № {merged_case}, второго дела нет, "
        "сроки пересчитаны от времени выявления ЦУР.")  # fmt: skip
    await d.at(15, 45)
    await d.write(INTAKE_CHAT, OPERATOR,
                  f"Инцидент № 48213\nКомментарий: https://vk.com/wall-{VK_GROUP}_{post}?reply={merged.id}\n"
                  "Выявлено: 01.12.2026 15:10\nКуратор: Андрей Соколов")  # fmt: skip
    say("16:05 ПОС присылает уведомление на почту: Отклик сам читает ящик и регистрирует сообщение ПОС; "
        "категория «Дороги» по таблице [pos] — ускоренное решение (район и ЦУР НСО), срок 14 дней; "
        "карточка — у куратора ПОС.")  # fmt: skip
    await d.at(16, 5)
    await d.pos_mail("4519876", "Дороги", "01.12.2026 16:01", "Фёдоров А. В.",
                     "На перекрёстке ул. Мира и ул. Садовой не работает светофор.")  # fmt: skip
    ok_case = d.next_case()
    say("16:20 Жительница пишет комментарий в Одноклассниках под темой группы — Отклик сам забирает его (опрос API "
        f"Одноклассников): карточка № {ok_case} появляется в чате приёма без действий оператора.")  # fmt: skip
    await d.at(16, 20)
    await d.ok_comment(OK_CITIZEN, "Во дворе дома 3 на улице Гагарина не чистят снег, не пройти к подъезду.")
    await d.at(16, 30)
    await d.press(INTAKE_CHAT, OPERATOR, "Направить", case=ok_case)
    await d.press(INTAKE_CHAT, OPERATOR, "ЖКХ", case=ok_case)
    await d.press(INTAKE_CHAT, OPERATOR, "Готово", case=ok_case)
    await d.at(16, 35)
    await d.press(OFFICE_HEAD.user_id, OFFICE_HEAD, "Согласовать направление", case=ok_case)
    await d.at(16, 50)
    await d.reply_to_card(
        HOUSING_CHAT, HOUSING, ok_case, "Двор дома 3 по ул. Гагарина очистим от снега завтра до 12:00."
    )
    await d.at(17, 0)
    await d.reply_to_card(INTAKE_CHAT, OPERATOR, ok_case,
                          "Галина, здравствуйте! Двор дома 3 по улице Гагарина очистят от снега завтра до 12:00.")  # fmt: skip
    await d.at(17, 10)
    await d.press(REGION_CURATOR.user_id, REGION_CURATOR, "Согласовать", case=ok_case)
    say("17:15 «Опубликовать»: ответ группы появляется в Одноклассниках под комментарием жительницы.")
    await d.at(17, 15)
    await d.press(INTAKE_CHAT, OPERATOR, "Опубликовать", case=ok_case)
    await checks_block(d)
    await spike_block(d, post)
    say("18:00 Конец рабочего дня.")
    await d.at(18, 0)
    # --- issue 14: the п.18 report ---
    say("18:05 Глава района запрашивает отчёт о соблюдении сроков за неделю: сводка, диаграмма и файл Excel "
        "(в понедельник в 09:00 такой же отчёт за прошлую неделю приходит ему сам).")  # fmt: skip
    await d.at(18, 5)
    await d.command(HEAD.user_id, HEAD, "/report неделя")


async def telegram_channel_block(d: Director) -> None:
    """12:20–13:25: a comment under the administration's Telegram channel post becomes a case by itself and its
    approved answer goes into the post's thread. Its bot is the staff's Telegram bot: with the staff in MAX
    (`[channels.telegram]` is refused there) one line says so and MAX's citizens' scene plays in this slot."""
    say = d.say
    if d.channel is None:
        case = d.next_case()
        say("12:30 Сцены с Telegram-каналом администрации нет: канал Telegram читает бот Telegram, а сотрудники "
            "работают в MAX — вместо неё житель пишет боту администрации в MAX, и его сообщение само становится "
            f"сообщением № {case}: карточка — в чате приёма, жителю — ответ с номером.")  # fmt: skip
        await d.at(12, 30)
        await d.max_dialog(MAX_CITIZEN, "Здравствуйте! На детской площадке у дома 11 на улице Мира сломаны "
                                        "качели, торчит железный прут — дети могут пораниться.")  # fmt: skip
        if d.case_showing(INTAKE_CHAT, "сломаны качели") != case:
            raise DemoError(f"сообщение жителя в MAX не стало сообщением № {case}")
        await short_cycle(d, case,
                          "Сломанные качели у дома 11 по ул. Мира демонтируем 2 декабря, новые поставим до 10 декабря.",
                          "Алексей, здравствуйте! Сломанные качели у дома 11 по улице Мира уберут 2 декабря, "
                          "новые установят до 10 декабря.")  # fmt: skip
        say("13:25 Ответ согласован: «Опубликовать» — и он приходит жителю в диалог с ботом MAX, ответом на его "
            "сообщение.")  # fmt: skip
        await d.at(13, 25)
        await d.press(INTAKE_CHAT, OPERATOR, "Опубликовать", case=case)
        return
    say(
        "12:30 В Telegram-канале администрации вопрос в комментариях к посту: он тоже становится сообщением сам."
    )
    await d.at(12, 20)
    thread = await d.tg_post(TG_POST)
    case = d.next_case()
    await d.at(12, 30)
    await d.tg_comment(
        thread, TG_CITIZEN, "Поставьте, пожалуйста, скамейки у детской площадки — сесть негде."
    )
    await short_cycle(d, case, "Шесть скамеек у детской площадки установим до 15 мая.",
                      "Анна, здравствуйте! Шесть скамеек у детской площадки установят до 15 мая.")  # fmt: skip
    say("13:25 Ответ согласован: «Опубликовать» — и он появляется ответом на комментарий в обсуждении поста.")
    await d.at(13, 25)
    await d.press(INTAKE_CHAT, OPERATOR, "Опубликовать", case=case)


async def short_cycle(d: Director, case: int, information: str, draft: str) -> None:
    """12:40–13:20, the channel scenes' cycle: routed to the housing unit, its information, the operator's draft,
    the ЦУР curator's approval."""
    await d.at(12, 40)
    await d.press(INTAKE_CHAT, OPERATOR, "Направить", case=case)
    await d.press(INTAKE_CHAT, OPERATOR, "ЖКХ", case=case)
    await d.press(INTAKE_CHAT, OPERATOR, "Готово", case=case)
    await d.at(12, 45)
    await d.press(OFFICE_HEAD.user_id, OFFICE_HEAD, "Согласовать направление", case=case)
    await d.at(13, 0)
    await d.reply_to_card(HOUSING_CHAT, HOUSING, case, information)
    await d.at(13, 10)
    await d.reply_to_card(INTAKE_CHAT, OPERATOR, case, draft)
    await d.at(13, 20)
    await d.press(REGION_CURATOR.user_id, REGION_CURATOR, "Согласовать", case=case)


async def checks_block(d: Director) -> None:
    """17:20–17:35, issue 13: the screening flags an abusive message at intake and one tap excludes it; the answer
    checks hold a draft without a greeting, the operator presses «Исправить» and sends a corrected one."""
    say = d.say
    say("17:20 Оператор вставляет в чат приёма комментарий с угрозой: Отклик сам проверяет текст (п.15) — на "
        "карточке предупреждение со словами, которые его вызвали, и «Исключить (п.15)» одним нажатием.")  # fmt: skip
    await d.at(17, 20)
    await d.write(INTAKE_CHAT, OPERATOR, "Виктор Жуков, ВКонтакте: Если к утру не уберёте снег на улице Садовой, "
                                         "я главе района голову оторву!")  # fmt: skip
    await d.press(INTAKE_CHAT, OPERATOR, texts.BTN_INTAKE["vk"])
    abusive = d.case_showing(INTAKE_CHAT, "голову оторву")
    say(f"  На карточке № {abusive}: {d.card_line(INTAKE_CHAT, abusive, '⚠')}")
    await d.at(17, 22)
    await d.press(INTAKE_CHAT, OPERATOR, "Исключить (п.15)", case=abusive)

    say("17:25 Сообщение о фонаре направлено в ЖКХ; проект ответа без приветствия проверка задерживает и "
        "показывает замечание — оператор нажимает «Исправить» и присылает исправленный проект.")  # fmt: skip
    await d.at(17, 25)
    await d.write(INTAKE_CHAT, OPERATOR,
                  "Нина Белова, ВКонтакте: Во дворе дома 9 на улице Садовой не горит фонарь, вечером темно.")  # fmt: skip
    await d.press(INTAKE_CHAT, OPERATOR, texts.BTN_INTAKE["vk"])
    lamp = d.case_showing(INTAKE_CHAT, "не горит фонарь")
    await d.press(INTAKE_CHAT, OPERATOR, "Направить", case=lamp)
    await d.press(INTAKE_CHAT, OPERATOR, "ЖКХ", case=lamp)
    await d.press(INTAKE_CHAT, OPERATOR, "Готово", case=lamp)
    await d.at(17, 27)
    await d.press(OFFICE_HEAD.user_id, OFFICE_HEAD, "Согласовать направление", case=lamp)
    await d.at(17, 30)
    await d.reply_to_card(INTAKE_CHAT, OPERATOR, lamp, "Фонарь во дворе дома 9 заменят 2 декабря.")
    await d.press(INTAKE_CHAT, OPERATOR, texts.BTN_FIX_DRAFT)
    await d.at(17, 33)
    await d.reply_to_card(INTAKE_CHAT, OPERATOR, lamp,
                          "Нина, здравствуйте! Фонарь во дворе дома 9 заменят 2 декабря.")  # fmt: skip
async def spike_block(d: Director, post: int) -> None:
    """17:40–17:55: six comments about one address; the fifth makes a spike, the head is told at once (п.17)."""
    d.say(f"17:40 Жители пишут ВКонтакте об одной аварии ({SPIKE_ADDRESS}): шесть комментариев за 15 минут. "
          "Отклик собирает похожие сообщения в группу; на пятом за два часа Глава района сразу получает доклад "
          "со списком сообщений, о шестом — отдельное уведомление.")  # fmt: skip
    numbers: list[int] = []
    for (user, _first, _last), minute, text in SPIKE_COMMENTS:
        await d.at(17, minute)
        comment = await d.vk_comment(post, user, text)
        async with d.app.repo.reading() as tx:
            case_id = await tx.find_case_by_source(Source.VK.value, f"-{VK_GROUP}_{comment.id}")
        if case_id is None:
            raise DemoError(f"комментарий ВКонтакте в 17:{minute} не стал сообщением")
        numbers.append(case_id)
    d.say(
        f"17:55 Сообщения № {', '.join(map(str, numbers))} — в докладе Главе района; карточки — в чате приёма."
    )


def _buttons_lines(rows: tuple[tuple[Button, ...], ...]) -> list[str]:
    return ["   " + " ".join(f"[{b.text}]" for b in row) for row in rows]


def message_lines(msg: Seen) -> list[str]:
    """The message as its reader sees it (the caption after the file's label), then its buttons."""
    lines = msg.text.splitlines() or [""]
    if msg.media:
        lines[0] = f"{msg.media} {lines[0]}".rstrip()
    return [f"   {line}" for line in lines] + _buttons_lines(msg.buttons)


def _reply_note(staff: StaffChats, msg: Seen) -> str:
    """« в ответ на «…»» for a reply, so the reader sees what was answered: the card, a notice, a prompt."""
    if msg.reply_to is None:
        return ""
    target = staff.message(msg.chat_id, msg.reply_to)
    first = (target.text or target.media).splitlines()
    quoted = first[0] if first else ""
    return f" в ответ на «{quoted[:50]}{'…' if len(quoted) > 50 else ''}»"


def transcript(staff: StaffChats, names: dict[int, str]) -> str:
    lines: list[str] = []
    for chat_id, title in CHAT_TITLES.items():
        messages = staff.history(chat_id)
        lines.append("")
        lines.append(f"══ {title} " + "═" * max(0, 70 - len(title)))
        if not messages:
            lines.append("  (сообщений нет)")
        for msg in messages:
            when = datetime.fromtimestamp(msg.date, TZ).strftime("%H:%M")
            who = "Отклик" if msg.from_bot else names.get(msg.from_id, str(msg.from_id))
            title = msg.text.split("\n", 1)[0]
            is_card = title.startswith("Сообщение № ") and " · " in title
            if msg.versions and not is_card:
                # A question answered by a press is edited into its answer: show what was asked on the way.
                lines.append(f"── {when} {who}:")
                for version in msg.versions:
                    lines.extend(f"   {line}" for line in version.text.splitlines())
                    lines.extend(_buttons_lines(version.buttons))
                    lines.append("   ⇒ после нажатия:")
                lines.extend(message_lines(msg))
                continue
            edited = " (карточка обновлялась)" if msg.versions else ""
            lines.append(f"── {when} {who}{edited}{'' if msg.from_bot else _reply_note(staff, msg)}:")
            lines.extend(message_lines(msg))
    return "\n".join(lines)


def vk_wall(vk: VkEmulator) -> str:
    """The VK wall as a visitor sees it: each post, then its comments (an answer names the comment it answers)."""
    group = vk.groups[VK_GROUP]
    lines: list[str] = []
    for post in group.posts.values():
        title = f"ВКонтакте, запись https://vk.com/wall-{VK_GROUP}_{post.id}"
        lines += ["", f"══ {title} " + "═" * max(0, 70 - len(title)), f"   {post.text}"]
        comments = vk.comments(VK_GROUP, post.id)
        if not comments:
            lines.append("  (комментариев нет)")
        by_id = {c.id: c for c in comments}
        for comment in comments:
            when = datetime.fromtimestamp(comment.date, TZ).strftime("%H:%M")
            if comment.from_id == group.owner_id:
                who = group.name
            else:
                user = vk.users[comment.from_id]
                who = f"{user.first_name} {user.last_name}".strip()
            note = ""
            target = by_id.get(comment.reply_to_comment or 0)
            if target is not None:
                quoted = target.text.splitlines()[0] if target.text else ""
                note = f" в ответ на «{quoted[:50]}{'…' if len(quoted) > 50 else ''}»"
            lines.append(f"── {when} {who}{note}:")
            lines.extend(f"   {line}" for line in comment.text.splitlines() or [""])
    return "\n".join(lines)


def ok_topic(ok: OkEmulator) -> str:
    """The OK group's topic as a visitor sees it: the citizens' comments and the group's answers to them."""
    title = f"Одноклассники, тема https://ok.ru/group/{OK_GROUP}/topic/{OK_TOPIC}"
    lines = ["", f"══ {title} " + "═" * max(0, 70 - len(title)), f"   {OK_TOPIC_TEXT}"]
    comments = ok.topics.get(OK_TOPIC, [])
    if not comments:
        lines.append("  (комментариев нет)")
    by_id = {c.id: c for c in comments}
    for comment in comments:
        # The emulator dates comments in UTC («YYYY-MM-DD HH:MM:SS»), as OK's API does.
        written = datetime.strptime(comment.date, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo("UTC"))
        who = OK_GROUP_NAME if comment.author_type == "GROUP" else comment.author_name
        note = ""
        target = by_id.get(comment.reply_to_comment_id)
        if target is not None:
            quoted = target.text.splitlines()[0] if target.text else ""
            note = f" в ответ на «{quoted[:50]}{'…' if len(quoted) > 50 else ''}»"
        lines.append(f"── {written.astimezone(TZ).strftime('%H:%M')} {who}{note}:")
        lines.extend(f"   {line}" for line in comment.text.splitlines() or [""])
    return "\n".join(lines)


def telegram_thread(staff: TelegramStaff, names: dict[int, str]) -> str:
    """The channel's discussion group: the post's copy, the citizen's comment and the bot's reply in its thread."""
    title = f"Telegram, обсуждение канала «{TG_CHANNEL_TITLE}»"
    lines = ["", f"══ {title} " + "═" * max(0, 70 - len(title))]
    for raw in staff.emu.history(TG_GROUP):
        msg = staff.seen(raw)
        when = datetime.fromtimestamp(msg.date, TZ).strftime("%H:%M")
        if raw.is_automatic_forward:
            who = f"{TG_CHANNEL_TITLE} (пост канала)"
        else:
            who = "Отклик" if msg.from_bot else names.get(msg.from_id, str(msg.from_id))
        note = "" if raw.is_automatic_forward else _reply_note(staff, msg)
        lines.append(f"── {when} {who}{note}:")
        lines.extend(message_lines(msg))
    return "\n".join(lines)


def max_thread(staff: MaxStaff, names: dict[int, str]) -> str:
    """The resident's dialog with the administration's MAX bot: his message, the acknowledgement with the case
    number and the published answer, each reply naming what it answers."""
    title = f"MAX, диалог жителя ({MAX_CITIZEN.name}) с ботом администрации"
    lines = ["", f"══ {title} " + "═" * max(0, 70 - len(title))]
    for msg in staff.history(MAX_CITIZEN.user_id):
        when = datetime.fromtimestamp(msg.date, TZ).strftime("%H:%M")
        who = "Отклик" if msg.from_bot else names.get(msg.from_id, str(msg.from_id))
        lines.append(f"── {when} {who}{_reply_note(staff, msg)}:")
        lines.extend(message_lines(msg))
    return "\n".join(lines)


@dataclass(frozen=True)
class Played:
    """The emulators after the day, stopped: their own records of what was posted (tests read them). `telegram`
    is the staff's emulator on Telegram (with the channel), None on MAX; `max` the other way round."""

    messenger: Messenger
    staff: StaffChats
    telegram: TelegramEmulator | None
    max: MaxEmulator | None
    vk: VkEmulator
    ok: OkEmulator


@contextlib.asynccontextmanager
async def staff_emulator(messenger: Messenger, clock: DemoClock) -> AsyncIterator[StaffChats]:
    """The staff's messenger emulator with the demo's people and chats; on Telegram also the administration's
    channel and its discussion group (the bot must be an administrator there to see the comments)."""
    if messenger == "max":
        async with MaxEmulator(wall_clock=lambda: clock.now().timestamp(), rate_limit=None) as max_emu:
            staff: StaffChats = MaxStaff(max_emu)
            _seat(staff)
            max_emu.add_user(MAX_CITIZEN.user_id, *_split_name(MAX_CITIZEN.name))
            yield staff
        return
    async with TelegramEmulator(wall_clock=lambda: clock.now().timestamp()) as emu:
        staff = TelegramStaff(emu)
        _seat(staff)
        emu.add_user(TG_CITIZEN.user_id, *_split_name(TG_CITIZEN.name))
        emu.add_channel(TG_CHANNEL, TG_CHANNEL_TITLE, group_id=TG_GROUP)
        emu.bot_status[TG_GROUP] = "administrator"
        yield staff


def _split_name(name: str) -> tuple[str, str | None]:
    first, _, last = name.partition(" ")
    return first, last or None


def _seat(staff: StaffChats) -> None:
    for person in PEOPLE:
        staff.add_user(person.user_id, *_split_name(person.name))
    for chat_id, title in CHAT_TITLES.items():
        staff.add_chat(chat_id, title)


async def demo(
    out: Callable[[str], None] = print, keep_db: Path | None = None, messenger: Messenger = "telegram"
) -> Played:
    clock = DemoClock(MORNING)
    names = {p.user_id: p.name for p in (*PEOPLE, TG_CITIZEN, MAX_CITIZEN)}
    with tempfile.TemporaryDirectory(prefix="otklik-demo-") as folder:
        async with (
            staff_emulator(messenger, clock) as staff,
            VkEmulator(rate_limit=None, max_wait=1, now=MORNING.timestamp()) as vk,
        ):
            tg = staff if isinstance(staff, TelegramStaff) else None
            ok = OkEmulator(now=MORNING.timestamp())
            await ok.start()
            ok.add_topic(OK_TOPIC)
            imap = ImapEmulator(POS_MAIL_USER, POS_MAIL_PASSWORD)
            await imap.start()
            vk.add_group(VK_GROUP, VK_GROUP_NAME)
            vk.add_user(*VK_CITIZEN)
            vk.add_user(*VK_NEIGHBOUR)
            for citizen, _minute, _text in SPIKE_COMMENTS:
                vk.add_user(*citizen)
            channels = demo_channels(vk, imap, ok, telegram=tg is not None)
            api_base, token, staff_messenger = staff.connection()
            settings = demo_settings(api_base, token, Path(folder) / "demo.sqlite3", channels=channels,
                                     messenger=staff_messenger)  # fmt: skip
            app = await OtklikApp.build(settings, clock=clock)
            polling = asyncio.create_task(app.run_polling())
            try:
                out(
                    "Отклик: демонстрация рабочего дня 01.12.2026 (Новосибирск) на встроенных эмуляторах "
                    f"{MESSENGER_NAMES[messenger]}{' (сотрудники)' if tg is None else ''}, "
                    "ВКонтакте, Одноклассников и почтового ящика ПОС."
                )
                director = Director(staff, app, clock, out, vk, imap, ok, channel=tg.emu if tg else None)
                # The reader's first sweep and its first long poll: from here on, events come by long poll.
                await vk.wait_for(lambda: vk.calls("wall.get"), timeout=30)
                await director.settle()
                await play_day(director)
            finally:
                await app.stop_polling()
                await asyncio.gather(polling, return_exceptions=True)
                await app.close()
                await imap.stop()
                await ok.stop()
            if keep_db is not None:  # after the close: every connection gone, the WAL folded into the file
                _keep(Path(folder) / "demo.sqlite3", keep_db)
            if tg is not None:
                thread = telegram_thread(tg, names) + "\n"
            else:
                assert isinstance(staff, MaxStaff)
                thread = max_thread(staff, names) + "\n"
            out(transcript(staff, names) + "\n" + vk_wall(vk) + "\n" + thread + ok_topic(ok))
    return Played(
        messenger, staff, tg.emu if tg else None, staff.emu if isinstance(staff, MaxStaff) else None, vk, ok
    )


def _keep(database: Path, target: Path) -> None:
    try:
        shutil.copyfile(database, target)
    except OSError as exc:
        raise DemoError(f"не удалось сохранить базу в {target}: {exc.strerror or exc}") from None


def run_demo(db: str | None = None, messenger: Messenger = "telegram") -> int:
    target = Path(db) if db else None
    if target is not None and (target.is_dir() or not target.parent.is_dir()):
        raise DemoError(f"не удаётся записать базу в {target}: нет такой папки или это папка")
    asyncio.run(demo(keep_db=target, messenger=messenger))
    return 0
