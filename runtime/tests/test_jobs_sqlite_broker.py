"""The SQLite job transport against consumers that die: real processes killed with SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import event

from runtime.jobs.app import SQLITE_TRANSPORT

pytestmark = pytest.mark.integration

WORK = Queue("work", Exchange("work", type="topic"), routing_key="work")
DEAD = Queue("work.dead", Exchange("work.dead", type="direct"), routing_key="work.dead")

# Fetches one message without acking it, says so, then waits to be killed (or kills itself).
HOLDER = """
import os, signal, sys, time
from kombu import Connection, Exchange, Queue
url, transport, then = sys.argv[1], sys.argv[2] or None, sys.argv[3]
queue = Queue("work", Exchange("work", type="topic"), routing_key="work")
with Connection(url, transport=transport) as connection:
    message = queue(connection.channel()).get(no_ack=False)
    print("holding", message.payload["job"], flush=True)
    if then == "die":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(60)
"""


def _connection(url: str, transport: str | None, **options: object) -> Connection:
    return Connection(url, transport=transport, transport_options=options)


def _publish(connection: Connection, job: int) -> None:
    connection.Producer().publish({"job": job}, exchange=WORK.exchange, routing_key="work", declare=[WORK, DEAD])


def _hold(url: str, transport: str | None, then: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, transport or "", then], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "holding 1"
    return holder


def _rows(database: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(database) as db:
        return db.execute("SELECT id, visible FROM kombu_message ORDER BY id").fetchall()


@pytest.fixture
def ours(tmp_path: Path) -> tuple[str, Path]:
    """A broker file for the recovering transport: its kombu URL and its path."""
    database = tmp_path / "broker.sqlite3"
    return f"sqlite:///{database}", database


def test_the_stock_transport_loses_a_message_whose_consumer_was_killed(tmp_path: Path) -> None:
    # The finding that runtime.jobs.sqlite_broker exists for (kombu 5.7): if this starts failing,
    # kombu has changed and the recovery layer should be re-examined.
    database = tmp_path / "stock.sqlite3"
    url = f"sqla+sqlite:///{database}"
    with _connection(url, None) as connection:
        _publish(connection, 1)
    holder = _hold(url, None, "die")
    assert holder.wait(timeout=10) == -signal.SIGKILL
    with _connection(url, None) as connection:
        assert WORK(connection.channel()).get(no_ack=False) is None
    assert _rows(database) == [(1, 0)]  # hidden forever, like an acked row


def test_a_message_held_by_a_killed_consumer_comes_back_counted(ours: tuple[str, Path]) -> None:
    url, database = ours
    with _connection(url, SQLITE_TRANSPORT) as connection:
        _publish(connection, 1)
    holder = _hold(url, SQLITE_TRANSPORT, "die")
    assert holder.wait(timeout=10) == -signal.SIGKILL
    with _connection(url, SQLITE_TRANSPORT) as connection:
        message = WORK(connection.channel()).get(no_ack=False)
        assert message is not None
        assert message.payload == {"job": 1}
        assert message.headers["x-delivery-count"] == 1
        assert message.delivery_info["redelivered"] is True
        message.ack()
    assert _rows(database) == []  # an ack deletes the row: nothing piles up hidden
    # The dead consumer's lock file was swept; only this test process's own remains.
    assert len(list(database.parent.glob("*.consumers/*.lock"))) == 1


def test_a_live_consumer_keeps_its_message_however_long_it_holds_it(ours: tuple[str, Path]) -> None:
    url, _ = ours
    with _connection(url, SQLITE_TRANSPORT) as connection:
        _publish(connection, 1)
    holder = _hold(url, SQLITE_TRANSPORT, "wait")
    try:
        with _connection(url, SQLITE_TRANSPORT, sweep_interval=0) as connection:
            channel = connection.channel()
            assert WORK(channel).get(no_ack=False) is None
            assert channel.recover_orphans() == 0
            holder.kill()
            holder.wait(timeout=10)
            message = WORK(channel).get(no_ack=False)
            assert message is not None
            assert message.payload == {"job": 1}
            message.ack()
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_an_orderly_close_returns_unacked_messages_without_counting_them(ours: tuple[str, Path]) -> None:
    url, _ = ours
    with _connection(url, SQLITE_TRANSPORT) as connection:
        _publish(connection, 1)
        assert WORK(connection.channel()).get(no_ack=False) is not None
    with _connection(url, SQLITE_TRANSPORT) as connection:
        message = WORK(connection.channel()).get(no_ack=False)
        assert message is not None
        assert "x-delivery-count" not in message.headers
        message.ack()


def test_a_message_returned_more_than_the_delivery_limit_is_dead_lettered(ours: tuple[str, Path]) -> None:
    url, _ = ours
    with _connection(url, SQLITE_TRANSPORT, delivery_limit=2) as connection:
        _publish(connection, 1)
        channel = connection.channel()
        deliveries = 0
        while (message := WORK(channel).get(no_ack=False)) is not None:
            deliveries += 1
            message.requeue()
        assert deliveries == 3
        dead = DEAD(channel).get(no_ack=False)
        assert dead is not None
        assert dead.payload == {"job": 1}
        assert dead.headers["x-first-death-reason"] == "delivery_limit"
        assert dead.headers["x-first-death-queue"] == "work"
        assert dead.headers["x-delivery-count"] == 3


def test_a_message_rejected_without_requeue_is_dead_lettered(ours: tuple[str, Path]) -> None:
    url, _ = ours
    with _connection(url, SQLITE_TRANSPORT) as connection:
        _publish(connection, 1)
        channel = connection.channel()
        message = WORK(channel).get(no_ack=False)
        assert message is not None
        message.reject()
        assert WORK(channel).get(no_ack=False) is None
        dead = DEAD(channel).get(no_ack=False)
        assert dead is not None
        assert dead.headers["x-first-death-reason"] == "rejected"


def test_the_broker_must_be_a_file() -> None:
    connection = Connection("sqlite://", transport=SQLITE_TRANSPORT)
    with pytest.raises(ValueError, match="needs a file"):
        connection.channel()


def test_a_message_taken_without_ack_is_gone_at_once(ours: tuple[str, Path]) -> None:
    url, database = ours
    with _connection(url, SQLITE_TRANSPORT) as connection:
        _publish(connection, 1)
        message = WORK(connection.channel()).get(no_ack=True)
        assert message is not None
        assert message.payload == {"job": 1}
    assert _rows(database) == []


@contextmanager
def _on_commit(channel: Any, hook: Any) -> Iterator[None]:
    """Run ``hook`` at each COMMIT of ``channel``'s broker file, after SQLAlchemy prepared it, before SQLite runs it."""
    engine, _ = channel._open()
    event.listen(engine, "commit", hook)
    try:
        yield
    finally:
        event.remove(engine, "commit", hook)


def test_the_consumer_thread_polls_while_another_thread_acks(ours: tuple[str, Path]) -> None:
    # Without an event loop (as on this transport) Celery's prefork pool acks late messages from its
    # result-handler thread while the consumer thread keeps polling the same channel.
    url, database = ours
    with _connection(url, SQLITE_TRANSPORT) as connection:
        _publish(connection, 1)
        channel = connection.channel()
        message = WORK(channel).get(no_ack=False)
        assert message is not None
        acker = threading.Thread(target=message.ack)
        committing, resume = threading.Event(), threading.Event()

        def hold_the_ack_mid_commit(_connection: Any) -> None:
            if threading.current_thread() is acker:
                committing.set()
                resume.wait(timeout=10)

        with _on_commit(channel, hold_the_ack_mid_commit):
            acker.start()
            try:
                assert committing.wait(timeout=10)
                assert WORK(channel).get(no_ack=False) is None
            finally:
                resume.set()
                acker.join(timeout=10)
    assert _rows(database) == []


def test_a_failed_commit_leaves_the_channel_usable(ours: tuple[str, Path]) -> None:
    url, database = ours
    with _connection(url, SQLITE_TRANSPORT) as connection:
        _publish(connection, 1)
        channel = connection.channel()
        message = WORK(channel).get(no_ack=False)
        assert message is not None
        failures = [sqlite3.OperationalError("disk I/O error")]

        def fail_once(_connection: Any) -> None:
            if failures:
                raise failures.pop()

        with _on_commit(channel, fail_once), pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
            message.ack()
        assert _rows(database) == [(1, 0)]  # nothing half-written: the message is still held
        message.ack()
        assert WORK(channel).get(no_ack=False) is None
    assert _rows(database) == []
