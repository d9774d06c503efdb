"""The e2e tier: the local environment (control plane + node agents), shared by the session."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from innodb_dev import mysqlroot, toolchain
from innodb_dev.localenv import LocalEnv
from innodb_dev.waiting import wait_until


def _require_components() -> None:
    missing = toolchain.binaries().missing()
    if missing:
        pytest.fail(f"missing {', '.join(map(str, missing))}; install with: {toolchain.INSTALL_HINT}")
    if mysqlroot.cached_root() is None:
        pytest.fail(f"no MySQL root filesystem; install with: {mysqlroot.INSTALL_HINT}")


@pytest.fixture(scope="session")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnv]:
    _require_components()
    with LocalEnv.start(tmp_path_factory.mktemp("localenv")) as local:
        yield local


def create_namespace(env: LocalEnv, name: str) -> None:
    """Create ``name`` and wait for its ``default`` ServiceAccount (pods are refused before it)."""
    env.kubectl("create", "namespace", name)
    wait_until(lambda: env.kubectl("get", "serviceaccount", "-n", name, "default", check=False).returncode == 0,
               30, message=f"the default ServiceAccount in {name}")


@pytest.fixture
def namespace(env: LocalEnv) -> Iterator[str]:
    name = f"e2e-{secrets.token_hex(3)}"
    create_namespace(env, name)
    yield name
    env.kubectl("delete", "namespace", name, "--wait=false", check=False)


def apply(env: LocalEnv, namespace: str, *objects: dict[str, Any]) -> None:
    env.kubectl("apply", "-n", namespace, "-f", "-", input="\n---\n".join(json.dumps(o) for o in objects))


def server_image() -> str:
    from innodb_api.types import DEFAULT_VERSION

    return f"container-registry.oracle.com/mysql/community-server:{DEFAULT_VERSION}"


def shell_container(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A container of the server image running ``bash -c script`` (the image has bash)."""
    return {"name": name, "image": server_image(), "command": ["bash", "-c", script], **extra}


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": list(containers), **spec}}


def state_path(env: LocalEnv) -> Path:
    return env.state


@pytest.fixture(scope="session")
def operator(env: LocalEnv) -> LocalEnv:
    """The operator installed with its chart (journey step 1), once per session."""
    from innodb_dev.localenv import OPERATOR_NS, install_operator

    install_operator(env)
    wait_until(lambda: "1/1" in env.kubectl("get", "deploy", "-n", OPERATOR_NS, "--no-headers").stdout, 180,
               message="the operator Deployment to be ready")
    return env
