"""Settings from flags and environment; JSON logs that carry the key and never a secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from innodb_operator.observability import logs
from innodb_operator.settings import Settings, parse


def test_flags_win_over_environment_which_wins_over_defaults() -> None:
    env = {"INNODB_OPERATOR_WORKERS": "7", "INNODB_OPERATOR_NAMESPACES": "a, b",
           "INNODB_OPERATOR_LEADER_ELECTION": "false"}
    settings = parse(["--workers", "3"], env)
    assert settings.workers == 3
    assert settings.namespaces == ("a", "b")
    assert settings.leader_election is False
    assert parse([], {}) == Settings()


def test_boolean_flags_have_a_negative_form() -> None:
    assert parse(["--no-leader-election"], {}).leader_election is False
    assert parse(["--leader-election"], {"INNODB_OPERATOR_LEADER_ELECTION": "0"}).leader_election is True


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--workers", "0"], {}, "workers must be at least 1"),
        (["--workers", "two"], {}, "--workers: cannot read 'two' as int"),
        ([], {"INNODB_OPERATOR_POLL_SECONDS": "soon"}, "INNODB_OPERATOR_POLL_SECONDS: cannot read 'soon'"),
        (["--renew-period-seconds", "20"], {}, "renew period must be shorter than the lease duration"),
        (["--renew-period-seconds", "10"], {}, "renew period must be shorter than two thirds of the lease"),
        (["--log-format", "xml"], {}, "log format must be json or console"),
        ([], {"INNODB_OPERATOR_LEADER_ELECTION": "maybe"}, "INNODB_OPERATOR_LEADER_ELECTION: cannot read"),
    ],
)
def test_bad_settings_say_what_to_fix(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse(argv, env)


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure("json", "debug", stream=out)
    yield out
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_lines_inside_a_reconcile_carry_key_and_reconcile_id(json_logs: io.StringIO) -> None:
    log = structlog.get_logger()
    with logs.reconcile_context("innodbcluster", "ns/c") as first:
        log.info("one")
    with logs.reconcile_context("innodbcluster", "ns/c") as second:
        log.info("two")
    log.info("outside")
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    assert [line.get("key") for line in lines] == ["ns/c", "ns/c", None]
    assert lines[0]["reconcile_id"] == first != second == lines[1]["reconcile_id"]
    assert lines[0]["controller"] == "innodbcluster" and lines[0]["level"] == "info"


def test_secrets_never_reach_the_log(json_logs: io.StringIO) -> None:
    log = structlog.get_logger()
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "root"},
              "data": {"rootPassword": "c2FraWxh"}, "stringData": {"x": "sakila"}}
    log.info("applying", body=secret, password="sakila", admin_token="tok-123",
             spec={"instances": 3, "root": {"rootPassword": "sakila", "user": "root"}})
    text = json_logs.getvalue()
    for leaked in ("sakila", "c2FraWxh", "tok-123"):
        assert leaked not in text
    line = json.loads(text)
    assert line["spec"]["instances"] == 3 and line["spec"]["root"]["user"] == "root"
    assert line["body"]["metadata"]["name"] == "root"


def test_stdlib_logging_comes_out_as_the_same_json_with_key_and_redaction(json_logs: io.StringIO) -> None:
    stdlib = logging.getLogger("innodb_operator.mysql.connection")
    with logs.reconcile_context("innodbcluster", "ns/c") as reconcile_id:
        stdlib.info("connecting to %s as %s password=%s", "c-0", "innodbop-admin", "sakila",
                    extra={"password": "s3cret", "member": "c-0", "options": {"user": "a", "passwd": "pw-x"}})
        stdlib.debug("debug lines pass at the configured level")
    stdlib.warning("outside, token: tok-123")
    text = json_logs.getvalue()
    for leaked in ("sakila", "s3cret", "pw-x", "tok-123"):
        assert leaked not in text
    first, second, third = (json.loads(line) for line in text.splitlines())
    assert first["key"] == "ns/c" and first["reconcile_id"] == reconcile_id and first["controller"] == "innodbcluster"
    assert first["level"] == "info" and first["logger"] == "innodb_operator.mysql.connection"
    assert first["event"] == "connecting to c-0 as innodbop-admin password=[redacted]"
    assert first["password"] == "[redacted]" and first["member"] == "c-0"
    assert first["options"] == {"user": "a", "passwd": "[redacted]"}
    assert "timestamp" in first and "_record" not in first
    assert second["level"] == "debug" and second["key"] == "ns/c"
    assert third["level"] == "warning" and "key" not in third and third["event"] == "outside, token: [redacted]"


def test_stdlib_lines_below_the_configured_level_are_dropped() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        logs.configure("json", "warning", stream=out)
        logging.getLogger("innodb_operator.cache.reflector").info("relisting")
        logging.getLogger("innodb_operator.cache.reflector").warning("watch failed")
        assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == ["watch failed"]
    finally:
        structlog.reset_defaults()
        root.handlers[:] = handlers
        root.setLevel(level)
