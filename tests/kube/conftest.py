"""Fixtures for the ``kube`` tier: a real control plane per session, a namespace per test.

If the control plane binaries are missing the tier FAILS with the command that
installs them; it never skips.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from innodb_api.crd import all_crds
from innodb_dev import toolchain
from innodb_dev.controlplane import OPERATOR_USER, ControlPlane
from innodb_dev.operator_process import OperatorProcess
from innodb_operator.kube.client import KubeClient, connect
from innodb_operator.kube.resources import CRDS, NAMESPACES


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    missing = toolchain.binaries().control_plane_missing()
    if missing:
        pytest.fail(f"control plane not installed ({missing[0]} missing); run: {toolchain.INSTALL_HINT}",
                    pytrace=False)
    with ControlPlane.start(tmp_path_factory.mktemp("controlplane")) as cp:
        kubectl(cp, "apply", "-f", "-", stdin="\n---\n".join(json.dumps(c) for c in all_crds()))
        for crd in all_crds():
            kubectl(cp, "wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}")
        yield cp


def kubectl(cp: ControlPlane, *args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run the built kubectl against the test control plane as admin; return stdout."""
    result = subprocess.run([str(toolchain.binaries().kubectl), "--kubeconfig", str(cp.kubeconfig), *args],
                            input=stdin, capture_output=True, text=True, timeout=120)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


@pytest_asyncio.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    """An admin client (the test's own hands)."""
    client = await connect(str(control_plane.kubeconfig))
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def namespace(control_plane: ControlPlane, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace, deleted after the test."""
    name = f"t-{request.node.name[:30].lower().replace('_', '-').strip('-')}-{secrets.token_hex(3)}"
    kubectl(control_plane, "create", "namespace", name)
    yield name
    kubectl(control_plane, "delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def operators(control_plane: ControlPlane, tmp_path: Path) -> Iterator[list[OperatorProcess]]:
    """A list the test appends OperatorProcess objects to; all are stopped afterwards."""
    started: list[OperatorProcess] = []
    yield started
    for proc in started:
        proc.stop()
        if proc.popen is not None and proc.popen.returncode not in (0, None, -9):
            sys.stderr.write(f"--- operator {proc.identity} log ---\n{proc.log_text()[-4000:]}\n")


def operator_kubeconfig(cp: ControlPlane) -> Path:
    """Kubeconfig of the operator's own user (distinct in the audit log)."""
    return cp.kubeconfig_for(OPERATOR_USER)


__all__ = ["CRDS", "NAMESPACES", "kubectl", "operator_kubeconfig"]
