"""mysql/accounts without a server: specs, validation, SHOW GRANTS reading, what is missing."""

from __future__ import annotations

from typing import Any

import pytest

from innodb_operator.mysql import Endpoint
from innodb_operator.mysql.accounts import (
    ALL,
    AccountSpec,
    Grant,
    admin_account,
    backup_account,
    current_grants,
    missing_grants,
    recovery_account,
    router_account,
)
from innodb_operator.mysql.connection import Params, Row


class FakeSession:
    """Answers SHOW GRANTS with canned lines; records nothing else."""

    endpoint = Endpoint("127.0.0.9")

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.seen: list[tuple[str, Any]] = []

    async def query(self, sql: str, params: Params = None) -> list[Row]:
        self.seen.append((sql, params))
        return [{"Grants for u@%": line} for line in self.lines]


def test_specs_have_the_documented_privileges() -> None:
    assert admin_account("op").grants == (Grant((ALL,), "*.*", grant_option=True),)
    recovery = recovery_account("rec").grants[0].privileges
    assert set(recovery) == {"REPLICATION SLAVE", "CONNECTION_ADMIN", "BACKUP_ADMIN", "GROUP_REPLICATION_STREAM"}
    assert "SERVICE_CONNECTION_ADMIN" in recovery_account("rec", admin_port=True).grants[0].privileges
    targets = [g.on for g in router_account("r").grants]
    assert targets == ["mysql_innodb_cluster_metadata.*", "mysql_innodb_cluster_metadata.routers",
                       "mysql_innodb_cluster_metadata.v2_routers", "performance_schema.global_variables",
                       "performance_schema.replication_group_members",
                       "performance_schema.replication_group_member_stats"]
    assert "BACKUP_ADMIN" in backup_account("b").grants[0].privileges


def test_grant_renders_quoted_sql_with_the_account_as_parameters() -> None:
    grant = Grant(("select", "Execute"), "mysql_innodb_cluster_metadata.*")
    assert grant.privileges == ("SELECT", "EXECUTE")
    assert grant.sql() == "GRANT SELECT, EXECUTE ON `mysql_innodb_cluster_metadata`.* TO %s@%s"
    assert Grant((ALL,), grant_option=True).sql() == "GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION"


@pytest.mark.parametrize("bad", [
    lambda: Grant(("SELECT; DROP",), "*.*"),
    lambda: Grant(("SELECT",), "db"),
    lambda: Grant(("SELECT",), "*.t"),
    lambda: Grant(("SELECT",), "d`b.*"),
    lambda: AccountSpec("x'y"),
    lambda: AccountSpec("ok", "h o s t"),
    lambda: AccountSpec(""),
])
def test_unsafe_names_are_rejected_before_any_sql(bad: Any) -> None:
    with pytest.raises(ValueError):
        bad()


async def test_current_grants_reads_static_dynamic_table_and_option_lines() -> None:
    session = FakeSession([
        "GRANT SELECT, REPLICATION SLAVE ON *.* TO `u`@`%`",
        "GRANT BACKUP_ADMIN,CONNECTION_ADMIN ON *.* TO `u`@`%` WITH GRANT OPTION",
        "GRANT SELECT, EXECUTE ON `mysql_innodb_cluster_metadata`.* TO `u`@`%`",
        "GRANT SELECT (a, b), INSERT ON `d`.`t` TO `u`@`%`",
        "GRANT `role1`@`%` TO `u`@`%`",
    ])
    grants = await current_grants(session, "u", "%")  # type: ignore[arg-type]
    assert session.seen == [("SHOW GRANTS FOR %s@%s", ("u", "%"))]
    assert grants["*.*"] == (frozenset({"SELECT", "REPLICATION SLAVE", "BACKUP_ADMIN", "CONNECTION_ADMIN"}),
                             frozenset({"BACKUP_ADMIN", "CONNECTION_ADMIN"}))
    assert grants["mysql_innodb_cluster_metadata.*"][0] == {"SELECT", "EXECUTE"}
    assert grants["d.t"][0] == {"SELECT", "INSERT"}


def test_missing_grants_lists_only_what_is_lacking() -> None:
    spec = AccountSpec("u", "%", (Grant(("SELECT", "RELOAD", "BACKUP_ADMIN")), Grant(("SELECT",), "p.t"),
                                  Grant(("SHOW VIEW",), "*.*", grant_option=True)))
    current: dict[str, tuple[frozenset[str], frozenset[str]]] = {
        "*.*": (frozenset({"SELECT", "BACKUP_ADMIN", "SHOW VIEW"}), frozenset())}
    assert missing_grants(spec, current) == (Grant(("RELOAD",)), Grant(("SELECT",), "p.t"),
                                             Grant(("SHOW VIEW",), "*.*", grant_option=True))
    everything = {"*.*": (frozenset({ALL, "BACKUP_ADMIN"}), frozenset({ALL})),
                  "p.t": (frozenset({"SELECT"}), frozenset())}
    assert missing_grants(spec, everything) == ()


def test_all_privileges_is_compared_against_the_servers_full_list() -> None:
    spec = admin_account("op")
    full = frozenset({"SELECT", "SUPER", "BACKUP_ADMIN"})
    assert missing_grants(spec, {"*.*": (full, full)}, full) == ()
    assert missing_grants(spec, {"*.*": (full, frozenset())}, full) == spec.grants  # no grant option yet
    partial = full - {"BACKUP_ADMIN"}
    assert missing_grants(spec, {"*.*": (partial, partial)}, full) == spec.grants
    assert missing_grants(spec, {}, frozenset()) == spec.grants
