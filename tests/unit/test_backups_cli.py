"""Names of backup runs: sortable by time, valid Kubernetes names, cluster and schedule first."""

from __future__ import annotations

import datetime as dt

from innodb_operator.backups import backup_name

NOW = dt.datetime(2026, 11, 26, 3, 0, 5, tzinfo=dt.UTC)


def test_name_is_cluster_schedule_and_utc_timestamp() -> None:
    assert backup_name("mycluster", "nightly", NOW) == "mycluster-nightly-20261126030005"
    assert backup_name("mycluster", "", NOW) == "mycluster-manual-20261126030005"


def test_long_names_are_cut_to_63_characters_keeping_the_timestamp() -> None:
    name = backup_name("c" * 40, "s" * 40, NOW)
    assert len(name) <= 63 and name.endswith("-20261126030005") and "--" not in name
