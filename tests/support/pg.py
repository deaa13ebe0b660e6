"""Where the PostgreSQL variants of the tests run: OTKLIK_TEST_PG_URL, or the machine's own server on loopback.

A PostgreSQL answering on 127.0.0.1:5432 is used with its `test` database, so the README's plain `pytest`
runs the same tests as CI; `OTKLIK_TEST_PG_URL=` (empty) turns the variants off.
"""

from __future__ import annotations

import os
import socket

LOCAL_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
PG_SKIP = "PostgreSQL variant: no PostgreSQL on 127.0.0.1:5432 and OTKLIK_TEST_PG_URL not set"


def _local_server_answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return True
    except OSError:
        return False


def _pg_url() -> str:
    if "OTKLIK_TEST_PG_URL" in os.environ:
        return os.environ["OTKLIK_TEST_PG_URL"]
    return LOCAL_URL if _local_server_answers() else ""


PG_URL = _pg_url()
