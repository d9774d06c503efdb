"""The accounts the operator keeps on every instance, and idempotent SQL to converge them.

Contract:

* :func:`ensure_account` compares before it writes: it creates the account only if it is
  missing (``CREATE USER IF NOT EXISTS``), changes the password only when asked
  (``reset_password=True``: ``ALTER USER ... IDENTIFIED BY``), and grants only privileges the
  account lacks (read back from ``SHOW GRANTS``). A second call with the same spec executes
  nothing, so it creates no transactions (no GTIDs) on a healthy instance. It never revokes.
* ``binlog=False`` runs the statements with ``sql_log_bin=0``: for an instance that is not
  (yet) in a group, so that accounts made locally do not become errant transactions.
* Passwords are passed to the server as parameters wrapped in
  :class:`~.connection.Secret`; they are never part of SQL text built here, never logged,
  and scrubbed from error messages. Only ``user@host`` and privilege names are logged.
* User names, hosts, privileges and object names are validated (a small safe alphabet) and
  quoted; anything else raises ``ValueError`` before reaching the server.

The specs (privileges as of MySQL 9.7):

* :func:`admin_account` -- the operator's own account: ``ALL PRIVILEGES ON *.* WITH GRANT
  OPTION`` (it creates and grants the other accounts, manages Group Replication, clone and
  the metadata schema).
* :func:`router_account` -- MySQL Router's metadata cache, the grants MySQL Shell's
  ``setupRouterAccount`` gives: ``SELECT, EXECUTE ON mysql_innodb_cluster_metadata.*``;
  ``INSERT, UPDATE, DELETE`` on its ``routers`` and ``v2_routers``; ``SELECT`` on
  ``performance_schema.global_variables``, ``replication_group_members`` and
  ``replication_group_member_stats``. Table grants need the tables to exist (error 1146
  otherwise): ensure this account after the metadata schema.
* :func:`backup_account` -- logical and clone backups: ``SELECT, SHOW VIEW, TRIGGER, EVENT,
  LOCK TABLES, RELOAD, PROCESS, REPLICATION CLIENT, SHOW_ROUTINE, BACKUP_ADMIN``.
* :func:`recovery_account` -- Group Replication distributed recovery (binary log and clone):
  ``REPLICATION SLAVE, CONNECTION_ADMIN, BACKUP_ADMIN, GROUP_REPLICATION_STREAM``, plus
  ``SERVICE_CONNECTION_ADMIN`` when ``group_replication_local_address`` is the admin port
  (the MYSQL communication stack connects there; without it even the bootstrap member
  fails its self-test "failed to test connectivity to the local group communication engine").
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from innodb_operator.mysql.connection import Secret, Session, secret

logger = logging.getLogger(__name__)

METADATA_SCHEMA = "mysql_innodb_cluster_metadata"

_NAME_RE = re.compile(r"[A-Za-z0-9_.\-]{1,32}")
_HOST_RE = re.compile(r"[A-Za-z0-9_.%:\-]{1,255}")
_PRIVILEGE_RE = re.compile(r"[A-Z_]+( [A-Z_]+)*")
_OBJECT_PART_RE = re.compile(r"\*|[A-Za-z0-9_$]{1,64}")
_SHOW_GRANTS_RE = re.compile(r"^GRANT (?P<privs>.+?) ON (?P<obj>\S+) TO (?P<acct>\S+?)(?P<opt> WITH GRANT OPTION)?$")

ALL = "ALL PRIVILEGES"


@dataclass(frozen=True, slots=True)
class Grant:
    """Privileges on one object: ``*.*``, ``db.*`` or ``db.table``."""

    privileges: tuple[str, ...]
    on: str = "*.*"
    grant_option: bool = False

    def __post_init__(self) -> None:
        privileges = tuple(p.strip().upper() for p in self.privileges)
        for privilege in privileges:
            if not _PRIVILEGE_RE.fullmatch(privilege):
                raise ValueError(f"not a privilege name: {privilege!r}")
        parts = self.on.split(".")
        if len(parts) != 2 or not all(_OBJECT_PART_RE.fullmatch(p) for p in parts):
            raise ValueError(f"not a grant target: {self.on!r}")
        if parts[0] == "*" and parts[1] != "*":
            raise ValueError(f"not a grant target: {self.on!r}")
        object.__setattr__(self, "privileges", privileges)

    @property
    def target_sql(self) -> str:
        return ".".join(p if p == "*" else f"`{p}`" for p in self.on.split("."))

    def sql(self) -> str:
        """The GRANT statement, with the account as the parameters ``%s@%s``."""
        option = " WITH GRANT OPTION" if self.grant_option else ""
        return f"GRANT {', '.join(self.privileges)} ON {self.target_sql} TO %s@%s{option}"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """An account and the grants it must have (it may have more)."""

    user: str
    host: str = "%"
    grants: tuple[Grant, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME_RE.fullmatch(self.user):
            raise ValueError(f"unsupported account user name: {self.user!r}")
        if not _HOST_RE.fullmatch(self.host):
            raise ValueError(f"unsupported account host: {self.host!r}")

    @property
    def name(self) -> str:
        """``user@host`` for logs."""
        return f"{self.user}@{self.host}"


@dataclass(frozen=True, slots=True)
class AccountChange:
    """What :func:`ensure_account` did."""

    created: bool = False
    password_reset: bool = False
    granted: tuple[Grant, ...] = ()

    @property
    def changed(self) -> bool:
        return self.created or self.password_reset or bool(self.granted)


# --- the operator's accounts -----------------------------------------------------------


def admin_account(user: str, host: str = "%") -> AccountSpec:
    return AccountSpec(user, host, (Grant((ALL,), "*.*", grant_option=True),))


def router_account(user: str, host: str = "%") -> AccountSpec:
    md = METADATA_SCHEMA
    return AccountSpec(user, host, (
        Grant(("SELECT", "EXECUTE"), f"{md}.*"),
        Grant(("INSERT", "UPDATE", "DELETE"), f"{md}.routers"),
        Grant(("INSERT", "UPDATE", "DELETE"), f"{md}.v2_routers"),
        Grant(("SELECT",), "performance_schema.global_variables"),
        Grant(("SELECT",), "performance_schema.replication_group_members"),
        Grant(("SELECT",), "performance_schema.replication_group_member_stats"),
    ))


def backup_account(user: str, host: str = "%") -> AccountSpec:
    return AccountSpec(user, host, (
        Grant(("SELECT", "SHOW VIEW", "TRIGGER", "EVENT", "LOCK TABLES", "RELOAD", "PROCESS",
               "REPLICATION CLIENT", "SHOW_ROUTINE", "BACKUP_ADMIN"), "*.*"),
    ))


METRICS_HOST = "127.0.0.1"
"""The exporter runs beside mysqld in the same pod and logs in over loopback, from nowhere else."""


def metrics_account(user: str, host: str = METRICS_HOST) -> AccountSpec:
    """What the MySQL exporter reads: status, variables, replication and performance_schema."""
    return AccountSpec(user, host, (
        Grant(("PROCESS", "REPLICATION CLIENT"), "*.*"),
        Grant(("SELECT",), "performance_schema.*"),
    ))


def recovery_account(user: str, host: str = "%", *, admin_port: bool = False) -> AccountSpec:
    """``admin_port``: the group's local addresses use the admin interface (MYSQL stack)."""
    privileges: tuple[str, ...] = ("REPLICATION SLAVE", "CONNECTION_ADMIN", "BACKUP_ADMIN", "GROUP_REPLICATION_STREAM")
    if admin_port:
        privileges += ("SERVICE_CONNECTION_ADMIN",)
    return AccountSpec(user, host, (Grant(privileges, "*.*"),))


# --- reading ---------------------------------------------------------------------------


async def account_exists(session: Session, user: str, host: str) -> bool:
    row = await session.query_one("SELECT 1 AS present FROM mysql.user WHERE user = %s AND host = %s", (user, host))
    return row is not None


def _split_privileges(text: str) -> list[str]:
    """``SELECT, INSERT (a, b), BACKUP_ADMIN`` -> names, ignoring column lists."""
    out: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            out.append(current)
            current = ""
            continue
        if depth == 0 and char not in "()":
            current += char
    out.append(current)
    return [p.strip().upper() for p in out if p.strip()]


async def current_grants(session: Session, user: str, host: str) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
    """Per object (``*.*``, ``db.*``, ``db.table``): (privileges, privileges with grant option).

    Read from ``SHOW GRANTS``; dynamic privileges (``BACKUP_ADMIN``...) appear by name, and
    ``ALL PRIVILEGES`` as that literal name.
    """
    rows = await session.query("SHOW GRANTS FOR %s@%s", (user, host))
    plain: dict[str, set[str]] = {}
    with_option: dict[str, set[str]] = {}
    for row in rows:
        line = str(next(iter(row.values())))
        match = _SHOW_GRANTS_RE.match(line)
        if match is None:  # role grants, PROXY lines we do not manage, ...
            continue
        target = match["obj"].replace("`", "")
        privileges = set(_split_privileges(match["privs"]))
        plain.setdefault(target, set()).update(privileges)
        if match["opt"]:
            with_option.setdefault(target, set()).update(privileges)
    return {t: (frozenset(p), frozenset(with_option.get(t, ()))) for t, p in plain.items()}


async def all_privileges(session: Session) -> frozenset[str]:
    """What ``ALL PRIVILEGES ON *.*`` grants on this server (``SHOW PRIVILEGES``, static and dynamic).

    ``SHOW GRANTS`` never prints ``ALL PRIVILEGES`` in 9.7: it lists every privilege, so a
    desired ``ALL`` is compared against this list.
    """
    rows = await session.query("SHOW PRIVILEGES")
    names = {str(next(iter(r.values()))).upper() for r in rows}
    return frozenset(names - {"GRANT OPTION", "PROXY", "USAGE"})


def missing_grants(spec: AccountSpec, current: dict[str, tuple[frozenset[str], frozenset[str]]],
                   everything: frozenset[str] = frozenset()) -> tuple[Grant, ...]:
    """The part of ``spec.grants`` that ``current`` (from :func:`current_grants`) lacks.

    ``everything`` is what ``ALL PRIVILEGES`` means (from :func:`all_privileges`); needed only
    when a grant asks for ``ALL``.
    """
    out: list[Grant] = []
    for grant in spec.grants:
        have, have_with_option = current.get(grant.on, (frozenset(), frozenset()))
        pool = have_with_option if grant.grant_option else have
        if ALL in pool:  # ALL PRIVILEGES covers every privilege on that object
            continue
        if ALL in grant.privileges:
            if not everything or not everything <= pool:
                out.append(grant)
            continue
        lacking = tuple(p for p in grant.privileges if p not in pool)
        if lacking:
            out.append(Grant(lacking, grant.on, grant.grant_option))
    return tuple(out)


# --- writing ---------------------------------------------------------------------------


async def ensure_account(session: Session, spec: AccountSpec, password: str | Secret, *,
                         reset_password: bool = False, binlog: bool = True) -> AccountChange:
    """Make the account exist with at least ``spec``'s grants; see the module docstring."""
    pw = secret(password)
    if not binlog:
        await session.execute("SET SESSION sql_log_bin = 0")
    try:
        created = password_reset = False
        if not await account_exists(session, spec.user, spec.host):
            await session.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (spec.user, spec.host, pw))
            created = True
        elif reset_password:
            await session.execute("ALTER USER %s@%s IDENTIFIED BY %s", (spec.user, spec.host, pw))
            password_reset = True
        wants_all = any(ALL in g.privileges for g in spec.grants)
        everything = await all_privileges(session) if wants_all else frozenset()
        lacking = missing_grants(spec, await current_grants(session, spec.user, spec.host), everything)
        for grant in lacking:
            await session.execute(grant.sql(), (spec.user, spec.host))
    finally:
        if not binlog:
            await session.execute("SET SESSION sql_log_bin = 1")
    change = AccountChange(created=created, password_reset=password_reset, granted=lacking)
    if change.changed:
        logger.info("mysql account %s converged on %s: created=%s password_reset=%s granted=%s", spec.name,
                    session.endpoint, created, password_reset, [f"{g.privileges} ON {g.on}" for g in lacking])
    return change


async def drop_account(session: Session, user: str, host: str = "%", *, binlog: bool = True) -> bool:
    """Drop the account if it exists; True when it did."""
    AccountSpec(user, host)  # validate
    if not await account_exists(session, user, host):
        return False
    if not binlog:
        await session.execute("SET SESSION sql_log_bin = 0")
    try:
        await session.execute("DROP USER IF EXISTS %s@%s", (user, host))
    finally:
        if not binlog:
            await session.execute("SET SESSION sql_log_bin = 1")
    logger.info("mysql account %s@%s dropped on %s", user, host, session.endpoint)
    return True

