"""The VK emulator as a process of its own, driven over its control API (emulators/vk/control.py).

    python -m emulators.vk [--port 0] [--config setup.json] [--rate-limit 20|off] [--max-wait 90]

It prints its base URL on one line of stdout once it listens (the API under ``/method/``, the long poll under
``/lp/<group_id>``, the control API under ``/_control/``) and runs until SIGTERM or SIGINT, or until its stdin
closes with ``--watch-stdin`` (so an emulator started by a test that died does not outlive it).

``--config``: a JSON file registered before the first request::

    {"users": [{"id", "first_name", "last_name"?, "screen_name"?}],
     "groups": [{"id", "name"?, "screen_name"?, "admins"?: [user ids], "posts"?: ["text", …]}],
     "tokens": [{"kind", "value", "group_id"?, "user_id"?}]}

(token values are given, so the driving process knows them).
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

from emulators.vk.control import Control
from emulators.vk.server import DEFAULT_RATE_LIMIT, VkEmulator


def _rate_limit(value: str) -> int | None:
    if value == "off":
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise argparse.ArgumentTypeError("requests a second per token (a positive integer) or off")
    return number


def _register(emu: VkEmulator, setup: dict[str, Any]) -> None:
    for user in setup.get("users", []):
        emu.add_user(
            int(user["id"]), str(user["first_name"]), user.get("last_name", ""), user.get("screen_name")
        )
    for group in setup.get("groups", []):
        emu.add_group(int(group["id"]), group.get("name"), group.get("screen_name"))
        for admin in group.get("admins", []):
            emu.add_admin(int(group["id"]), int(admin))
        for text in group.get("posts", []):
            emu.add_post(int(group["id"]), str(text))
    for token in setup.get("tokens", []):
        emu.add_token(
            token["kind"], group_id=token.get("group_id"), user_id=token.get("user_id"), value=token["value"]
        )


async def _stdin_closed() -> None:
    """Returns when stdin reaches its end: the process that started us is gone."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def serve(args: argparse.Namespace) -> None:
    emu = VkEmulator(host=args.host, port=args.port, rate_limit=args.rate_limit, max_wait=args.max_wait)
    if args.config is not None:
        _register(emu, json.loads(Path(args.config).read_text(encoding="utf-8")))
    emu.add_routes(Control(emu).routes())
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
        await emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.vk", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (the default)")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on start)")
    parser.add_argument("--config", metavar="SETUP.json", help="users, groups, posts and tokens to register")
    parser.add_argument("--rate-limit", type=_rate_limit, default=DEFAULT_RATE_LIMIT, metavar="N|off")
    parser.add_argument("--max-wait", type=float, default=90.0, help="the longest a long poll waits, seconds")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
