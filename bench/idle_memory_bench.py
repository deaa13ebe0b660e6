"""How much memory `otklik run` holds when idle, against the 200 MiB goal (issue 16) and the libraries' floor.

    python bench/idle_memory_bench.py [--settle 60] [--quiet-for 8] [--no-floor] [--tracemalloc]
                                      [--imports]

A real `otklik run` process (the console script beside this interpreter) polls the Telegram emulator in a
process of its own (`python -m emulators.telegram`, started by tests/support/process.py's Rig with the demo's
people and chats, a config.toml and a SQLite file in a temporary folder), twice: the first start migrates the
new database, the restart finds it at the head (a deployed bot's usual start). Readiness is read from the emulator:
the bot has called getUpdates (the first start's migration runs in a child process of its own, so Alembic is
not in the bot's figure). Then VmRSS is sampled every half second until it has moved less than 0.5 MiB for
`--quiet-for` seconds (bounded by `--settle`), and VmRSS, VmHWM (the peak), RssAnon and the thread count are
read from /proc/PID/status.

The floor, in the same run: a bare python process that imports only aiogram, SQLAlchemy's asyncio extension
and aiosqlite (what any aiogram bot on SQLite holds before it does anything) and waits; and the same with
aiogram's models deferred as `otklik run` imports it (bot/aiogram_schemas.py), the floor the bot is compared with.

`--tracemalloc`: one more rig whose `otklik run` runs under `-X tracemalloc`; once its restart has settled, a
SIGUSR1 makes it write the top allocation sites (by file, by line) and the top-level modules it has imported;
its RSS is not comparable (tracemalloc's own books).
`--imports`: RSS after each module `otklik run` imports at start, in import order (a fresh process imports them
one by one), the biggest deltas first — what the import graph costs before any object is built.

Every process started here is stopped before it exits (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.process import OTKLIK, ROOT, OtklikProcess, Rig, _child_env

GOAL_MIB = 200.0
FLOOR_IMPORTS = "import aiogram, sqlalchemy.ext.asyncio, aiosqlite"
# The second floor: the same imports with aiogram's models built on first use, as `otklik run` imports it.
DEFER = "from bot.aiogram_schemas import defer_aiogram_schemas\ndefer_aiogram_schemas()\n"
# One line per module from `-X importtime`: "import time: self | cumulative | <indent>name".
IMPORTTIME_PREFIX = "import time:"


@dataclass(frozen=True)
class Memory:
    rss: float  # MiB
    hwm: float
    anon: float
    threads: int

    def line(self) -> str:
        return f"VmRSS {self.rss:6.1f} MiB  VmHWM {self.hwm:6.1f} MiB  RssAnon {self.anon:6.1f} MiB  threads {self.threads}"


def read_memory(pid: int) -> Memory:
    fields: dict[str, str] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            fields[key] = value.strip()

    def mib(key: str) -> float:
        return int(fields[key].split()[0]) / 1024

    return Memory(mib("VmRSS"), mib("VmHWM"), mib("RssAnon"), int(fields["Threads"]))


def settle(pid: int, *, quiet_for: float, bound: float) -> tuple[Memory, float]:
    """Sample until RSS moved < 0.5 MiB for `quiet_for` s (or `bound` s passed); the last reading and the time."""
    began = time.monotonic()
    mark = read_memory(pid)
    mark_at = began
    while True:
        time.sleep(0.5)  # a sampling interval, not a wait for a deadline
        now = time.monotonic()
        memory = read_memory(pid)
        if abs(memory.rss - mark.rss) >= 0.5:
            mark, mark_at = memory, now
        if now - mark_at >= quiet_for or now - began >= bound:
            return memory, now - began


class TracedRig(Rig):
    """The same rig, but `otklik run` under `-X tracemalloc` with a timer that writes the top allocation sites."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.report = folder / "tracemalloc.txt"

    def spawn(self) -> OtklikProcess:
        number = len(self.processes) + 1
        out, err = self.folder / f"run-{number}.out", self.folder / f"run-{number}.err"
        code = (
            "import signal, sys, tracemalloc\n"
            "def dump(*_):\n"
            "    snap = tracemalloc.take_snapshot()\n"
            "    cur, peak = tracemalloc.get_traced_memory()\n"
            f"    with open({str(self.report)!r}, 'w') as f:\n"
            "        f.write(f'traced {cur / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB)\\n')\n"
            "        for s in snap.statistics('filename')[:40]: f.write(str(s) + '\\n')\n"
            "        f.write('\\nby line:\\n')\n"
            "        for s in snap.statistics('lineno')[:40]: f.write(str(s) + '\\n')\n"
            "        tops = sorted({name.partition('.')[0] for name in list(sys.modules)})\n"
            "        f.write(f'\\n{len(sys.modules)} modules, top-level: ' + ' '.join(tops) + '\\n')\n"
            "signal.signal(signal.SIGUSR1, dump)\n"
            "from bot.cli import main\n"
            f"sys.exit(main(['run', '--config', {str(self.config)!r}]))\n"
        )
        with out.open("wb") as out_file, err.open("wb") as err_file:
            popen = subprocess.Popen(
                [sys.executable, "-X", "tracemalloc=1", "-c", code], cwd=self.folder, stdin=subprocess.DEVNULL,
                stdout=out_file, stderr=err_file, env=_child_env(),
            )  # fmt: skip
        proc = OtklikProcess(popen, number, out, err)
        self.processes.append(proc)
        return proc


@dataclass(frozen=True)
class Idle:
    memory: Memory
    ready: float  # seconds from start to the first getUpdates
    settled: float  # seconds of settling after it


def measure_bot(folder: Path, *, quiet_for: float, bound: float) -> tuple[Idle, Idle]:
    """The idle memory of `otklik run` on a new database (its first start migrates it), then of a restart on
    the same database (at the head already: the usual start of a deployed bot)."""
    runs: list[Idle] = []
    with Rig(folder) as rig:
        for _ in range(2):
            began = time.monotonic()
            proc = rig.start(timeout=180)  # a loaded machine takes a while to import aiogram
            ready = time.monotonic() - began
            memory, settled = settle(proc.pid, quiet_for=quiet_for, bound=bound)
            if not proc.alive:
                raise SystemExit(f"otklik run died while idle:\n{proc.tail()}")
            code = proc.stop(timeout=30)
            if code != 0:
                raise SystemExit(f"otklik run exited with {code} on SIGTERM:\n{proc.tail()}")
            runs.append(Idle(memory, ready, settled))
    return runs[0], runs[1]


def measure_floor(*, quiet_for: float, bound: float, deferred: bool = False) -> Memory:
    code = f"{DEFER if deferred else ''}{FLOOR_IMPORTS}\nimport sys\nprint('ready', flush=True)\nsys.stdin.read()\n"
    popen = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_child_env()
    )
    try:
        assert popen.stdout is not None
        if popen.stdout.readline().strip() != "ready":
            raise SystemExit("the floor process did not start")
        memory, _ = settle(popen.pid, quiet_for=min(quiet_for, 2.0), bound=bound)
        return memory
    finally:
        assert popen.stdin is not None
        popen.stdin.close()
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def run_traced(folder: Path, *, quiet_for: float, bound: float) -> str:
    """A restart under tracemalloc (the first start migrates), settled like the others, then SIGUSR1: the
    process writes its snapshot's top allocation sites."""
    with TracedRig(folder) as rig:
        rig.start(timeout=600).stop(timeout=30)  # tracemalloc makes the start-up imports several times slower
        proc = rig.start(timeout=600)
        settle(proc.pid, quiet_for=quiet_for, bound=bound)
        proc.popen.send_signal(signal.SIGUSR1)
        rig.wait(lambda: "modules, top-level" in (rig.report.read_text(encoding="utf-8") if rig.report.exists()
                                                  else ""), "tracemalloc report", timeout=120, interval=0.5)  # fmt: skip
        proc.stop(timeout=30)
        return rig.report.read_text(encoding="utf-8")


def import_deltas(top: int = 30) -> str:
    """RSS after each module `bot.cli run` imports at start, in import order, the biggest deltas first."""
    probe = (  # what `otklik run` imports before it builds, aiogram's models deferred first as bot/cli.py does
        f"{DEFER}import asyncio, bot.app, bot.cli, bot.startup, bot.settings"
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", probe], capture_output=True, text=True, env=_child_env(), cwd=ROOT
    ).stderr
    modules = [
        line.split("|")[2].strip()
        for line in out.splitlines()
        if line.startswith(IMPORTTIME_PREFIX) and "imported package" not in line
    ][1:]
    code = (
        "import importlib, sys\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS'): return int(line.split()[1]) / 1024\n"
        "rows = []; prev = rss()\n"
        "for name in sys.argv[1:]:\n"
        "    label = name\n"
        "    if name.partition('.')[0] == 'aiogram' and 'aiogram' not in sys.modules:\n"  # all of it, at once
        "        from bot.aiogram_schemas import defer_aiogram_schemas\n"
        "        defer_aiogram_schemas(); label = 'aiogram, its models deferred (bot/aiogram_schemas.py)'\n"
        "    try: importlib.import_module(name)\n"
        "    except Exception: continue\n"
        "    now = rss(); rows.append((now - prev, label)); prev = now\n"
        "rows.sort(reverse=True)\n"
        f"for delta, name in rows[:{top}]: print(f'{{delta:7.1f}} MiB  {{name}}')\n"
        "print(f'{prev:7.1f} MiB  after all {len(rows)} modules')\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, env=_child_env(),
                          cwd=ROOT)  # fmt: skip
    return done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=60.0, help="at most this many seconds of settling")
    parser.add_argument("--quiet-for", type=float, default=8.0, help="RSS still (< 0.5 MiB) for this long")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-imports floor process")
    parser.add_argument("--tracemalloc", action="store_true", help="also: top allocation sites at idle")
    parser.add_argument("--imports", action="store_true", help="also: RSS delta of each module imported at start")
    args = parser.parse_args()
    if not OTKLIK.exists():
        raise SystemExit(f"{OTKLIK} not found: install the package in this interpreter's environment")

    with tempfile.TemporaryDirectory(prefix="otklik-idle-") as tmp:
        first, restart = measure_bot(Path(tmp) / "bot", quiet_for=args.quiet_for, bound=args.settle)
        for name, idle in (("first start", first), ("restart", restart)):
            print(f"{name:<12} idle  {idle.memory.line()}  (polling after {idle.ready:.1f} s, "
                  f"settled {idle.settled:.0f} s later)")  # fmt: skip
        if not args.no_floor:
            floor = measure_floor(quiet_for=args.quiet_for, bound=args.settle)
            print(f"floor              {floor.line()}  ({FLOOR_IMPORTS})")
            print(f"above the floor    first start {first.memory.rss - floor.rss:+.1f} MiB, "
                  f"restart {restart.memory.rss - floor.rss:+.1f} MiB RSS")  # fmt: skip
            lazy = measure_floor(quiet_for=args.quiet_for, bound=args.settle, deferred=True)
            print(f"floor, deferred    {lazy.line()}  (the same, aiogram's models deferred as otklik run does)")
            print(f"above it           first start {first.memory.rss - lazy.rss:+.1f} MiB, "
                  f"restart {restart.memory.rss - lazy.rss:+.1f} MiB RSS")  # fmt: skip
        passed = all(idle.memory.rss <= GOAL_MIB for idle in (first, restart))
        verdict = "PASS" if passed else "FAIL"
        print(f"goal               VmRSS ≤ {GOAL_MIB:.0f} MiB idle: {verdict} "
              f"(first start {first.memory.rss:.1f} MiB, restart {restart.memory.rss:.1f} MiB)")  # fmt: skip
        if args.imports:
            print("\nRSS delta per module imported at start (fresh process, import order):")
            print(import_deltas())
        if args.tracemalloc:
            print("\ntracemalloc at idle (a restart of its own, under -X tracemalloc):")
            print(run_traced(Path(tmp) / "traced", quiet_for=args.quiet_for, bound=args.settle))
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
