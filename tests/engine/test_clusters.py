"""Activity spikes (issue 13 item 3) through the registration use case, on every repository: the head is told
once when a cluster crosses the threshold, then at the next member and at each doubling (a storm is a few
«grew» notices, not one per comment), nothing is told twice after a restart, and a repeat is suggested by author or by text (item 4)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from tests.engine.conftest import Database, actor, make_services, os_message, outbox, pos_message
from tests.fakes import FakeClock
from workflow.calendar import WorkingCalendar
from workflow.clusters import Window
from workflow.model import Network, Role
from workflow.ports import Repository
from workflow.services import Services
from workflow.services.clusters import SPIKE, SPIKE_GREW, SpikeSettings, milestones

PIPE = [
    "На ул. Октябрьская, 14 прорвало трубу, вода во дворе",
    "Октябрьская 14 — третий час хлещет вода из трубы",
    "у дома 14 на улице Октябрьской течёт вода из-под асфальта",
    "Октябрьская, 14: когда починят трубу? Двор затоплен",
    "На Октябрьской улице возле дома 14 авария водопровода",
    "Октябрьская, 14 — вода уже в подвале!",
    "ул. Октябрьская, 14, снова прорыв",
]
OTHER = "Во дворе дома 3 на улице Гагарина не чистят снег"


def spiky(repo: Repository, clock: FakeClock, calendar: WorkingCalendar, threshold: int = 5) -> Services:
    services = make_services(repo, clock, calendar)
    services.spikes = SpikeSettings(window=Window(threshold=threshold, minutes=120))
    return services


async def comment(services: Services, clock: FakeClock, n: int, text: str, minutes: int = 5) -> int:
    clock.advance(timedelta(minutes=minutes))
    message = os_message(
        f"wall-1_{n}", received_at=clock.now(), text=text, author_id=1000 + n, network=Network.VK
    )
    return (await services.register(message, actor(Role.SYSTEM))).case.id


async def head_notices(repo: Repository) -> list[tuple[str, int | None, dict[str, object]]]:
    return [
        (i.notification.kind, i.notification.case_id, i.notification.payload)
        for i in await outbox(repo)
        if i.notification.to_role is Role.HEAD
    ]


async def test_a_cluster_crossing_the_threshold_is_reported_once_and_then_grows(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    services = spiky(repo, clock, calendar)
    ids = [await comment(services, clock, n, text) for n, text in enumerate(PIPE[:4])]
    await comment(services, clock, 50, OTHER)  # another subject in between: not a member
    assert await head_notices(repo) == []  # four similar: below the threshold

    fifth = await comment(services, clock, 4, PIPE[4])
    [(kind, case_id, report)] = await head_notices(repo)
    assert (kind, case_id) == (SPIKE, None)
    assert report["count"] == 5 and report["minutes"] == 120
    assert report["address"] == "ул. Октябрьская, 14"
    listed = report["cases"]
    assert isinstance(listed, list) and [c["id"] for c in listed] == [*ids, fifth]
    assert listed[0]["text"] == PIPE[0]
    assert "вода" in report["topic"]  # type: ignore[operator]

    sixth = await comment(services, clock, 5, PIPE[5])
    notices = await head_notices(repo)
    assert [(k, c) for k, c, _ in notices] == [(SPIKE, None), (SPIKE_GREW, sixth)]
    grew = notices[1][2]
    assert grew["count"] == 6 and [c["id"] for c in grew["cases"]] == [sixth]  # type: ignore[union-attr]


def test_the_milestones_after_the_report() -> None:
    assert milestones(5, 4) == [] and milestones(5, 6) == [6]
    assert milestones(5, 45) == [6, 10, 20, 40]
    assert milestones(2, 9) == [3, 4, 8]


async def test_a_storm_is_a_few_notices_each_with_the_members_since_the_last(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    services = spiky(repo, clock, calendar)
    ids = [await comment(services, clock, n, PIPE[n % len(PIPE)], minutes=1) for n in range(45)]
    notices = await head_notices(repo)
    assert [(k, p["count"]) for k, _, p in notices] == [
        (SPIKE, 5), (SPIKE_GREW, 6), (SPIKE_GREW, 10), (SPIKE_GREW, 20), (SPIKE_GREW, 40)
    ]  # fmt: skip
    listed = [[c["id"] for c in p["cases"]] for _, _, p in notices]  # type: ignore[attr-defined]
    assert listed[1] == [ids[5]] and listed[2] == ids[6:10] and listed[3] == ids[10:20]
    assert listed[4] == ids[20:40] and notices[4][2]["more"] == 0  # 20 joined: all listed
    assert [c for _, c, _ in notices[1:]] == [ids[5], ids[9], ids[19], ids[39]]  # on the card that crossed it


async def test_a_restart_reports_nothing_again(
    db: Database, repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    services = spiky(repo, clock, calendar)
    for n, text in enumerate(PIPE[:5]):
        await comment(services, clock, n, text)
    # Another process (a restart) over the same database: the cluster's state is in it, not in memory.
    again = spiky(await db.open(), clock, calendar)
    seventh = await comment(again, clock, 6, PIPE[6])
    kinds = [(k, c) for k, c, _ in await head_notices(repo)]
    assert kinds == [(SPIKE, None), (SPIKE_GREW, seventh)]
    # The same comment registered again is the same case: no second «grew».
    message = os_message(
        "wall-1_6", received_at=clock.now(), text=PIPE[6], author_id=1006, network=Network.VK
    )
    assert (await again.register(message, actor(Role.SYSTEM))).created is False
    assert [(k, c) for k, c, _ in await head_notices(repo)] == kinds


async def test_messages_spread_beyond_the_window_are_no_spike(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    services = spiky(repo, clock, calendar)
    for n, text in enumerate(PIPE[:6]):
        await comment(services, clock, n, text, minutes=40)  # six over 4 hours: at most 4 within any 2 hours
    assert await head_notices(repo) == []


async def test_the_threshold_is_configurable_and_pos_is_not_clustered(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    services = spiky(repo, clock, calendar, threshold=2)
    for n in range(3):
        clock.advance(timedelta(minutes=1))
        await services.register(
            pos_message(f"pos-{n}", received_at=clock.now(), text=PIPE[n]), actor(Role.POS_CURATOR)
        )
    assert await head_notices(repo) == []
    await comment(services, clock, 1, PIPE[0])
    await comment(services, clock, 2, PIPE[1])
    assert [k for k, _, _ in await head_notices(repo)] == [SPIKE]


async def test_a_repeat_is_suggested_by_author_or_by_text(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    services = spiky(repo, clock, calendar)
    first = await comment(services, clock, 1, "Не горят фонари во дворе дома 3 по улице Гагарина")
    clock.advance(timedelta(days=10))
    # The same author (VK id 1001) on another subject: offered as a repeat of his case.
    by_author = os_message(
        "wall-1_77", received_at=clock.now(), text=OTHER, author_id=1001, network=Network.VK
    )
    outcome = await services.register(by_author, actor(Role.SYSTEM))
    assert outcome.case.repeat_suggested == first and outcome.case.repeat_of is None
    # Another author, nearly the same text: offered too.
    clock.advance(timedelta(days=1))
    by_text = await comment(services, clock, 9, "Не горят фонари во дворе дома 3 по улице Гагарина!")
    async with repo.reading() as tx:
        case = await tx.get_case(by_text)
    assert case is not None and case.repeat_suggested == first
    # Past repeat_days (30): nothing is offered.
    clock.advance(timedelta(days=31))
    late = await comment(services, clock, 1, "Не горят фонари во дворе дома 3 по улице Гагарина")
    async with repo.reading() as tx:
        case = await tx.get_case(late)
    assert case is not None and case.repeat_suggested is None


def test_simulate_emits_the_spike_report_to_the_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    steps = "".join(
        f'\n[[step]]\nat = "2026-12-01T{hhmm}:00+07:00"\ncase = "{label}"\ndo = "register"\n'
        f'as = "operator"\ntext = "{text}"\n'
        for hhmm, label, text in zip(
            ("17:40", "17:45", "17:50", "17:55", "18:00", "18:05"), "ABCDEF", PIPE[:6], strict=True
        )
    )
    scenario = tmp_path / "spike.toml"
    scenario.write_text(steps, encoding="utf-8")
    assert main(["simulate", str(scenario), "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    spikes = [json.loads(x) for x in out.splitlines() if '"activity_spike' in x]
    assert [(s["type"], s["kind"], s["to"], s["at"]) for s in spikes] == [
        ("notify", SPIKE, "head", "2026-12-01T18:00:00+07:00"),
        ("notify", SPIKE_GREW, "head", "2026-12-01T18:05:00+07:00"),
    ]
    assert spikes[0]["cases"] == ["A", "B", "C", "D", "E"] and spikes[0]["count"] == 5
    assert spikes[1]["case"] == "F" and spikes[1]["cases"] == ["F"]
    assert main(["simulate", str(scenario)]) == 0
    human = capsys.readouterr().out
    assert "Глава района: повышенная социальная активность (п.17): 5 сообщений — A, B, C, D, E" in human
