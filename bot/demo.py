"""`otklik demo`: the real bot against the built-in Telegram emulator, playing one working day.

No token and no network: the emulator listens on 127.0.0.1, the database is a temporary SQLite file, and the
clock is virtual — it jumps from step to step and the real sweeper runs at every jump, so reminders and missed
terms appear when they would. At the end it prints what every chat saw.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import OtklikApp
from bot.settings import (
    ChatSettings,
    DatabaseSettings,
    SchedulerSettings,
    Settings,
    StaffMember,
    TelegramSettings,
)
from emulators.telegram import ChatMessage, TelegramEmulator, visible_text

TZ = ZoneInfo("Asia/Novosibirsk")
START = datetime(2026, 12, 1, 9, 30, tzinfo=TZ)  # a Tuesday
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


class DemoClock:
    def __init__(self, now: datetime) -> None:
        self.instant = now

    def now(self) -> datetime:
        return self.instant


def demo_settings(api_base: str, token: str, db_path: Path) -> Settings:
    return Settings(
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{db_path}"),
        telegram=TelegramSettings(token=token, api_base=api_base, rate_limits=False),
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
    )


class DemoError(Exception):
    """The demo script could not find what it expected on screen: says which step."""


class Director:
    """Plays people: writes, replies and presses buttons in the emulator, then waits for the bot to finish."""

    def __init__(
        self, emu: TelegramEmulator, app: OtklikApp, clock: DemoClock, say: Callable[[str], None]
    ) -> None:
        self.emu = emu
        self.app = app
        self.clock = clock
        self.say = say

    async def at(self, hh: int, mm: int, day: int = 0) -> None:
        """Move the virtual clock forward, running the real sweeper at the new instant."""
        target = (START + timedelta(days=day)).replace(hour=hh, minute=mm)
        # Stop at every reminder or miss on the way, as the 30-second sweeper would.
        while True:
            async with self.app.repo.transaction() as tx:
                nearest = await tx.earliest_attention()
            if nearest is None or nearest > target or nearest <= self.clock.instant:
                break
            self.clock.instant = nearest
            await self.app.sweep()
            await self.settle()
        self.clock.instant = max(self.clock.instant, target)
        await self.app.sweep()
        await self.settle()

    async def settle(self) -> None:
        """Wait until every update is confirmed and handled and every delivery it woke has finished.

        Asks the bot itself, not a quiet spell of API calls: a handler slower than any pause would otherwise
        finish after the clock had moved on, and a reminder would land at another step from run to run."""
        await self.emu.wait_for(lambda: not self.emu.pending_updates and self.app.quiet(), timeout=30)

    def _cards(self, chat_id: int) -> list[ChatMessage]:
        return [m for m in self.emu.sent(chat_id) if m.from_bot and m.buttons]

    def _cards_of(self, chat_id: int, case: int | None) -> list[ChatMessage]:
        cards = self._cards(chat_id)
        if case is None:
            return cards
        return [m for m in cards if visible_text(m).startswith(f"Сообщение № {case} ")]

    def _find_button(self, chat_id: int, label: str, case: int | None = None) -> tuple[ChatMessage, str]:
        for msg in reversed(self._cards_of(chat_id, case)):
            for row in msg.buttons:
                for button in row:
                    if label in str(button.get("text", "")) and "callback_data" in button:
                        return msg, str(button["callback_data"])
        raise DemoError(f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» нет кнопки «{label}»")

    async def press(self, chat_id: int, person: Person, label: str, case: int | None = None) -> None:
        msg, data = self._find_button(chat_id, label, case)
        self.say(f"  {person.name} нажимает «{label}»")
        self.emu.push_callback(chat_id, person.user_id, msg.message_id, data)
        await self.settle()

    async def write(self, chat_id: int, person: Person, text: str) -> None:
        self.say(f"  {person.name} пишет: {text[:70]}{'…' if len(text) > 70 else ''}")
        self.emu.push_message(chat_id, person.user_id, text)
        await self.settle()

    async def reply_to_card(self, chat_id: int, person: Person, case: int, text: str) -> None:
        cards = self._cards_of(chat_id, case)
        if not cards:
            raise DemoError(f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» нет карточки сообщения № {case}")
        self.say(f"  {person.name} отвечает на карточку № {case}: {text[:60]}{'…' if len(text) > 60 else ''}")
        self.emu.push_message(chat_id, person.user_id, text, reply_to_message_id=cards[-1].message_id)
        await self.settle()

    async def reply_to_notice(
        self, chat_id: int, person: Person, case: int, text: str, photo: bytes | None = None
    ) -> None:
        """Reply to the bot's latest notice or reminder about the case (🔔/⏰, not the card), with a photo if
        given (the text is then its caption)."""
        notices = [
            m
            for m in self.emu.sent(chat_id)
            if m.from_bot
            and not m.buttons
            and visible_text(m).startswith(("🔔", "⏰"))
            and f"Сообщение № {case}" in visible_text(m).splitlines()
        ]
        if not notices:
            raise DemoError(
                f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» нет уведомления о сообщении № {case}"
            )
        first_line = visible_text(notices[-1]).splitlines()[0]
        media = "[фото] " if photo is not None else ""
        self.say(
            f"  {person.name} отвечает на «{first_line[:40]}…»: {media}{text[:50]}{'…' if len(text) > 50 else ''}"
        )
        self.emu.push_message(
            chat_id, person.user_id, text, reply_to_message_id=notices[-1].message_id, photo=photo
        )
        await self.settle()

    async def command(self, chat_id: int, person: Person, text: str) -> None:
        self.say(f"  {person.name} отправляет команду {text}")
        self.emu.push_message(chat_id, person.user_id, text)
        await self.settle()

    async def answer_prompt(self, chat_id: int, person: Person, text: str) -> None:
        """Reply to the bot's latest prompt (a ForceReply asking for a reason or a link)."""
        prompts = [
            m for m in self.emu.sent(chat_id) if m.from_bot and "ответом на это сообщение" in visible_text(m)
        ]
        if not prompts:
            raise DemoError(f"в чате «{CHAT_TITLES.get(chat_id, chat_id)}» бот ничего не спросил")
        self.say(f"  {person.name} отвечает: {text}")
        self.emu.push_message(chat_id, person.user_id, text, reply_to_message_id=prompts[-1].message_id)
        await self.settle()


async def play_day(d: Director) -> None:
    say = d.say
    say(
        "09:30 В ЦУР заметили комментарий в группе администрации ВКонтакте и передали его уполномоченному лицу."
    )
    await d.at(9, 30)
    await d.write(INTAKE_CHAT, OPERATOR,
                  "Пётр Смирнов, ВКонтакте: На улице Ленина у дома 5 огромная яма, две машины уже пробили колёса. "
                  "Когда отремонтируют? <b>Срочно</b> & без отписок!")  # fmt: skip
    say(
        "09:30 Бот спрашивает под сообщением, откуда оно: одно нажатие «От ЦУР» регистрирует его; время выявления "
        "ЦУР бот предлагает взять из сообщения — ещё одно нажатие."
    )
    await d.press(INTAKE_CHAT, OPERATOR, "От ЦУР")
    await d.press(INTAKE_CHAT, OPERATOR, "Как в сообщении")
    say("09:40 Уполномоченное лицо направляет сообщение в ЖКХ; начальник управления делами согласует.")
    await d.at(9, 40)
    await d.press(INTAKE_CHAT, OPERATOR, "Направить")
    await d.press(INTAKE_CHAT, OPERATOR, "ЖКХ")
    await d.press(INTAKE_CHAT, OPERATOR, "Готово")
    say("09:50 Начальник управления делами смотрит, что ждёт его: в /my — согласование направления.")
    await d.at(9, 50)
    await d.command(OFFICE_HEAD.user_id, OFFICE_HEAD, "/my")
    await d.at(9, 55)
    await d.press(OFFICE_HEAD.user_id, OFFICE_HEAD, "Согласовать направление")
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
    await d.press(HOUSING_CHAT, HOUSING, "Принять", case=2)

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
    await d.press(INTAKE_CHAT, OPERATOR, "п.15", case=3)
    await d.answer_prompt(INTAKE_CHAT, OPERATOR, "Нецензурные выражения и угрозы должностному лицу")

    say("14:10 Проект ответа уходит куратору ЦУР вместе с фото от ЖКХ; куратор возвращает его на доработку.")
    await d.at(14, 10)
    await d.reply_to_card(INTAKE_CHAT, OPERATOR, 1, "Пётр, здравствуйте! Яму отремонтируют 3 декабря.")
    await d.at(14, 25)
    await d.press(REGION_CURATOR.user_id, REGION_CURATOR, "На доработку")
    await d.answer_prompt(
        REGION_CURATOR.user_id, REGION_CURATOR, "Укажите подрядчика и пообещайте фото после ремонта."
    )
    await d.at(14, 50)
    await d.reply_to_card(INTAKE_CHAT, OPERATOR, 1,
                          "Пётр, здравствуйте! Ямочный ремонт у дома 5 выполнит ООО «Дорстрой» 3 декабря; "
                          "после ремонта разместим фото.")  # fmt: skip
    await d.at(15, 5)
    await d.press(REGION_CURATOR.user_id, REGION_CURATOR, "Согласовать")

    say("15:20 Ответ опубликован ВКонтакте.")
    await d.at(15, 20)
    await d.press(INTAKE_CHAT, OPERATOR, "Опубликовано", case=1)
    await d.answer_prompt(INTAKE_CHAT, OPERATOR, "https://vk.com/wall-123_4567?reply=8910")
    say("18:00 Конец рабочего дня.")
    await d.at(18, 0)


def media_label(msg: ChatMessage) -> str:
    """How the transcript shows a message's file: Telegram shows the file, a transcript can only name it."""
    if msg.photo:
        return "[фото]"
    if msg.document:
        return f"[документ {msg.document.get('file_name', '')}]".replace(" ]", "]")
    if msg.video:
        return "[видео]"
    return ""


def message_lines(msg: ChatMessage) -> list[str]:
    """The message as its reader sees it (the caption after the file's label), then its buttons."""
    text = visible_text(msg) if msg.from_bot else (msg.text or "")
    label = media_label(msg)
    lines = text.splitlines() or [""]
    if label:
        lines[0] = f"{label} {lines[0]}".rstrip()
    lines = [f"   {line}" for line in lines]
    for row in msg.buttons:
        lines.append("   " + " ".join(f"[{b.get('text', '')}]" for b in row))
    return lines


def _reply_note(emu: TelegramEmulator, msg: ChatMessage) -> str:
    """« в ответ на «…»» for a reply, so the reader sees what was answered: the card, a notice, a prompt."""
    if msg.reply_to_message_id is None:
        return ""
    target = emu.message(msg.chat_id, msg.reply_to_message_id)
    first = ((visible_text(target) if target.from_bot else target.text) or media_label(target)).splitlines()
    quoted = first[0] if first else ""
    return f" в ответ на «{quoted[:50]}{'…' if len(quoted) > 50 else ''}»"


def transcript(emu: TelegramEmulator, names: dict[int, str]) -> str:
    lines: list[str] = []
    for chat_id, title in CHAT_TITLES.items():
        messages = emu.history(chat_id)
        lines.append("")
        lines.append(f"══ {title} " + "═" * max(0, 70 - len(title)))
        if not messages:
            lines.append("  (сообщений нет)")
        for msg in messages:
            when = datetime.fromtimestamp(msg.date, TZ).strftime("%H:%M")
            who = "Отклик" if msg.from_bot else names.get(msg.from_id, str(msg.from_id))
            title = visible_text(msg).split("\n", 1)[0]
            is_card = title.startswith("Сообщение № ") and " · " in title
            if msg.edits and not is_card:
                # A question answered by a press is edited into its answer: show what was asked on the way.
                lines.append(f"── {when} {who}:")
                for version in msg.edits:
                    lines.extend(f"   {line}" for line in visible_text(version).splitlines())
                    for row in (version.reply_markup or {}).get("inline_keyboard", []):
                        lines.append("   " + " ".join(f"[{b.get('text', '')}]" for b in row))
                    lines.append("   ⇒ после нажатия:")
                lines.extend(message_lines(msg))
                continue
            edited = " (карточка обновлялась)" if msg.edits else ""
            lines.append(f"── {when} {who}{edited}{'' if msg.from_bot else _reply_note(emu, msg)}:")
            lines.extend(message_lines(msg))
    return "\n".join(lines)


async def demo(out: Callable[[str], None] = print) -> None:
    clock = DemoClock(START)
    with tempfile.TemporaryDirectory(prefix="otklik-demo-") as folder:
        async with TelegramEmulator(wall_clock=lambda: clock.now().timestamp()) as emu:
            for person in PEOPLE:
                first, _, last = person.name.partition(" ")
                emu.add_user(person.user_id, first, last or None)
            for chat_id, title in CHAT_TITLES.items():
                emu.add_chat(chat_id, None if chat_id > 0 else "supergroup", title=title)
            app = await OtklikApp.build(
                demo_settings(emu.base_url, emu.token, Path(folder) / "demo.sqlite3"), clock=clock
            )
            polling = asyncio.create_task(app.run_polling())
            try:
                out(
                    "Отклик: демонстрация рабочего дня 01.12.2026 (Новосибирск) на встроенном эмуляторе Telegram."
                )
                await play_day(Director(emu, app, clock, out))
            finally:
                await app.stop_polling()
                await asyncio.gather(polling, return_exceptions=True)
                await app.close()
            out(transcript(emu, {p.user_id: p.name for p in PEOPLE}))


def run_demo() -> int:
    asyncio.run(demo())
    return 0
