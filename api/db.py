"""Database access: engine factory, read and write scopes, migrations.

Two backends are supported and both are tested: SQLite (the embedded default) and PostgreSQL.

SQLite lets one writer in at a time, and unserialized writers starve each other for seconds
(research/performance.md, B2). So every write scope here takes an in-process lock and opens the
transaction with ``BEGIN IMMEDIATE``; readers use a separate engine with plain ``BEGIN`` and are
never blocked by the writer (WAL). Between processes SQLite's own lock and ``busy_timeout`` decide.
The log is copied back into the file by a thread of its own (``api.checkpoints``), not inside
the commits that would otherwise wait for it.

On PostgreSQL write scopes are ordinary transactions: correctness comes from atomic statements
(``UPDATE … WHERE balance >= :c``) and ``FOR UPDATE SKIP LOCKED`` job claims, not from a lock.

Services never commit: a scope commits once when the request or event that opened it finishes.

Every connection also says which process opened it (``process_instance_id``): PostgreSQL gets it
as the ``amphion.instance`` setting at connect time (no extra round trip), SQLite as the SQL
function ``amphion_instance()``. A trigger on ``holds`` writes it next to each new hold, so the
stale-hold sweeper (``api.billing.sweeper``) can tell the holds of a dead process from those of a
live one without the money path doing anything.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Engine, MetaData, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, StatementError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, SQLModel

from api.checkpoints import checkpointer

if TYPE_CHECKING:
    from api.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

# RETURNING, used by the atomic debit, needs SQLite 3.35.
MIN_SQLITE_VERSION = (3, 35, 0)
# A connection that cannot reach PostgreSQL fails after this instead of hanging a request.
PG_CONNECT_TIMEOUT_SECONDS = 5
INSTANCE_SETTING = "amphion.instance"
# A pooled PostgreSQL connection idle this long is checked before it is used again.
PING_WHEN_IDLE_SECONDS = 1.0

_instance: tuple[int, str] | None = None
_instance_lock = threading.Lock()


def process_instance_id() -> str:
    """This process's identity, ``host:pid:random`` (a fork gets a new one).

    The random part keeps a restarted process that reuses a PID from inheriting the identity
    (and so the holds) of the dead one.
    """
    global _instance
    pid = os.getpid()
    with _instance_lock:
        if _instance is None or _instance[0] != pid:
            suffix = f":{pid}:{uuid.uuid4().hex[:12]}"
            _instance = (pid, socket.gethostname()[: 64 - len(suffix)] + suffix)
        return _instance[1]


@event.listens_for(Engine, "connect")
def _name_sqlite_instance(dbapi_connection: Any, _record: Any) -> None:
    # On every SQLite connection of this process, any engine (the holds trigger calls it).
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.create_function("amphion_instance", 0, process_instance_id)


def _postgres_engine(url: str) -> Engine:
    engine = create_engine(url, pool_size=10, max_overflow=20)

    # Pessimistic disconnect handling, for connections that may have gone stale only: one
    # that sat idle in the pool is pinged before use (a PostgreSQL restart left it dead), one
    # used within the last second is not. pool_pre_ping pinged every checkout, a round trip per
    # transaction (about a fifth of the ledger's throughput, bench row B4). A hot connection
    # that died anyway fails its request with a 503, and SQLAlchemy then replaces the whole
    # pool, so the process recovers without a restart (tests/ops/test_faults.py).
    @event.listens_for(engine, "checkin")
    def _on_checkin(_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_WHEN_IDLE_SECONDS:
            return
        try:
            connection.execute("SELECT 1")
            connection.rollback()  # psycopg opened a transaction: leave the connection idle
        except Exception as error:
            raise DisconnectionError() from error  # the pool opens a new connection instead

    @event.listens_for(engine, "do_connect")
    def _on_connect(_dialect: Any, _record: Any, _args: Any, params: dict[str, Any]) -> None:
        options = f"-c {INSTANCE_SETTING}={process_instance_id()}"
        params["options"] = f"{params['options']} {options}" if params.get("options") else options
        params.setdefault("connect_timeout", PG_CONNECT_TIMEOUT_SECONDS)

    return engine


def utcnow() -> datetime:
    """Aware UTC now; SQLModel's datetime columns store and return aware UTC on both backends."""
    return datetime.now(UTC)


def normalize_url(url: str) -> str:
    """Pick the psycopg 3 driver for plain PostgreSQL URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


BUSY_TIMEOUT_SECONDS = 30


def enter_wal(cursor: sqlite3.Cursor, *, wait_seconds: float = BUSY_TIMEOUT_SECONDS) -> None:
    """Put the file in WAL mode (``Database`` does, once per file it opens).

    This pragma can fail at once with "database is locked", without SQLite's busy handler,
    while another connection is closing or checkpointing the log: CI saw it once, a reader
    connecting while a heartbeat thread wrote every 50 ms. So it is asked again for as long as
    the busy timeout would have waited."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if not is_busy(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


def is_busy(error: sqlite3.Error) -> bool:
    """SQLite answered "database is locked" (BUSY, or LOCKED within a connection), told by the
    error's result code rather than its message; extended codes keep the primary one in their
    low byte."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _sqlite_engine(url: str, *, immediate: bool, synchronous: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS},
        # The writer: one connection for sessions, one kept by the money path (Database._kept).
        pool_size=2 if immediate else 8,
        max_overflow=0 if immediate else 16,
        pool_timeout=60,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.close()

    begin_sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_sql)

    return engine


class FairLock:
    """A first-come, first-served lock.

    ``threading.Lock`` is not fair: a thread that releases it and asks again at once usually
    wins, so one busy writer can starve the others for seconds. Here the releasing thread hands
    the lock directly to the longest waiter.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> FairLock:
        with self._guard:
            if not self._held:
                self._held = True
                return self
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # ownership arrives with the event; _held stayed True
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._guard:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


@dataclass(frozen=True)
class DriverConnection:
    """A bare DBAPI connection (psycopg or sqlite3) to write on, and which backend it speaks."""

    connection: Any
    is_postgres: bool

    @classmethod
    def of(cls, session: Session) -> DriverConnection:
        """The session's own connection, inside the session's transaction."""
        connection = session.connection()
        return cls(connection.connection.driver_connection, connection.dialect.name == "postgresql")

    def insert(self, model: type[SQLModel], fields: Mapping[str, Any]) -> int:
        """Insert one row of the table model ``model`` and return its id: what a session's
        flush does for it, without building the ORM object or running the unit of work (a
        tenth of the time: bench rows B2, B6). Fields left out take the model's defaults.
        Only for plain columns: JSON, times, text and numbers."""
        values = _with_defaults(model, fields)
        table = model.__table__  # type: ignore[attr-defined]
        columns = tuple(column for column in table.columns if column.key in values)
        driver_values = [_driver_value(column, values[column.key], self.is_postgres)
                         for column in columns]  # fmt: skip
        statement = _insert_statement(table, columns, self.is_postgres)
        (row_id,) = self.connection.execute(statement, driver_values).fetchone()
        return int(row_id)

    def fetch_one(self, sql: str, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """The first row of a query written with ``:name`` placeholders (sqlite3's style; for
        psycopg they become ``%(name)s``). Times come back as the driver gives them: see
        ``driver_time``."""
        statement = _pyformat(sql) if self.is_postgres else sql
        row = self.connection.execute(statement, params).fetchone()
        return None if row is None else tuple(row)

    def fetch_all(self, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of a query, as ``fetch_one`` takes it."""
        statement = _pyformat(sql) if self.is_postgres else sql
        return [tuple(row) for row in self.connection.execute(statement, params).fetchall()]


@lru_cache(maxsize=64)
def _pyformat(sql: str) -> str:
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)


def _with_defaults(model: type[SQLModel], fields: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    for name, default, factory in _defaults(model):
        if name not in values:
            values[name] = factory() if factory is not None else default
    if values.get("id") is None:
        values.pop("id", None)  # the database assigns it
    return values


@lru_cache(maxsize=64)
def _defaults(model: type[SQLModel]) -> tuple[tuple[str, Any, Callable[[], Any] | None], ...]:
    # Read once per model: pydantic's get_default inspects the factory's signature per call.
    return tuple(
        (name, field.default, field.default_factory)  # type: ignore[misc]
        for name, field in model.model_fields.items()
        if not field.is_required()
    )


@lru_cache(maxsize=64)
def _insert_statement(table: Any, columns: tuple[Any, ...], is_postgres: bool) -> str:
    def placeholder(column: Any) -> str:
        if not is_postgres:
            return "?"
        return "CAST(%s AS JSON)" if isinstance(column.type, JSON) else "%s"

    names = ", ".join(f'"{column.name}"' for column in columns)
    places = ", ".join(placeholder(column) for column in columns)
    return f'INSERT INTO "{table.name}" ({names}) VALUES ({places}) RETURNING id'


def _driver_value(column: Any, value: Any, is_postgres: bool) -> Any:
    """``value`` as the driver takes it for ``column``, stored as SQLAlchemy stores it."""
    if value is None:
        return None
    if isinstance(column.type, JSON):
        return json.dumps(value)
    if isinstance(value, datetime) and not is_postgres:
        return sqlite_time(value)
    return value


def driver_time(value: datetime | str) -> datetime:
    """A time column as a bare driver returns it (psycopg: a datetime; sqlite3: the text
    ``sqlite_time`` writes), as the aware UTC datetime a session would give."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def sqlite_time(moment: datetime) -> str:
    """A UTC time as SQLAlchemy's DateTime stores it in SQLite (so it sorts and reads back)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class Database:
    """One database: a write scope (serialized on SQLite) and a read scope."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "NORMAL") -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self._write_lock = FairLock()
        self._kept_writer: tuple[int, Any] | None = None  # (process id, pooled connection)
        if self.is_sqlite:
            if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
                raise RuntimeError(f"SQLite >= 3.35 is required, found {sqlite3.sqlite_version}")
            path = self.url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                # WAL mode is kept in the file: set once here, not on every pooled connection.
                with closing(sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS)) as first:
                    enter_wal(first.cursor())
                checkpointer.watch(Path(path), self)  # no commit waits for a checkpoint
            self.write_engine = _sqlite_engine(
                self.url, immediate=True, synchronous=sqlite_synchronous
            )
            self.read_engine = _sqlite_engine(
                self.url, immediate=False, synchronous=sqlite_synchronous
            )
        else:
            self.write_engine = _postgres_engine(self.url)
            self.read_engine = self.write_engine

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that may write; commits on success, rolls back on any exception."""
        if self.is_sqlite:
            with self._write_lock, self._session(self.write_engine) as session:
                yield session
        else:
            with self._session(self.write_engine) as session:
                yield session

    @contextmanager
    def driver_write(self, *, transaction: bool = False) -> Iterator[DriverConnection]:
        """A write on the bare driver connection, without an ORM session: the money path.

        A session costs about 0.35 ms of CPU per transaction and, on PostgreSQL, BEGIN and
        COMMIT are round trips of their own; a ledger posting is a statement or a few
        (``api.billing.postings``), so it skips the session (and, for a settlement, BEGIN and
        COMMIT).

        - PostgreSQL: the connection is in autocommit, every statement its own transaction. Only
          statements that apply all of their parts or none may run here, unless
          ``transaction``: then the block is one transaction, committed when it ends and rolled
          back on any exception.
        - SQLite: one ``BEGIN IMMEDIATE`` transaction under the writer lock, committed when the
          block ends, rolled back on any exception.

        Driver errors come out as SQLAlchemy's (``DBAPIError`` and its kinds), as from a session,
        and a connection the database dropped is thrown away, not put back in the pool.
        """
        if self.is_sqlite:
            with self._write_lock, self._kept_sqlite_writer() as driver:
                driver.execute("BEGIN IMMEDIATE")
                try:
                    yield DriverConnection(driver, False)
                    driver.commit()
                except BaseException:
                    if driver.in_transaction:  # also after a failed commit: the connection is kept
                        driver.rollback()
                    raise
        else:
            with self._raw(self.write_engine) as driver:
                driver.autocommit = True
                try:
                    if transaction:
                        with driver.transaction():
                            yield DriverConnection(driver, True)
                    else:
                        yield DriverConnection(driver, True)
                finally:
                    if not driver.broken:  # a dropped connection is discarded by _raw
                        driver.autocommit = False

    @contextmanager
    def _kept_sqlite_writer(self) -> Iterator[Any]:
        """The SQLite connection the money path writes on, under the writer lock.

        Only one thread writes at a time (the lock), so this one connection stays checked out
        of the pool for the life of the process instead of being checked out and back in for
        every posting: the pool's checkout, its reset on return and its checkin cost about
        0.1 ms of CPU a transaction, and a billable call makes two (bench row B6). A process
        made by ``fork`` checks out its own; one the database dropped is thrown away."""
        kept = self._kept_writer
        if kept is None or kept[0] != os.getpid():
            kept = self._kept_writer = (os.getpid(), self._checkout(self.write_engine))
        pooled = kept[1]
        with self._driver_errors(self.write_engine, pooled, on_drop=self._forget_writer):
            yield pooled.driver_connection

    def _forget_writer(self) -> None:
        self._kept_writer = None

    @contextmanager
    def driver_read(self) -> Iterator[DriverConnection]:
        """A read on the bare driver connection, without an ORM session: for the row or two a
        hot path reads (an account's balance: bench row B1). A session and its ORM object cost
        about 0.3 ms of CPU for one row here, the bare connection 0.015 ms. Every statement sees
        its own snapshot (SQLite: autocommit; PostgreSQL: the pool rolls the transaction back
        on return): read one row per statement, or use ``read``. Errors as ``driver_write``'s."""
        with self._raw(self.read_engine) as driver:
            yield DriverConnection(driver, not self.is_sqlite)

    @staticmethod
    @contextmanager
    def _raw(engine: Engine) -> Iterator[Any]:
        """A pooled bare driver connection; driver errors come out as SQLAlchemy's, and a
        connection the database dropped is thrown away, not put back in the pool."""
        pooled = Database._checkout(engine)
        try:
            with Database._driver_errors(engine, pooled):
                yield pooled.driver_connection
        finally:
            pooled.close()

    @staticmethod
    def _checkout(engine: Engine) -> Any:
        """A pooled connection (with a live driver connection), or the error a session gives."""
        try:
            pooled = engine.raw_connection()
        except engine.dialect.loaded_dbapi.Error as error:  # the database is away
            raise _sqlalchemy_error(engine, error, dropped=False) from error
        assert pooled.driver_connection is not None  # a live pooled connection always has one
        return pooled

    @staticmethod
    @contextmanager
    def _driver_errors(
        engine: Engine, pooled: Any, on_drop: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """Driver errors as SQLAlchemy's; a connection the database dropped is invalidated (the
        pool then never hands it out again) and ``on_drop`` is told."""
        try:
            yield
        except engine.dialect.loaded_dbapi.Error as error:
            dropped = engine.dialect.is_disconnect(error, pooled.driver_connection, None)
            if dropped:
                pooled.invalidate(error)
                if on_drop is not None:
                    on_drop()
            raise _sqlalchemy_error(engine, error, dropped=dropped) from error

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction; never blocks on SQLite's writer."""
        with self._session(self.read_engine, commit=False) as session:
            yield session

    @contextmanager
    def _session(self, engine: Engine, *, commit: bool = True) -> Iterator[Session]:
        session = Session(engine, expire_on_commit=False, autoflush=True)
        try:
            yield session
            if commit:
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            # close() without rollback keeps loaded objects usable; the pool ends the transaction.
            session.close()

    def dispose(self) -> None:
        kept, self._kept_writer = self._kept_writer, None
        if kept is not None and kept[0] == os.getpid():
            kept[1].close()  # back to the pool, which closes it now
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def _sqlalchemy_error(engine: Engine, error: Exception, *, dropped: bool) -> StatementError:
    """A driver error as a session would have raised it (``OperationalError`` and the like), so
    the HTTP layer tells an outage (503) from a bug."""
    return DBAPIError.instance(
        None,
        None,
        error,
        engine.dialect.loaded_dbapi.Error,
        connection_invalidated=dropped,
        dialect=engine.dialect,
    )


def alembic_config(url: str) -> Any:
    """An alembic Config pointing at the repository's migrations and the given database."""
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "alembic"))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Apply every migration up to head (run at start-up and by ``amphion migrate``)."""
    from alembic import command

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


def make_null_pool_engine(url: str) -> Engine:
    """A pool-less engine for one-off tools (alembic, dumps)."""
    return create_engine(normalize_url(url), poolclass=NullPool)


@lru_cache
def get_database() -> Database:
    """The process-wide database from settings."""
    from api.settings import get_settings

    return Database.from_settings(get_settings())
