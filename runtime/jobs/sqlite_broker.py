"""kombu's SQLAlchemy transport on a SQLite file, made to survive consumers killed with SIGKILL.

What the stock transport (kombu 5.7, kombu/transport/sqlalchemy) does: ``_get`` flips the oldest
visible row to ``visible = false`` and hands the message over; the fact that it is unacked lives only
in the consumer's memory (virtual ``QoS._delivered``). An ack deletes nothing (acked rows stay hidden
forever), and unacked messages are put back as new rows only when the channel closes in an orderly
way. A consumer killed with SIGKILL therefore loses every message it had fetched and not acked: the
rows stay hidden forever, indistinguishable from acked ones.

This channel keeps the messages in the same tables and adds three things:

- every fetched message is recorded in ``omnipricex_delivery`` against the fetching process, in the
  same transaction that hides it; an ack deletes the message and its record;
- each consuming process holds a POSIX lock on its own file ``<broker file>.consumers/<id>.lock``
  for its whole life. The kernel drops the lock when the process dies, however it dies, and forked
  children do not inherit it; so "the lock can be taken" means exactly "its holder is dead";
- every consumer, on its first fetch and then every SWEEP_INTERVAL_SECONDS, returns to their queues
  the messages recorded against dead consumers.

Guarantee: at-least-once. A message a killed worker held comes back as soon as any consumer of the
same broker file starts or polls; a message is never taken from a live consumer, however long its
task runs. Returns are counted in the ``x-delivery-count`` header (as RabbitMQ quorum queues do) and a
message returned more than ``delivery_limit`` times moves to "<queue>.dead" with
``x-first-death-reason`` "delivery_limit"; a message rejected without requeue moves there with
"rejected". An orderly channel close returns messages without counting them. The lock files make
this a single-host transport, as a SQLite file already is.

A channel is used from several threads: without an event loop (as on this transport) Celery's prefork
pool acks and rejects from its result-handler thread while the consumer thread polls. A SQLAlchemy
session must not be shared between threads, so each thread gets its own session on the channel, and
SQLite's own locking (BEGIN IMMEDIATE, busy timeout) orders their transactions.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import sqlalchemy as kombu_sqlalchemy
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, delete, event, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from runtime.clock import utcnow
from runtime.jobs.topology import DELIVERY_LIMIT, dead_letter_queue_name, is_dead_letter_queue

SWEEP_INTERVAL_SECONDS = 5.0
BUSY_TIMEOUT_SECONDS = 30.0
ROW_PROPERTY = "omnipricex_row"

_metadata = MetaData()
DELIVERIES = Table(
    "omnipricex_delivery",
    _metadata,
    Column("message_id", Integer, primary_key=True),
    Column("consumer", String(32), nullable=False, index=True),
)


class ConsumerLock:
    """This process's identity as a consumer: a lock file it holds until it dies."""

    def __init__(self, folder: Path) -> None:
        self.id = uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        draft = folder / f".{self.id}.draft"
        # Kept open for the life of the process: closing any descriptor of the file would drop the lock.
        self._fd = os.open(draft, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Locked before it gets its final name, so a sweeper never sees an unlocked file of a live consumer.
        draft.rename(lock_path(folder, self.id))


def lock_path(folder: Path, consumer: str) -> Path:
    return folder / f"{consumer}.lock"


def holder_alive(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


_consumer_locks: dict[tuple[int, Path], ConsumerLock] = {}
_engines: dict[tuple[int, str], tuple[Engine, sessionmaker[Session]]] = {}


def _consumer_lock(folder: Path) -> ConsumerLock:
    key = (os.getpid(), folder)
    with kombu_sqlalchemy._MUTEX:
        lock = _consumer_locks.get(key)
        if lock is None:
            lock = _consumer_locks[key] = ConsumerLock(folder)
        return lock


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    return engine


@contextmanager
def _schema_lock(database: Path) -> Iterator[None]:
    with (database.parent / f"{database.name}.schema-lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _forget_parent_engines() -> None:
    # A forked child must not use its parent's pooled SQLite connections; dispose without closing them.
    for engine, _ in _engines.values():
        engine.dispose(close=False)
    _engines.clear()


os.register_at_fork(after_in_child=_forget_parent_engines)


def sqlite_database_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        raise ValueError("the SQLite job broker needs a file: sqla+sqlite:///<path>")
    return Path(parsed.database)


class Channel(kombu_sqlalchemy.Channel):  # type: ignore[misc]
    """The stock channel plus delivery records, deleting acks, orphan recovery and a delivery limit."""

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        self._thread_sessions = threading.local()
        super().__init__(connection, **kwargs)
        options = connection.client.transport_options
        self._delivery_limit = int(options.get("delivery_limit", DELIVERY_LIMIT))
        self._sweep_interval = float(options.get("sweep_interval", SWEEP_INTERVAL_SECONDS))
        self._next_sweep = 0.0
        database = sqlite_database_path(connection.client.hostname)
        self._consumers_folder = database.parent / f"{database.name}.consumers"

    def _open(self) -> tuple[Engine, sessionmaker[Session]]:
        key = (os.getpid(), self.connection.client.hostname)
        with kombu_sqlalchemy._MUTEX:
            if key not in _engines:
                database = sqlite_database_path(key[1])
                database.parent.mkdir(parents=True, exist_ok=True)
                engine = _sqlite_engine(key[1])
                # create_all checks, then creates: processes starting together (worker, beat, the
                # service publishing) would race to create the same tables, so they take turns.
                with _schema_lock(database):
                    kombu_sqlalchemy.metadata.create_all(engine)
                    _metadata.create_all(engine)
                _engines[key] = (engine, sessionmaker(bind=engine))
            return _engines[key]

    @property
    def session(self) -> Session:
        """The calling thread's session (kombu's own methods use it too)."""
        session: Session | None = getattr(self._thread_sessions, "session", None)
        if session is None:
            _, make_session = self._open()
            session = self._thread_sessions.session = make_session()
        return session

    def _get_or_create(self, queue: str) -> Any:
        """The queue's row, created if missing; kombu's check-then-insert fails when processes starting
        together declare the same queue, so the insert ignores a row another process just made."""
        found = self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).first()
        if found is not None:
            return found
        with self._immediate_transaction() as tx:
            tx.execute(sqlite_insert(self._queues).values(name=queue).on_conflict_do_nothing(index_elements=["name"]))
        return self.session.query(self.queue_cls).filter(self.queue_cls.name == queue).one()

    @property
    def _messages(self) -> Table:
        table: Table = self.message_cls.__table__
        return table

    @property
    def _queues(self) -> Table:
        table: Table = self.queue_cls.__table__
        return table

    def _get(self, queue: str) -> dict[str, Any]:
        if time.monotonic() >= self._next_sweep:
            self.recover_orphans()
        queue_id = self._get_or_create(queue).id
        session = self.session
        messages = self._messages
        oldest = (
            select(messages.c.id, messages.c.payload)
            .where(messages.c.queue_id == queue_id, messages.c.visible.is_(True))
            .order_by(messages.c.id)
            .limit(1)
        )
        # A plain read first: polling an empty queue must not take SQLite's write lock every time.
        if session.execute(oldest).first() is None:
            session.commit()
            raise Empty()
        consumer = _consumer_lock(self._consumers_folder).id
        with self._immediate_transaction() as tx:
            row = tx.execute(oldest).first()
            if row is None:
                raise Empty()
            tx.execute(update(messages).where(messages.c.id == row.id).values(visible=False))
            tx.execute(DELIVERIES.insert().values(message_id=row.id, consumer=consumer))
        payload: dict[str, Any] = json.loads(row.payload)
        payload["properties"][ROW_PROPERTY] = row.id
        return payload

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        message = super().basic_get(queue, no_ack=no_ack, **kwargs)
        if message is not None and no_ack:
            self._delete_row(message.properties[ROW_PROPERTY])
        return message

    def basic_consume(self, queue: str, no_ack: bool, callback: Any, consumer_tag: str, **kwargs: Any) -> Any:
        if no_ack:
            deliver = callback

            def callback(message: Any) -> Any:
                self._delete_row(message.properties[ROW_PROPERTY])
                return deliver(message)

        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        row_id = self._row_of(delivery_tag)
        if row_id is not None:
            self._delete_row(row_id)
        super().basic_ack(delivery_tag, multiple)

    def _delete_row(self, row_id: int) -> None:
        with self._immediate_transaction() as tx:
            tx.execute(delete(DELIVERIES).where(DELIVERIES.c.message_id == row_id))
            tx.execute(delete(self._messages).where(self._messages.c.id == row_id))

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        row_id = self._row_of(delivery_tag)
        if row_id is not None:
            with self._immediate_transaction() as tx:
                if requeue:
                    self._return_rows(tx, [row_id], counted=True)
                else:
                    self._dead_letter_or_drop(tx, row_id, reason="rejected")
        self.qos.reject(delivery_tag, requeue=False)

    def _restore(self, message: Any) -> None:
        # An orderly close returns what this channel still holds; that is not a failed delivery.
        with self._immediate_transaction() as tx:
            self._return_rows(tx, [message.properties[ROW_PROPERTY]], counted=False)

    def _row_of(self, delivery_tag: str) -> int | None:
        try:
            message = self.qos.get(delivery_tag)
        except KeyError:
            return None
        row_id: int = message.properties[ROW_PROPERTY]
        return row_id

    def recover_orphans(self) -> int:
        """Return to their queues the messages held by consumers that died; how many came back."""
        self._next_sweep = time.monotonic() + self._sweep_interval
        folder = self._consumers_folder
        own = _consumer_locks.get((os.getpid(), folder))
        mine = {own.id} if own is not None else set()
        session = self.session
        holders = set(session.execute(select(DELIVERIES.c.consumer).distinct()).scalars())
        session.commit()
        dead = [consumer for consumer in holders - mine if not holder_alive(lock_path(folder, consumer))]
        orphans: list[int] = []
        if dead:
            # The dead record no new deliveries, so whoever sweeps them first returns them exactly once.
            with self._immediate_transaction() as tx:
                held = select(DELIVERIES.c.message_id).where(DELIVERIES.c.consumer.in_(dead))
                orphans = list(tx.execute(held).scalars())
                self._return_rows(tx, orphans, counted=True)
        for consumer in dead:
            lock_path(folder, consumer).unlink(missing_ok=True)
        if folder.is_dir():
            for path in folder.glob("*.lock"):
                if path.stem not in holders | mine and not holder_alive(path):
                    path.unlink(missing_ok=True)
        return len(orphans)

    def _return_rows(self, tx: Session, row_ids: list[int], *, counted: bool) -> None:
        messages, queues = self._messages, self._queues
        rows = tx.execute(
            select(messages.c.id, messages.c.payload, queues.c.name)
            .join(queues, queues.c.id == messages.c.queue_id)
            .where(messages.c.id.in_(row_ids))
        ).all()
        for row in rows:
            payload = json.loads(row.payload)
            headers = payload.setdefault("headers", {})
            payload["properties"].setdefault("delivery_info", {})["redelivered"] = True
            values: dict[str, Any] = {"visible": True}
            if counted:
                headers["x-delivery-count"] = int(headers.get("x-delivery-count", 0)) + 1
                if headers["x-delivery-count"] > self._delivery_limit and not is_dead_letter_queue(row.name):
                    _mark_death(headers, "delivery_limit", row.name)
                    values["queue_id"] = self._queue_id(tx, dead_letter_queue_name(row.name))
            values["payload"] = json.dumps(payload)
            tx.execute(update(messages).where(messages.c.id == row.id).values(**values))
        tx.execute(delete(DELIVERIES).where(DELIVERIES.c.message_id.in_(row_ids)))

    def _dead_letter_or_drop(self, tx: Session, row_id: int, *, reason: str) -> None:
        messages, queues = self._messages, self._queues
        row = tx.execute(
            select(messages.c.payload, queues.c.name)
            .join(queues, queues.c.id == messages.c.queue_id)
            .where(messages.c.id == row_id)
        ).one()
        tx.execute(delete(DELIVERIES).where(DELIVERIES.c.message_id == row_id))
        if is_dead_letter_queue(row.name):
            tx.execute(delete(messages).where(messages.c.id == row_id))
            return
        payload = json.loads(row.payload)
        _mark_death(payload.setdefault("headers", {}), reason, row.name)
        dead_id = self._queue_id(tx, dead_letter_queue_name(row.name))
        tx.execute(
            update(messages)
            .where(messages.c.id == row_id)
            .values(visible=True, queue_id=dead_id, payload=json.dumps(payload))
        )

    def _queue_id(self, tx: Session, name: str) -> int:
        queues = self._queues
        tx.execute(sqlite_insert(queues).values(name=name).on_conflict_do_nothing(index_elements=["name"]))
        queue_id: int = tx.execute(select(queues.c.id).where(queues.c.name == name)).scalar_one()
        return queue_id

    @contextmanager
    def _immediate_transaction(self) -> Iterator[Session]:
        """BEGIN IMMEDIATE … COMMIT on this thread's session; rolled back if any part of it fails."""
        session = self.session
        try:
            session.commit()  # end any read the session started, so BEGIN opens a fresh transaction
            session.execute(text("BEGIN IMMEDIATE"))
            yield session
            session.commit()
        except BaseException:
            # Also when COMMIT itself fails: SQLAlchemy then leaves the session "prepared", refusing all SQL.
            session.rollback()
            raise


def _mark_death(headers: dict[str, Any], reason: str, queue: str) -> None:
    """The dead-letter headers RabbitMQ would add (its x-death "time" is an AMQP timestamp; here ISO 8601)."""
    headers["x-first-death-reason"] = reason
    headers["x-first-death-queue"] = queue
    headers["x-death"] = [{"reason": reason, "queue": queue, "count": 1, "time": utcnow().isoformat()}]


class Transport(kombu_sqlalchemy.Transport):  # type: ignore[misc]
    Channel = Channel
