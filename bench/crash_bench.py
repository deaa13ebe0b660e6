"""What `kill -9` during a burst costs: a real `otklik run` process, the Telegram emulator in a process of its own.

    python bench/crash_bench.py [--messages 1000] [--rate 40] [--kills 4] [--seed 1] [--pg] [--no-floor]

Citizens' messages, as ЦУР IM cards with a «Выявлено» line (registered at once, no intake question), are posted
in the intake chat at `--rate` a second (the emulator keeps the pace in its own process); the bot is SIGKILLed
`--kills` times at seeded random moments of the burst and restarted each time. After the drain every message is
compared: was it registered, once; does every case have its card, once, in every chat that keeps it (the intake
chat: the office head gets a card only once a routing waits for him).

Printed: lost messages, duplicated cases, missing and doubled cards (and the «Зарегистрировано» replies, the
operator's notice of each case), and the time to drain after
the last restart; PASS or FAIL against the goal: 0 lost, 0 duplicated cases, 0 missing cards, doubled cards no
more than the kills. The floor beside it is the same burst with no kill, in the same run (`--no-floor` skips it).

The emulator enforces no flood limits unless `--emulator-limits` says so (`telegram`, or RateLimits fields as
JSON, e.g. '{"global_count": 30, "group_count": 60, "group_window": 1}'); the bot paces itself only with
`--bot-rate-limits` (Telegram's real pace: 20 a minute in a group makes a 1,000-card drain take most of an hour).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pg import LOCAL_URL
from tests.support.process import Figures, Rig

GOAL = "0 lost, 0 duplicated cases, 0 missing cards, doubled cards ≤ kills"


@dataclass(frozen=True)
class Run:
    fig: Figures
    after_restart: float  # seconds from the last restart (the first start without kills) to the drain
    after_burst: float  # seconds from the burst's last message to the drain
    why: str  # how the drain ended


def one_run(args: argparse.Namespace, folder: Path, kills: int) -> Run:
    with Rig(
        folder,
        pg_server_url=args.pg_url if args.pg else None,
        emulator_limits=args.emulator_limits,
        bot_rate_limits=args.bot_rate_limits,
    ) as rig:
        started = time.monotonic()
        _, up_at = rig.burst_with_kills(args.messages, args.rate, kills, seed=args.seed, log=print)
        burst_end = time.monotonic()
        print(f"  burst of {args.messages} done in {burst_end - started:.1f} s; draining…")
        drain = rig.drain(timeout=args.drain_timeout, stall=args.stall)
        return Run(rig.figures(), drain.ended_at - up_at, drain.ended_at - burst_end, drain.why)


def print_figures(name: str, run: Run) -> None:
    fig = run.fig
    doubled = ", ".join(f"chat {chat}: {n}" for chat, n in sorted(fig.doubled_cards.items())) or "none"
    print(f"{name}")
    print(f"  messages pushed            {fig.pushed:8d}")
    print(f"  kills                      {fig.kills:8d}")
    print(f"  lost                       {len(fig.lost):8d}")
    print(f"  duplicated cases           {fig.duplicated_cases:8d}")
    print(f"  missing cards              {len(fig.missing_cards):8d}")
    print(f"  doubled cards              {fig.doubled_total:8d}   ({doubled})")
    print(f"  missing / doubled replies  {fig.missing_notices:4d} / {fig.doubled_notices:<4d}")
    print(f"  «уже зарегистрировано»     {fig.already_registered:8d}")
    print(f"  left unconfirmed / outbox  {fig.pending_updates:4d} / {fig.pending_outbox:<4d}")
    print(f"  restarts refused (exit 2)  {fig.refused_restarts:8d}   ({fig.refused_seconds:.0f} s in all)")
    print(f"  drain after last restart   {run.after_restart:8.1f} s   ({run.why})")
    print(f"  drain after the burst      {run.after_burst:8.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=40.0, help="messages a second")
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1, help="draws the kill moments")
    parser.add_argument(
        "--pg", action="store_true", help="PostgreSQL (a database of its own) instead of SQLite"
    )
    parser.add_argument("--pg-url", default=LOCAL_URL, help="the server, with any existing database")
    parser.add_argument("--emulator-limits", default="off", metavar="off|telegram|JSON")
    parser.add_argument("--bot-rate-limits", action="store_true", help="telegram.rate_limits = true")
    parser.add_argument("--drain-timeout", type=float, default=600.0, help="seconds")
    parser.add_argument(
        "--stall", type=float, default=30.0, help="give up after this long with no Bot API call"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the run without kills")
    parser.add_argument("--keep", metavar="DIR", help="keep configs, databases and logs here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="otklik-crashbench-") as tmp:
        root = Path(args.keep) if args.keep else Path(tmp)
        backend = "PostgreSQL" if args.pg else "SQLite"
        print(f"{args.messages} messages at {args.rate:g}/s, {args.kills} kill -9, seed {args.seed}, {backend}, "
              f"emulator limits {args.emulator_limits}, bot pacing {'on' if args.bot_rate_limits else 'off'}")  # fmt: skip
        if not args.no_floor:
            print("floor: the same burst, no kill")
            floor = one_run(args, root / "floor", 0)
        print(f"with {args.kills} kills")
        run = one_run(args, root / "kills", args.kills)
    print()
    if not args.no_floor:
        print_figures("floor (no kill)", floor)
    print_figures(f"{args.kills} kills", run)
    fig = run.fig
    problems = fig.problems(doubled_per_chat=fig.kills, doubled_total=fig.kills)
    verdict = "PASS" if not problems else "FAIL: " + "; ".join(problems)
    print(f"goal ({GOAL}): {verdict}")
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
