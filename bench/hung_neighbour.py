"""Does a cluster with a hung member slow the operator down for another cluster? Measured side by side.

    .venv/bin/python bench/hung_neighbour.py [--runs 2]

One operator, two clusters (journey values, three members each): ``stuck`` and ``busy``. Each
run scales ``busy`` from 3 to 4 members (helm upgrade until four members ONLINE) twice: once
with every member of ``stuck`` healthy, once with one of its members' ``mysqld`` SIGSTOPped
(its connections are accepted by the kernel and never answered, the hardest case for a
bounded pass), then scales ``busy`` back to 3. It prints both times and their ratio, and, from
the operator's log, the longest group-manager pass of ``stuck`` against the pass deadline and
whether any pass was cut off. Needs root and ./dev/setup, like the e2e tier.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the e2e helpers
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dev"))  # innodb_dev: the local environment

from e2e.cluster import Cluster, install
from innodb_dev.localenv import OPERATOR_NS, LocalEnv, install_operator
from innodb_dev.waiting import wait_until


def scale_up(busy: Cluster) -> float:
    started = time.monotonic()
    busy.helm_upgrade("serverInstances=4")
    busy.wait_members(4)
    took = time.monotonic() - started
    busy.helm_upgrade("serverInstances=3")
    busy.wait_members(3)
    return took


def passes_of(env: LocalEnv, key: str) -> list[dict[str, Any]]:
    pod = env.get("pods", "-n", OPERATOR_NS)["items"][0]["metadata"]["name"]
    lines = []
    for text in env.container_log(OPERATOR_NS, pod, "operator").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if line.get("controller") == "groupmanager" and line.get("key") == key:
            lines.append(line)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    healthy: list[float] = []
    hung: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-hung-") as workdir, LocalEnv.start(Path(workdir), nodes=4) as env:
        install_operator(env)
        stuck, _ = install(env, "stuck", "stuck", secrets.token_urlsafe(12))
        busy, _ = install(env, "busy", "busy", secrets.token_urlsafe(12))
        for run in range(args.runs):
            healthy.append(scale_up(busy))
            victim = next(m for m in stuck.members() if m != stuck.primary())
            pid = env.container_pid("stuck", victim, "mysql")
            os.kill(pid, signal.SIGSTOP)
            try:
                hung.append(scale_up(busy))
            finally:
                os.kill(pid, signal.SIGCONT)
            wait_until(lambda: all(m["state"] == "ONLINE" for m in stuck.members().values()), 300, interval=1,
                       message="the stopped member back ONLINE")
            print(f"run {run + 1}: scale 3 -> 4 of busy: {healthy[-1]:.1f}s with stuck healthy, "
                  f"{hung[-1]:.1f}s with {victim} SIGSTOPped", flush=True)
        lines = passes_of(env, "stuck/stuck")
    passes = [line for line in lines if line.get("event") == "group pass"]
    cut = [line for line in lines if "deadline" in str(line.get("event"))]
    ratio = statistics.median(hung) / statistics.median(healthy)
    print(f"\nscale 3 -> 4 (median of {args.runs}): {statistics.median(healthy):.1f}s with the neighbour healthy, "
          f"{statistics.median(hung):.1f}s with a neighbour member hung: ratio {ratio:.2f}")
    if passes:
        longest = max(line["elapsed_seconds"] for line in passes)
        print(f"stuck: {len(passes)} logged passes, longest {longest:.1f}s, deadline "
              f"{passes[0]['deadline_seconds']:.0f}s, {len(cut)} cut off by the deadline")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
