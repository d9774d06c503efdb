"""An acknowledged-write checker: what an application that writes through MySQL Router sees.

    with WriteChecker(router_host, 6446, password) as checker:   # a thread writing ids 1, 2, 3...
        ...break something...
        checker.wait_for_writes_after(t0)                         # writes flow again
    report = checker.verify([member addresses])                   # every acknowledged id, everywhere

The writer connects through the router's RW port, inserts sequential ids with autocommit
(one row per transaction) and records an id as *acknowledged* only when the server
answered the commit with success. On any error it drops the connection and reconnects
(as applications do), moving on to the next id: an id whose commit outcome is unknown is
neither acknowledged nor retried. :meth:`verify` then demands that every acknowledged id is
on every member, read through each member's own address, and that no id is there twice
(ids are a plain column, not a key, so a duplicate would show).
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import mysql.connector

SCHEMA = "writecheck"


@dataclass
class Report:
    acknowledged: int
    lost: dict[str, list[int]] = field(default_factory=dict)       # member -> acknowledged ids missing there
    duplicated: dict[str, list[int]] = field(default_factory=dict)  # member -> ids stored more than once
    errors: int = 0
    longest_gap: float = 0.0

    @property
    def ok(self) -> bool:
        return not any(self.lost.values()) and not any(self.duplicated.values())


def _connect(host: str, port: int, password: str, timeout: float = 3.0) -> Any:
    return mysql.connector.connect(host=host, port=port, user="root", password=password, autocommit=True,
                                   connection_timeout=int(timeout), use_pure=True)


class WriteChecker:
    def __init__(self, host: str, port: int, password: str, *, interval: float = 0.01) -> None:
        self.host, self.port, self.password = host, port, password
        self.interval = interval
        self.acked: list[tuple[int, float]] = []   # (id, monotonic time of the acknowledgement)
        self.errors: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="write-checker", daemon=True)
        self._lock = threading.Lock()
        # A table of its own: a member that missed this run's writes cannot pass with an older run's rows.
        self.table = f"{SCHEMA}.acked_{secrets.token_hex(4)}"

    def __enter__(self) -> WriteChecker:
        self._prepare()
        self._thread.start()
        self.wait_for_writes_after(time.monotonic(), timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _prepare(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = _connect(self.host, self.port, self.password)
                break
            except mysql.connector.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        try:
            cur = conn.cursor()
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
            cur.execute(f"CREATE TABLE {self.table} (seq BIGINT AUTO_INCREMENT PRIMARY KEY, id BIGINT NOT NULL)")
        finally:
            conn.close()

    def _run(self) -> None:
        next_id, conn = 1, None
        while not self._stop.is_set():
            try:
                if conn is None:
                    conn = _connect(self.host, self.port, self.password)
                cur = conn.cursor()
                cur.execute(f"INSERT INTO {self.table} (id) VALUES (%s)", (next_id,))
                with self._lock:
                    self.acked.append((next_id, time.monotonic()))
            except (mysql.connector.Error, OSError) as exc:
                with self._lock:
                    self.errors.append((time.monotonic(), str(exc)[:160]))
                if conn is not None:
                    with contextlib.suppress(Exception):  # the connection is broken anyway
                        conn.close()
                conn = None
                self._stop.wait(0.2)
            next_id += 1
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()

    # --- observations -------------------------------------------------------------------------

    def acked_after(self, moment: float) -> list[tuple[int, float]]:
        with self._lock:
            return [(i, t) for i, t in self.acked if t > moment]

    def wait_for_writes_after(self, moment: float, *, count: int = 5, timeout: float = 180) -> float:
        """Wait until ``count`` writes were acknowledged after ``moment``; seconds from it to the first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            after = self.acked_after(moment)
            if len(after) >= count:
                return after[0][1] - moment
            time.sleep(0.05)
        last = self.errors[-1][1] if self.errors else "no error recorded"
        raise AssertionError(f"no acknowledged write for {timeout:.0f}s after the fault (last error: {last})")

    def wait_for_recovery_after(self, moment: float, *, count: int = 5, timeout: float = 180) -> float:
        """Seconds from ``moment`` to the first acknowledged write after the first failed one.

        For a fault that breaks the writer's connection (a killed primary): a write already
        committed when the fault struck may still be acknowledged just after ``moment``; the
        outage ends with the first write acknowledged after the writer noticed it.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                failure = next((t for t, _ in self.errors if t >= moment), None)
            if failure is not None:
                after = self.acked_after(failure)
                if len(after) >= count:
                    return after[0][1] - moment
            time.sleep(0.05)
        raise AssertionError(f"no failed write followed by {count} acknowledged ones within {timeout:.0f}s")

    def longest_gap(self, since: float = 0.0) -> float:
        with self._lock:
            times = [since] + [t for _, t in self.acked if t > since] if since else [t for _, t in self.acked]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def verify(self, members: list[tuple[str, str, int]], *, timeout: float = 120) -> Report:
        """Every acknowledged id on every member (name, host, port); waits for members to catch up."""
        if not members:
            raise ValueError("verify needs the members to read from")
        self.stop()
        with self._lock:
            acked = [i for i, _ in self.acked]
        report = Report(acknowledged=len(acked), errors=len(self.errors), longest_gap=self.longest_gap())
        wanted = set(acked)
        for name, host, port in members:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    rows = _ids(host, port, self.password, self.table)
                except mysql.connector.Error:
                    rows = []
                missing = sorted(wanted - set(rows))
                if not missing or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            seen: set[int] = set()
            twice = sorted({i for i in rows if i in seen or seen.add(i)})  # type: ignore[func-returns-value]
            report.lost[name] = missing
            report.duplicated[name] = twice
        return report


def _ids(host: str, port: int, password: str, table: str) -> list[int]:
    conn = _connect(host, port, password)
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT id FROM {table}")
        return [int(row[0]) for row in cur.fetchall()]
    finally:
        conn.close()
