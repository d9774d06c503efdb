"""Container logs as a container runtime writes them and as kubelet serves them.

Each start of a container (so each restart) writes a file of its own,
``<pod logs>/<container>/<restart count>.log``, in the CRI logging format that kubelet reads
from real runtimes: one entry per line, ``<RFC 3339 time, ns> <stdout|stderr> <F|P> <text>``,
``F`` for a full line (its newline stripped), ``P`` for a part of a longer line or a last line
without a newline. :class:`ContainerLog` captures a container's stdout and stderr pipes into
that file; :func:`read`, :func:`select` and :class:`Renderer` answer what ``kubectl logs``
asks (``tailLines``, ``sinceTime``/``sinceSeconds``, ``timestamps``, ``limitBytes``), and
:meth:`ContainerLog.follow` streams what comes next (``-f``). Like kubelet, the agent keeps the
current file and the one before it (``--previous``) per container.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK = 16 * 1024  # a longer line is stored in parts (tag P), as runtimes split them
FOLLOW_POLL = 1.0  # a follower rereads at least this often, whatever it was told


@dataclass(frozen=True)
class Entry:
    """One entry of a CRI log file."""

    time_ns: int
    stream: str       # "stdout" or "stderr"
    partial: bool     # P: no newline ends this piece
    text: bytes

    @property
    def content(self) -> bytes:
        """The bytes the container wrote that this entry stands for."""
        return self.text if self.partial else self.text + b"\n"


def rfc3339_nano(time_ns: int) -> str:
    """Go's ``time.RFC3339Nano`` in UTC (trailing zeros of the fraction dropped), as kubelet prints."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{stamp}.{fraction}Z" if fraction else f"{stamp}Z"


def parse_time(value: str) -> int:
    """An RFC 3339 time (``sinceTime``, or an entry's) in nanoseconds since the epoch."""
    text = value.strip().replace("Z", "+00:00")
    nanos = 0
    if "." in text:
        head, rest = text.split(".", 1)
        digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]
        nanos = int((digits + "000000000")[:9]) if digits else 0
        text = head + rest[len(digits):]
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * 1_000_000_000 + nanos


def encode(stream: str, text: bytes, *, partial: bool, time_ns: int | None = None) -> bytes:
    stamp = rfc3339_nano(time.time_ns() if time_ns is None else time_ns)
    return f"{stamp} {stream} {'P' if partial else 'F'} ".encode() + text + b"\n"


def parse_line(line: bytes) -> Entry | None:
    """One stored line (without its newline); None for anything that is not a CRI entry."""
    parts = line.split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    try:
        time_ns = parse_time(parts[0].decode())
    except ValueError:
        return None
    return Entry(time_ns, parts[1].decode(), parts[2] == b"P", parts[3] if len(parts) > 3 else b"")


def parse(data: bytes) -> tuple[list[Entry], int]:
    """The entries in ``data`` and how many bytes they span (a trailing unfinished line is left)."""
    end = data.rfind(b"\n") + 1
    entries = [e for e in (parse_line(raw) for raw in data[:end].split(b"\n") if raw) if e is not None]
    return entries, end


def read(path: Path) -> tuple[list[Entry], int]:
    """Every entry of a log file, and the offset after the last one (where following starts)."""
    try:
        return parse(path.read_bytes())
    except FileNotFoundError:
        return [], 0


def select(entries: list[Entry], *, tail_lines: int | None = None, since_ns: int | None = None) -> list[Entry]:
    """What ``sinceTime``/``sinceSeconds`` and then ``tailLines`` keep (kubelet counts entries)."""
    if since_ns is not None:
        entries = [e for e in entries if e.time_ns >= since_ns]
    if tail_lines is not None:
        entries = entries[-tail_lines:] if tail_lines > 0 else []
    return entries


class Renderer:
    """The bytes ``kubectl logs`` prints: each line, prefixed with its time when asked, up to a limit."""

    def __init__(self, *, timestamps: bool, limit: int | None = None) -> None:
        self.timestamps = timestamps
        self.remaining = limit
        self._line_start = True

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def feed(self, entries: Iterable[Entry]) -> bytes:
        out = bytearray()
        for entry in entries:
            if self.timestamps and self._line_start:
                out += rfc3339_nano(entry.time_ns).encode() + b" "
            out += entry.content
            self._line_start = not entry.partial
        if self.remaining is not None:
            out = out[:max(0, self.remaining)]
            self.remaining -= len(out)
        return bytes(out)


TERMINATION_MESSAGE_LINES, TERMINATION_MESSAGE_BYTES = 80, 2048


def termination_message(path: Path) -> str:
    """What kubelet's ``terminationMessagePolicy: FallbackToLogsOnError`` reports for a container
    that failed: the end of its log, at most 80 lines and 2048 bytes (the agent has no
    ``terminationMessagePath`` file, so the log is always the fallback)."""
    entries, _ = read(path)
    text = b"".join(e.content for e in select(entries, tail_lines=TERMINATION_MESSAGE_LINES))
    return text[-TERMINATION_MESSAGE_BYTES:].decode(errors="replace").strip()


def instance_path(directory: Path, container: str, restart: int) -> Path:
    return directory / container / f"{restart}.log"


def instances(directory: Path, container: str) -> list[Path]:
    """The kept log files of one container of a pod, oldest first."""
    folder = directory / container
    found = [p for p in folder.glob("*.log") if p.stem.isdigit()] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(p.stem))


def decode_all(directory: Path, container: str) -> str:
    """Everything the kept instances of a container wrote, oldest first, as text (for tests)."""
    return "".join(b"".join(e.content for e in read(path)[0]).decode(errors="replace")
                   for path in instances(directory, container))


class ContainerLog:
    """One container instance's log file, written from its stdout and stderr pipes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.finished = asyncio.Event()
        self._grew = asyncio.Event()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        older = [p for p in instances(path.parent.parent, path.parent.name) if p != path]
        for stale in older[:-1]:  # keep the one before this (--previous), as kubelet does
            stale.unlink(missing_ok=True)

    async def capture(self, stdout: int, stderr: int) -> None:
        """Copy both pipes (their read ends, owned from here on) into the file until both end."""
        with self.path.open("ab", buffering=0) as out:
            try:
                await asyncio.gather(self._pump(stdout, "stdout", out), self._pump(stderr, "stderr", out))
            finally:
                self.finished.set()
                self._pulse()

    async def _pump(self, fd: int, stream: str, out: BinaryIO) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        pending = b""
        try:
            while data := await reader.read(CHUNK):
                *lines, pending = (pending + data).split(b"\n")
                records = [encode(stream, line, partial=False) for line in lines]
                while len(pending) >= CHUNK:
                    records.append(encode(stream, pending[:CHUNK], partial=True))
                    pending = pending[CHUNK:]
                if records:
                    out.write(b"".join(records))
                    self._pulse()
            if pending:
                out.write(encode(stream, pending, partial=True))
        finally:
            transport.close()

    def _pulse(self) -> None:
        grew, self._grew = self._grew, asyncio.Event()
        grew.set()

    async def follow(self, offset: int) -> AsyncIterator[list[Entry]]:
        """Entries written after byte ``offset``, as they come, until this instance has ended."""
        while True:
            grew = self._grew
            done = self.finished.is_set()
            with self.path.open("rb") as f:
                f.seek(offset)
                entries, used = parse(f.read())
            offset += used
            if entries:
                yield entries
            if done:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(grew.wait(), FOLLOW_POLL)
