"""Operator settings, from command-line flags with environment-variable defaults.

Every field has one flag (``--workers``) and one variable (``INNODB_OPERATOR_WORKERS``);
a flag wins over the variable, the variable over the default. ``--help`` lists them.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from innodb_operator import __version__

ENV_PREFIX = "INNODB_OPERATOR_"


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = field(
        default=(), metadata={"help": "Namespaces to watch, comma-separated; empty means all namespaces."})
    workers: int = field(default=4, metadata={"help": "Concurrent object reconciles (children and their status)."})
    group_workers: int = field(
        default=4, metadata={"help": "Concurrent group-manager passes (SQL on the groups), apart from the workers."})
    group_pass_deadline_seconds: float = field(
        default=120.0, metadata={"help": "Longest a group-manager pass may take before it is cut off and retried."})
    resync_seconds: float = field(
        default=600.0, metadata={"help": "Informer resync period: every cached object is re-delivered."})
    poll_seconds: float = field(
        default=30.0, metadata={"help": "Re-check interval for each existing cluster (group state has no watch)."})
    metrics_port: int = field(default=9090, metadata={"help": "Port of the /metrics endpoint (0: off)."})
    health_port: int = field(default=8081, metadata={"help": "Port of the /healthz and /readyz endpoints."})
    bind_address: str = field(default="0.0.0.0", metadata={"help": "Address the HTTP endpoints listen on."})
    leader_election: bool = field(default=True, metadata={"help": "Elect one active replica through a Lease."})
    lease_name: str = field(default="innodb-operator", metadata={"help": "Name of the leader Lease."})
    lease_namespace: str = field(
        default="", metadata={"help": "Namespace of the Lease; empty means the pod's own namespace."})
    lease_duration_seconds: float = field(
        default=15.0, metadata={"help": "How long a lease is valid without renewal; followers wait this long."})
    renew_period_seconds: float = field(
        default=5.0, metadata={"help": "How often the leader renews the lease."})
    shutdown_grace_seconds: float = field(
        default=25.0, metadata={"help": "On SIGTERM, how long in-flight reconciles may take to finish."})
    kubeconfig: str = field(
        default="", metadata={"help": "Kubeconfig file; empty means in-cluster config, then ~/.kube/config."})
    log_format: str = field(default="json", metadata={"help": "Log format: json or console."})
    log_level: str = field(default="info", metadata={"help": "Log level: debug, info, warning, error."})
    operator_image: str = field(
        default=f"innodb-operator:{__version__}",
        metadata={"help": "Image of this operator, run by backup CronJobs (the chart sets it)."})
    identity: str = field(
        default="", metadata={"help": "This replica's name in the Lease; empty means the host name and pid."})

    def __post_init__(self) -> None:
        problems = []
        if self.workers < 1 or self.group_workers < 1:
            problems.append("workers and group workers must be at least 1")
        if self.group_pass_deadline_seconds <= 0:
            problems.append("the group pass deadline must be positive")
        if self.log_format not in ("json", "console"):
            problems.append(f"log format must be json or console, not {self.log_format!r}")
        if self.renew_period_seconds >= self.lease_duration_seconds:
            problems.append("renew period must be shorter than the lease duration")
        elif self.renew_period_seconds >= self.lease_duration_seconds * 2 / 3:
            problems.append("renew period must be shorter than two thirds of the lease duration (the renew "
                            "deadline), or a leader gives up before its first renewal")
        if self.poll_seconds <= 0 or self.resync_seconds < 0:
            problems.append("poll must be positive and resync non-negative")
        if problems:
            raise ValueError("; ".join(problems))


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per :class:`Settings` field, defaulting to None so the environment can fill in."""
    for f in fields(Settings):
        help_text = f"{f.metadata['help']} [env {ENV_PREFIX}{f.name.upper()}; default {f.default!r}]"
        if f.type in ("bool", bool):
            parser.add_argument(_flag(f.name), dest=f.name, default=None,
                                action=argparse.BooleanOptionalAction, help=help_text)
        else:
            parser.add_argument(_flag(f.name), dest=f.name, default=None, help=help_text)


def _convert(kind: Any, raw: str, name: str) -> Any:
    kind = str(kind)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind.startswith("tuple"):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
    except ValueError:
        raise ValueError(f"{name}: cannot read {raw!r} as {kind}") from None
    return raw


def from_sources(args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from parsed flags over environment variables over defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        flag_value = getattr(args, f.name, None) if args is not None else None
        env_value = environ.get(ENV_PREFIX + f.name.upper())
        if flag_value is not None:
            values[f.name] = flag_value if isinstance(flag_value, bool) else _convert(f.type, flag_value, _flag(f.name))
        elif env_value is not None:
            values[f.name] = _convert(f.type, env_value, ENV_PREFIX + f.name.upper())
    return Settings(**values)


def parse(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return from_sources(parser.parse_args(list(argv)), environ)
