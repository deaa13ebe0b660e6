"""The IMAP emulator as a process of its own (for a demo or a manual try):

    python -m emulators.imap [--port 0] [--user pos@example.ru] [--password secret] [--folder INBOX] [MAIL.eml …]

It prints `imap://127.0.0.1:<port>` on one line once it listens, with the given mails in the folder, and runs
until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path

from emulators.imap.server import ImapEmulator


async def _main(args: argparse.Namespace) -> None:
    emu = ImapEmulator(args.user, args.password, (args.folder,))
    for path in args.mails:
        emu.add_mail(Path(path).read_bytes(), args.folder)
    port = await emu.start(args.port)
    print(f"imap://127.0.0.1:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await emu.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.imap")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", default="pos@example.ru")
    parser.add_argument("--password", default="secret")
    parser.add_argument("--folder", default="INBOX")
    parser.add_argument("mails", nargs="*")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
