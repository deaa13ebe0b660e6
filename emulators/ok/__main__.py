"""The OK emulator as a process of its own, driven over its control API (emulators/ok/control.py).

    python -m emulators.ok [--port 0] [--config setup.json] [--watch-stdin]

It prints its base URL on one line of stdout once it listens (the REST API at ``/fb.do``, the Bot API under
``/graph/me/``, the control API under ``/_control/``) and runs until SIGTERM or SIGINT, or until its stdin
closes with ``--watch-stdin``.

``--config``: a JSON file read before the first request::

    {"group_id"?, "application_key"?, "application_secret"?, "user_tokens"?: [..], "bot_tokens"?: [..],
     "topics"?: [topic ids]}
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

from emulators.ok.server import OkEmulator


def _emulator(args: argparse.Namespace, setup: dict[str, Any]) -> OkEmulator:
    emu = OkEmulator(host=args.host, port=args.port)
    for name in ("group_id", "application_key", "application_secret"):
        if isinstance(setup.get(name), str):
            setattr(emu, name, setup[name])
    for token in setup.get("user_tokens", []):
        emu.user_token(str(token))
    for token in setup.get("bot_tokens", []):
        emu.bot_token(str(token))
    for topic in setup.get("topics", []):
        emu.add_topic(str(topic))
    return emu


async def _stdin_closed() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def serve(args: argparse.Namespace) -> None:
    setup = json.loads(Path(args.config).read_text(encoding="utf-8")) if args.config else {}
    emu = _emulator(args, setup if isinstance(setup, dict) else {})
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
    parser = argparse.ArgumentParser(prog="python -m emulators.ok", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback only (the default)")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on start)")
    parser.add_argument("--config", metavar="SETUP.json", help="keys, tokens and topics to register")
    parser.add_argument("--watch-stdin", action="store_true", help="exit when stdin closes")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
