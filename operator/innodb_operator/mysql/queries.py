"""Read-only questions to one server, answered with typed, immutable values.

Contract:

* Every function takes an open :class:`~.connection.Session`, runs only ``SELECT``
  statements (it changes nothing, creates no GTIDs) and returns frozen dataclasses.
* Facts that depend on a plugin are ``None`` when the plugin is not loaded, instead of
  failing: an instance without Group Replication or clone is a state to report, not an error.
* Errors are those of :mod:`.errors` (``Unreachable``, ``AccessDenied``, ``QueryError``).

Functions: :func:`instance_facts`, :func:`group_members`, :func:`recovery_channel_state`
(any channel, default ``group_replication_recovery``), :func:`clone_progress`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from innodb_operator.mysql.connection import Row, Session
from innodb_operator.mysql.errors import MysqlError, QueryError
from innodb_operator.mysql.gtid import GtidSet

RECOVERY_CHANNEL = "group_replication_recovery"
APPLIER_CHANNEL = "group_replication_applier"

_ER_NO_SUCH_TABLE = 1146

_GR_VARIABLES = (
    "group_replication_group_name",
    "group_replication_single_primary_mode",
    "group_replication_local_address",
    "group_replication_group_seeds",
    "group_replication_communication_stack",
    "group_replication_start_on_boot",
)


async def _rows(session: Session, sql: str, params: tuple[Any, ...] | None = None) -> list[Row]:
    """Rows with lowercase column names (performance_schema names its columns in capitals)."""
    return [{k.lower(): v for k, v in r.items()} for r in await session.query(sql, params)]


async def _row(session: Session, sql: str, params: tuple[Any, ...] | None = None) -> Row | None:
    rows = await _rows(session, sql, params)
    return rows[0] if rows else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return str(value)


def _opt_text(value: Any) -> str | None:
    text = _text(value)
    return text or None


def _flag(value: Any) -> bool:
    return _text(value).upper() in ("1", "ON", "YES", "TRUE")


def _int(value: Any) -> int:
    return int(value) if value is not None and value != "" else 0


PRIMARY_MEMBER_LOG_CODE = "MY-011510"
"""ER_GRP_RPL_SRV_PRIMARY_MEM, "This server is working as primary member.": logged by Group
Replication right after it turns ``super_read_only`` off on an elected primary."""


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """What one instance says about itself."""

    server_uuid: str
    server_id: int
    version: str
    report_host: str | None
    port: int
    gtid_mode: str
    gtid_executed: GtidSet
    gtid_purged: GtidSet
    read_only: bool
    super_read_only: bool
    offline_mode: bool
    gr_plugin: str | None
    """Status of the ``group_replication`` plugin (``ACTIVE``, ``DISABLED``...) or None if not loaded."""
    clone_plugin: str | None
    group_name: str | None
    single_primary_mode: bool | None
    local_address: str | None
    group_seeds: tuple[str, ...]
    communication_stack: str | None
    start_on_boot: bool | None
    last_clone_started: datetime | None = None
    """When the last clone into this instance began (``clone_status``), None if never."""
    became_primary_at: float | None = None
    """Epoch seconds of the last "working as primary member" line in the error log (the moment
    Group Replication let it take writes), None when the log holds none."""

    @property
    def gr_plugin_active(self) -> bool:
        return self.gr_plugin == "ACTIVE"

    @property
    def clone_plugin_active(self) -> bool:
        return self.clone_plugin == "ACTIVE"


async def instance_facts(session: Session) -> InstanceFacts:
    """Identity, GTID state, read-only flags, plugins and Group Replication settings."""
    row = await _row(
        session,
        "SELECT @@server_uuid AS server_uuid, @@server_id AS server_id, @@version AS version,"
        " @@report_host AS report_host, @@port AS port, @@global.gtid_mode AS gtid_mode,"
        " @@global.gtid_executed AS gtid_executed, @@global.gtid_purged AS gtid_purged,"
        " @@global.read_only AS read_only, @@global.super_read_only AS super_read_only,"
        " @@global.offline_mode AS offline_mode"
    )
    if row is None:
        raise MysqlError(f"{session.endpoint}: SELECT @@server_uuid returned no row")
    plugins = {
        _text(r["name"]).lower(): _text(r["status"])
        for r in await _rows(
            session,
            "SELECT plugin_name AS name, plugin_status AS status FROM information_schema.plugins"
            " WHERE plugin_name IN ('group_replication', 'clone')"
        )
    }
    placeholders = ", ".join(["%s"] * len(_GR_VARIABLES))
    variables = {
        _text(r["name"]).lower(): _text(r["value"])
        for r in await _rows(
            session,
            "SELECT variable_name AS name, variable_value AS value FROM performance_schema.global_variables"
            f" WHERE variable_name IN ({placeholders})",
            _GR_VARIABLES,
        )
    }

    def gr(name: str) -> str | None:
        value = variables.get(f"group_replication_{name}")
        return value if value else None

    last_clone = None
    if plugins.get("clone") == "ACTIVE":
        clone = await _row(session, "SELECT begin_time FROM performance_schema.clone_status ORDER BY id DESC LIMIT 1")
        last_clone = _time(clone["begin_time"]) if clone is not None else None
    became_primary = await _became_primary_at(session) if plugins.get("group_replication") == "ACTIVE" else None
    single_primary = gr("single_primary_mode")
    start_on_boot = gr("start_on_boot")
    seeds = gr("group_seeds")
    return InstanceFacts(
        server_uuid=_text(row["server_uuid"]),
        server_id=_int(row["server_id"]),
        version=_text(row["version"]),
        report_host=_opt_text(row["report_host"]),
        port=_int(row["port"]),
        gtid_mode=_text(row["gtid_mode"]),
        gtid_executed=GtidSet.parse(_text(row["gtid_executed"])),
        gtid_purged=GtidSet.parse(_text(row["gtid_purged"])),
        read_only=_flag(row["read_only"]),
        super_read_only=_flag(row["super_read_only"]),
        offline_mode=_flag(row["offline_mode"]),
        gr_plugin=plugins.get("group_replication"),
        clone_plugin=plugins.get("clone"),
        group_name=gr("group_name"),
        single_primary_mode=None if single_primary is None else _flag(single_primary),
        local_address=gr("local_address"),
        group_seeds=tuple(s.strip() for s in seeds.split(",") if s.strip()) if seeds else (),
        communication_stack=gr("communication_stack"),
        start_on_boot=None if start_on_boot is None else _flag(start_on_boot),
        last_clone_started=last_clone,
        became_primary_at=became_primary,
    )


async def _became_primary_at(session: Session) -> float | None:
    """The last primary-member line of the error log; None when there is none or the log cannot
    be read (a timing aid: never a reason to call the instance unusable)."""
    try:
        line = await _row(session, "SELECT UNIX_TIMESTAMP(MAX(logged)) AS at FROM performance_schema.error_log"
                                   " WHERE error_code = %s", (PRIMARY_MEMBER_LOG_CODE,))
    except QueryError:
        return None
    return float(line["at"]) if line is not None and line["at"] is not None else None


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One row of ``performance_schema.replication_group_members`` as this instance sees it."""

    member_id: str
    host: str
    port: int | None
    state: str
    role: str
    version: str
    communication_stack: str

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host


async def group_members(session: Session) -> list[GroupMember]:
    """The group as this instance sees it, sorted by member id.

    Empty when the plugin is not loaded; a single ``OFFLINE`` row (this instance, empty role)
    when Group Replication is loaded but not running.
    """
    rows = await _rows(
        session,
        "SELECT member_id, member_host, member_port, member_state, member_role, member_version,"
        " member_communication_stack FROM performance_schema.replication_group_members"
        " ORDER BY member_id"
    )
    return [
        GroupMember(
            member_id=_text(r["member_id"]),
            host=_text(r["member_host"]),
            port=_int(r["member_port"]) or None,
            state=_text(r["member_state"]),
            role=_text(r["member_role"]),
            version=_text(r["member_version"]),
            communication_stack=_text(r["member_communication_stack"]),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class ChannelState:
    """A replication channel's receiver and applier, e.g. Group Replication's recovery channel."""

    channel: str
    receiver_state: str
    """``ON``, ``OFF`` or ``CONNECTING`` (replication_connection_status.SERVICE_STATE)."""
    applier_state: str | None
    source_uuid: str | None
    received_transaction_set: GtidSet
    last_error_number: int
    last_error_message: str
    last_error_time: datetime | None
    applier_last_error_number: int
    applier_last_error_message: str

    @property
    def failing(self) -> bool:
        return bool(self.last_error_number or self.applier_last_error_number)


async def recovery_channel_state(session: Session, channel: str = RECOVERY_CHANNEL) -> ChannelState | None:
    """The channel's state, or None when the channel does not exist (never configured)."""
    row = await _row(
        session,
        "SELECT c.channel_name, c.service_state AS receiver_state, a.service_state AS applier_state,"
        " c.source_uuid, c.received_transaction_set, c.last_error_number, c.last_error_message,"
        " c.last_error_timestamp"
        " FROM performance_schema.replication_connection_status c"
        " LEFT JOIN performance_schema.replication_applier_status a ON a.channel_name = c.channel_name"
        " WHERE c.channel_name = %s",
        (channel,),
    )
    if row is None:
        return None
    worker = await _row(
        session,
        "SELECT last_error_number, last_error_message FROM performance_schema.replication_applier_status_by_worker"
        " WHERE channel_name = %s AND last_error_number <> 0 ORDER BY last_error_timestamp DESC LIMIT 1",
        (channel,),
    )
    stamp = _time(row["last_error_timestamp"])
    return ChannelState(
        channel=_text(row["channel_name"]),
        receiver_state=_text(row["receiver_state"]),
        applier_state=_opt_text(row["applier_state"]),
        source_uuid=_opt_text(row["source_uuid"]),
        received_transaction_set=GtidSet.parse(_text(row["received_transaction_set"])),
        last_error_number=_int(row["last_error_number"]),
        last_error_message=_text(row["last_error_message"]),
        last_error_time=stamp if stamp is not None and stamp.year > 1970 else None,
        applier_last_error_number=_int(worker["last_error_number"]) if worker else 0,
        applier_last_error_message=_text(worker["last_error_message"]) if worker else "",
    )


@dataclass(frozen=True, slots=True)
class CloneStage:
    """One row of ``performance_schema.clone_progress``."""

    stage: str
    state: str
    begin_time: datetime | None
    end_time: datetime | None
    threads: int
    estimate: int
    data: int
    network: int


@dataclass(frozen=True, slots=True)
class CloneStatus:
    """The latest clone operation on this instance (as recipient), from ``clone_status``."""

    state: str
    """``Not Started``, ``In Progress``, ``Completed`` or ``Failed``."""
    begin_time: datetime | None
    end_time: datetime | None
    source: str
    destination: str
    error_number: int
    error_message: str
    binlog_file: str
    binlog_position: int
    gtid_executed: GtidSet
    stages: tuple[CloneStage, ...]

    @property
    def in_progress(self) -> bool:
        return self.state == "In Progress"

    @property
    def completed(self) -> bool:
        return self.state == "Completed"

    @property
    def failed(self) -> bool:
        return self.state == "Failed"

    @property
    def percent(self) -> float | None:
        """Bytes copied over bytes estimated across all stages, when anything was estimated."""
        estimate = sum(s.estimate for s in self.stages)
        return None if estimate == 0 else min(100.0, 100.0 * sum(s.data for s in self.stages) / estimate)


async def clone_progress(session: Session) -> CloneStatus | None:
    """The last clone on this instance, or None (no clone yet, or the plugin is not loaded)."""
    try:
        status = await _row(
            session,
            "SELECT state, begin_time, end_time, source, destination, error_no, error_message,"
            " binlog_file, binlog_position, gtid_executed FROM performance_schema.clone_status"
            " ORDER BY id DESC LIMIT 1"
        )
        if status is None:
            return None
        stages = await _rows(
            session,
            "SELECT stage, state, begin_time, end_time, threads, estimate, data, network"
            " FROM performance_schema.clone_progress ORDER BY id, begin_time"
        )
    except QueryError as exc:
        if exc.errno == _ER_NO_SUCH_TABLE:
            return None
        raise
    return CloneStatus(
        state=_text(status["state"]),
        begin_time=_time(status["begin_time"]),
        end_time=_time(status["end_time"]),
        source=_text(status["source"]),
        destination=_text(status["destination"]),
        error_number=_int(status["error_no"]),
        error_message=_text(status["error_message"]),
        binlog_file=_text(status["binlog_file"]),
        binlog_position=_int(status["binlog_position"]),
        gtid_executed=GtidSet.parse(_text(status["gtid_executed"])),
        stages=tuple(_stage(r) for r in stages),
    )


def _stage(row: Row) -> CloneStage:
    return CloneStage(
        stage=_text(row["stage"]),
        state=_text(row["state"]),
        begin_time=_time(row["begin_time"]),
        end_time=_time(row["end_time"]),
        threads=_int(row["threads"]),
        estimate=_int(row["estimate"]),
        data=_int(row["data"]),
        network=_int(row["network"]),
    )
