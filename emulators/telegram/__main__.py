"""The Telegram emulator as a process of its own, driven over its control API (emulators/telegram/control.py).

    python -m emulators.telegram [--port 0] [--config people.json] [--rate-limits off|telegram|JSON]

It prints its base URL on one line of stdout once it listens (the Bot API under ``/bot<token>/``, the control
API under ``/_control/``) and runs until SIGTERM or SIGINT, or until its stdin closes with ``--watch-stdin``
(so an emulator started by a test that died does not outlive it).

``--config``: a JSON file ``{"users": [{"id", "first_name", "last_name"?}], "chats": [{"id", "type"?,
"title"?}]}`` registered before the first request. ``--rate-limits``: ``off`` (the default), ``telegram``
(Telegram's own limits) or a JSON object of RateLimits fields, e.g. ``{"global_count": 30}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from emulators.telegram.control import Control
from emulators.telegram.records import RateLimits
from emulators.telegram.server import DEFAULT_TOKEN, TelegramEmulator


def _rate_limits(value: str) -> RateLimits | bool:
    if value == "off":
        return False
    if value == "telegram":
        return True
    try:
        fields = json.loads(value)
        return RateLimits(**fields)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(
            f"off, telegram or a JSON object of RateLimits fields: {exc}"
        ) from None


def _register(emu: TelegramEmulator, people: dict[str, Any]) -> None:
    for user in people.get("users", []):
        emu.add_user(int(user["id"]), str(user["first_name"]), user.get("last_name"), user.get("username"))
    for chat in people.get("chats", []):
        emu.add_chat(int(chat["id"]), chat.get("type"), chat.get("title"), chat.get("username"))


async def _stdin_closed() -> None:
    """Returns when stdin reaches its end: the process that started us is gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def serve(args: argparse.Namespace) -> None:
    emu = TelegramEmulator(args.token, host=args.host, port=args.port, rate_limits=args.rate_limits)
    if args.config is not None:
        _register(emu, json.loads(Path(args.config).read_text(encoding="utf-8")))
    control = Control(emu)
    emu.add_routes(control.routes())
    await emu.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watcher: asyncio.Task[None] | None = None
    if args.watch_stdin:
        watcher = asyncio.create_task(_stdin_closed())
        watcher.add_done_callback(lambda _: stop.set())
    print(emu.base_url, flush=True)
    try:
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await control.close()
        await emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.telegram", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (the default)")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on start)")
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--config", metavar="PEOPLE.json", help="users and chats to register at start")
    parser.add_argument("--rate-limits", type=_rate_limits, default=False, metavar="off|telegram|JSON")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
