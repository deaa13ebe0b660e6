from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, Index, Integer, MetaData, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.tables import metadata
from tests.storage.conftest import require_pg

TABLES = {
    "access_log",
    "assignments",
    "bot_messages",
    "case_signatures",
    "channel_cursors",
    "channel_files",
    "card_posts",
    "cards",
    "cases",
    "clusters",
    "deliveries",
    "drafts",
    "events",
    "inbox",
    "kv",
    "max_messages",
    "messages",
    "outbox",
    "poller_lock",
    "publications",
    "signature_terms",
    "staff",
    "term_points",
    "terms",
}

# The newest revision: the one a fresh database and every upgrade must reach.
HEAD = sorted(
    p.stem.split("_")[0]
    for p in (Path(__file__).resolve().parents[2] / "storage/migrations/versions").glob("0*.py")
)[-1]


def _diff(conn: Connection, target: MetaData) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, target))


def _table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


async def test_upgrade_fresh_then_again_is_a_no_op(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None
    await upgrade(engine)
    assert await current_revision(engine) == head_revision() == HEAD
    async with engine.connect() as conn:
        assert await conn.run_sync(_table_names) == TABLES
    await upgrade(engine)  # idempotent
    assert await current_revision(engine) == HEAD


async def test_concurrent_upgrades_queue_up(engine: AsyncEngine) -> None:
    # Two processes starting at once: SQLite's BEGIN IMMEDIATE / PostgreSQL's advisory lock serialise them.
    await asyncio.gather(upgrade(engine), upgrade(engine))
    assert await current_revision(engine) == HEAD


async def test_migrated_schema_equals_tables_metadata(engine: AsyncEngine) -> None:
    await upgrade(engine)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff, metadata) == []


async def test_schema_comparison_does_see_a_difference(engine: AsyncEngine) -> None:
    """Control for the test above: a drift between tables.py and the migrations is reported."""
    await upgrade(engine)
    drifted = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["kv"].append_column(Column("extra", Integer))
    Index("ix_kv_extra", drifted.tables["kv"].c.extra)
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff, drifted)
    assert {d[0] for d in diff if isinstance(d, tuple)} == {"add_column", "add_index"}


async def test_downgrade_to_base_and_back(engine: AsyncEngine) -> None:
    await upgrade(engine)

    def downgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")

    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
        assert await conn.run_sync(_table_names) == set()
    await upgrade(engine)
    assert await current_revision(engine) == HEAD


async def test_upgrade_by_url_on_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'by-url.sqlite3'}"
    await upgrade(url)
    await upgrade(url)
    assert await current_revision(url) == HEAD
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 10_000
            assert (await conn.exec_driver_sql("PRAGMA mmap_size")).scalar() == 256 * 1024 * 1024
    finally:
        await engine.dispose()


async def test_upgrade_by_url_on_a_fresh_postgres_database() -> None:
    url = make_url(require_pg())
    name = f"otklik_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            try:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            except Exception as exc:  # no CREATEDB privilege: the schema-based tests still cover PostgreSQL
                pytest.skip(f"cannot create a database: {exc}")
        target = url.set(database=name).render_as_string(hide_password=False)
        await upgrade(target)
        await upgrade(target)
        assert await current_revision(target) == HEAD
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


def test_migrations_ship_with_the_package() -> None:
    import storage.migrate

    root = Path(storage.migrate.__file__).parent / "migrations"
    assert (root / "env.py").is_file()
    assert (root / "script.py.mako").is_file()
    assert (root / "versions" / "0001_initial.py").is_file()
    assert (root / "versions" / "0002_outbox_claim.py").is_file()
    assert (root / "versions" / "0004_terms_semantics.py").is_file()


async def test_outbox_claim_migration_keeps_the_rows_both_ways(engine: AsyncEngine) -> None:
    """0002 adds the claim columns to an outbox with rows in it (free claims), and takes them away again."""
    await upgrade(engine, "0001")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (dedup_key, kind, to_role, at, payload, attempts)"
                " VALUES ('k', 'reminder', 'operator', :at, '{}', 0)"
            ),
            {"at": datetime(2025, 3, 3, 2, 0, tzinfo=UTC)},
        )
    await upgrade(engine)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT dedup_key, claimed_until, claimed_by FROM outbox"))).all()
    assert [tuple(r) for r in rows] == [("k", None, None)]

    def downgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")

    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
        columns = {c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("outbox"))}
        assert "claimed_until" not in columns and "claimed_by" not in columns
        assert (await conn.execute(text("SELECT dedup_key FROM outbox"))).scalars().all() == ["k"]
    assert await current_revision(engine) == "0001"


async def test_terms_semantics_migration_keeps_the_rows_both_ways(engine: AsyncEngine) -> None:
    """0004 adds messages.detected_at and terms.note / terms.person (NULL on old rows), and takes them away."""
    await upgrade(engine, "0003")
    at = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO cases (id, procedure, status, version, t0, state, created_at, updated_at)"
                " VALUES (1, 'open_sources', 'new', 1, :at, '{}', :at, :at)"
            ),
            {"at": at},
        )
        await conn.execute(
            text(
                "INSERT INTO terms (case_id, term_id, owner, started_at, due, sent)"
                " VALUES (1, 'os.route', 'operator', :at, :at, ',')"
            ),
            {"at": at},
        )
    await upgrade(engine)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT term_id, note, person FROM terms"))).all()
    assert [tuple(r) for r in rows] == [("os.route", None, None)]

    def downgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")

    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
        columns = {c["name"] for c in await conn.run_sync(lambda c: inspect(c).get_columns("terms"))}
        assert "note" not in columns and "person" not in columns
        assert (await conn.execute(text("SELECT term_id FROM terms"))).scalars().all() == ["os.route"]
    assert await current_revision(engine) == "0003"


async def test_bigint_ids_migration_keeps_the_rows_and_lets_ids_pass_2_31(engine: AsyncEngine) -> None:
    """0006: on PostgreSQL every id column and its sequence become 64-bit (the automatic id after 2^31-1 is
    2^31, and a case id up to 2^63-1 can be written and referred to); on SQLite nothing changes (rowid ids)."""
    await upgrade(engine, "0004")
    at = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    auto_case = text(
        "INSERT INTO cases (procedure, status, version, t0, state, created_at, updated_at)"
        " VALUES ('open_sources', 'new', 1, :at, '{}', :at, :at) RETURNING id"
    )
    async with engine.begin() as conn:
        assert (await conn.execute(auto_case, {"at": at})).scalar() == 1
    await upgrade(engine, "0006")
    # asyncpg caches a prepared statement's parameter types per connection: the INSERT above was prepared
    # for int4. The app migrates before it opens its engine (bot/app.py); here, fresh connections.
    await engine.dispose()
    big = 2**63 - 1
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), 2147483647)"))
        else:
            await conn.execute(text("UPDATE cases SET id = 2147483647"))
        assert (await conn.execute(auto_case, {"at": at})).scalar() == 2**31
        await conn.execute(
            text(
                "INSERT INTO cases (id, procedure, status, version, t0, state, created_at, updated_at)"
                " VALUES (:id, 'open_sources', 'new', 1, :at, '{}', :at, :at)"
            ),
            {"id": big, "at": at},
        )
        await conn.execute(
            text(
                "INSERT INTO terms (case_id, term_id, owner, started_at, due, sent)"
                " VALUES (:case, 'os.route', 'operator', :at, :at, ',')"
            ),
            {"case": big, "at": at},
        )
        ids = (await conn.execute(text("SELECT id FROM cases ORDER BY id"))).scalars().all()
        term_case = (await conn.execute(text("SELECT case_id FROM terms"))).scalar()
    assert ids[-2:] == [2**31, big] and term_case == big
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            types = (
                await conn.execute(
                    text(
                        "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
                        " WHERE table_schema = current_schema() AND (column_name IN ('case_id', 'repeat_of',"
                        " 'outbox_id') OR (column_name = 'id' AND table_name <> 'kv'))"
                    )
                )
            ).all()
            sequences = (
                (
                    await conn.execute(
                        text(
                            "SELECT data_type FROM information_schema.sequences"
                            " WHERE sequence_schema = current_schema()"
                        )
                    )
                )
                .scalars()
                .all()
            )
        assert {t for _, t in types} == {"bigint"}, types
        assert len(types) == 17  # at 0006: its sixteen and inbox.id (0005 creates it BIGINT)
        assert set(sequences) == {"bigint"} and len(sequences) == 8


QUERY_INDEXES = {  # 0017 (issue 16): name -> a piece of its predicate ("" = not partial)
    "ix_terms_open_owner": "closed_at IS NULL",
    "ix_terms_open_unit": "closed_at IS NULL",
    "ix_terms_open_case": "closed_at IS NULL",
    "ix_terms_open_due": "closed_at IS NULL",
    "ix_assignments_unit": "",
    "ix_cases_proposed": "proposed_units",
}


async def _index_definitions(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = await conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        else:
            rows = await conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
            )
        return {name: sql or "" for name, sql in rows}


async def test_query_indexes_are_partial_and_go_with_a_downgrade(engine: AsyncEngine) -> None:
    """The lists' indexes (0017) are partial where tables.py says, so the planners can use them; a downgrade
    drops them and gives ix_terms_open_due back its 0003 columns."""
    await upgrade(engine)
    found = await _index_definitions(engine)
    for name, predicate in QUERY_INDEXES.items():
        where = found[name].partition(" WHERE ")[2]
        assert (predicate in where) if predicate else not where, (name, found[name])
    assert "term_id" in found["ix_terms_open_due"]

    def downgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0016")  # the revision before 0017, whatever came after it

    async with engine.begin() as conn:
        await conn.run_sync(downgrade)
    before = await _index_definitions(engine)
    assert not set(QUERY_INDEXES) - {"ix_terms_open_due"} & set(before)
    assert "term_id" not in before["ix_terms_open_due"] and "closed_at IS NULL" in before["ix_terms_open_due"]
    await upgrade(engine)
    assert await _index_definitions(engine) == found
