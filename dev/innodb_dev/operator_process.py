"""Run the operator as a subprocess (the console script tests and users run) against a kubeconfig."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from innodb_dev.controlplane import free_port
from innodb_dev.waiting import wait_until

__all__ = ["OperatorProcess", "wait_until"]


class OperatorProcess:
    """One ``innodb-operator run`` process with its own health and metrics ports and log file."""

    def __init__(self, kubeconfig: Path, log_path: Path, *, identity: str, extra_args: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.health_port = free_port()
        self.metrics_port = free_port()
        self.identity = identity
        self.log_path = log_path
        self.argv = [
            sys.executable, "-m", "innodb_operator.cli", "run",
            "--kubeconfig", str(kubeconfig), "--bind-address", "127.0.0.1",
            "--health-port", str(self.health_port), "--metrics-port", str(self.metrics_port),
            "--identity", identity, *(extra_args or []),
        ]
        self.env = {**os.environ, **(env or {})}
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=self.env)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.popen is not None
        return self.popen.wait(timeout)

    def stop(self) -> None:
        if not self.alive():
            return
        self.signal(signal.SIGTERM)
        try:
            self.wait(30)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.wait(10)

    def get(self, path: str, port: int | None = None) -> tuple[int, str]:
        """GET ``path`` on the health port (or ``port``); (0, "") when nothing answers."""
        url = f"http://127.0.0.1:{port or self.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as err:
            return int(err.code), err.read().decode()
        except OSError:
            return 0, ""

    def metrics(self) -> str:
        return self.get("/metrics", self.metrics_port)[1]

    def metric(self, family: str, /, **labels: str) -> float | None:
        """The value of one sample, or None when absent (``labels`` may include ``name``)."""
        for line in self.metrics().splitlines():
            if not line.startswith(family + "{") and not line.startswith(family + " "):
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0])) if "{" in line else {}
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
        return None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
