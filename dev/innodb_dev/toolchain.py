"""Build or fetch the upstream components the test tiers run against.

Every component is pinned here and built once into the user's cache directory,
in a folder keyed by its version; later calls find it there and return at once.

    python -m innodb_dev.toolchain ensure        # build what is missing, print progress
    python -m innodb_dev.toolchain paths         # print where each binary lives

Components:
  kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
      from the ``k8s.io/kubernetes`` Go module at KUBERNETES_VERSION, through a
      small generated ``go.mod`` whose ``replace`` lines pin every ``k8s.io/*``
      staging module to the matching ``v0.x`` tag;
  etcd  from the ``go.etcd.io/etcd/server/v3`` Go module at ETCD_VERSION;
  helm  from ``helm.sh/helm/v3/cmd/helm`` at HELM_VERSION.

The MySQL root filesystem is handled by :mod:`innodb_dev.mysqlroot`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
HELM_VERSION = "v3.22.0"

KUBE_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


def cache_root() -> Path:
    """The project's cache directory (``$XDG_CACHE_HOME/innodb-operator``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "innodb-operator"


@dataclass(frozen=True)
class Binaries:
    """Absolute paths of every built component."""

    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    helm: Path

    def missing(self) -> list[Path]:
        """Every component that is not built yet."""
        return [p for p in vars(self).values() if not os.access(p, os.X_OK)]

    def control_plane_missing(self) -> list[Path]:
        """The components a control plane needs (all but helm) that are not built yet."""
        return [p for p in self.missing() if p != self.helm]


def binaries() -> Binaries:
    kube = cache_root() / f"kubernetes-{KUBERNETES_VERSION}" / "bin"
    return Binaries(
        kube_apiserver=kube / "kube-apiserver",
        kube_controller_manager=kube / "kube-controller-manager",
        kube_scheduler=kube / "kube-scheduler",
        kubectl=kube / "kubectl",
        etcd=cache_root() / f"etcd-{ETCD_VERSION}" / "bin" / "etcd",
        helm=cache_root() / f"helm-{HELM_VERSION}" / "bin" / "helm",
    )


INSTALL_HINT = "./dev/setup  (builds the control plane, etcd and helm into ~/.cache/innodb-operator)"


def _say(message: str) -> None:
    print(f"[toolchain] {message}", flush=True)


def _go_env(gobin: Path | None = None) -> dict[str, str]:
    """Environment for ``go``: static binaries, the local toolchain, module mode."""
    env = dict(os.environ)
    env.update(CGO_ENABLED="0", GOTOOLCHAIN="local", GOWORK="off", GOFLAGS="-mod=mod -buildvcs=false")
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    return env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    _say("$ " + " ".join(cmd))
    started = time.monotonic()
    subprocess.run(cmd, cwd=cwd, env=env, check=True)
    _say(f"  done in {time.monotonic() - started:.0f}s")


def _dependency_replaces(module: str, version: str, local_version: str, env: dict[str, str],
                         workdir: Path) -> str:
    """``replace`` lines that make ``module@version`` build as it does as its own main module.

    A main module's ``go.mod`` may replace modules with folders of its own repository
    (``=> ./staging/...`` or ``=> ../api``); those pin to ``local_version``, the tag the
    repository publishes them at. Replaces by another module are copied as they are.
    """
    out = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                         cwd=workdir, env=env, check=True, capture_output=True, text=True).stdout
    match = re.search(r'"GoMod":\s*"([^"]+)"', out)
    if not match:
        raise RuntimeError(f"go mod download printed no GoMod path:\n{out}")
    lines = []
    for line in Path(match.group(1)).read_text().splitlines():
        found = re.match(r"^\s*(?:replace\s+)?([\w./-]+)(?:\s+v\S+)?\s*=>\s*(\S+)(?:\s+(\S+))?\s*$", line)
        if not found:
            continue
        source, target, target_version = found.groups()
        if target.startswith(".") and _version_fits(source, local_version):
            lines.append(f"replace {source} => {source} {local_version}")
        elif target_version:
            lines.append(f"replace {source} => {target} {target_version}")
    return "\n".join(lines) + "\n"


def _version_fits(module: str, version: str) -> bool:
    """Go's rule: a module at major version N >= 2 must have the path suffix ``/vN``."""
    major = int(version.lstrip("v").split(".")[0])
    return major < 2 or module.endswith(f"/v{major}")


def build_go_commands(module: str, version: str, local_version: str, commands: dict[str, str],
                      dest: Path, ldflags: str = "-s -w") -> None:
    """Build each ``{binary_name: package}`` of ``module@version`` into ``dest``."""
    with tempfile.TemporaryDirectory(prefix="go-build-") as tmp:
        work = Path(tmp)
        env = _go_env()
        header = "module innodb-operator/toolchain-build\n\ngo 1.26\n"
        (work / "go.mod").write_text(header)
        _say(f"resolving {module} {version}")
        replaces = _dependency_replaces(module, version, local_version, env, work)
        (work / "go.mod").write_text(f"{header}\nrequire {module} {version}\n\n{replaces}")
        dest.mkdir(parents=True, exist_ok=True)
        for binary, package in commands.items():
            _say(f"building {binary} {version} (first time only; minutes on 2 cores)")
            _run(["go", "build", "-trimpath", "-ldflags", ldflags, "-o", str(dest / binary), package], work, env)


def build_kubernetes(dest: Path) -> None:
    """Build the control plane commands and kubectl into ``dest``."""
    minor = KUBERNETES_VERSION.split(".")[1]
    staging_tag = "v0." + ".".join(KUBERNETES_VERSION.lstrip("v").split(".")[1:])
    version_vars = {
        "k8s.io/component-base/version": ("gitVersion", "gitMajor", "gitMinor"),
        "k8s.io/client-go/pkg/version": ("gitVersion", "gitMajor", "gitMinor"),
    }
    values = {"gitVersion": KUBERNETES_VERSION, "gitMajor": "1", "gitMinor": minor}
    ldflags = "-s -w " + " ".join(
        f"-X {pkg}.{var}={values[var]}" for pkg, names in version_vars.items() for var in names
    ) + " -X k8s.io/component-base/version.gitTreeState=clean"
    build_go_commands("k8s.io/kubernetes", KUBERNETES_VERSION, staging_tag,
                      {c: f"k8s.io/kubernetes/cmd/{c}" for c in KUBE_COMMANDS}, dest, ldflags)


def _build_into(dest_binary: Path, build: Callable[[Path], None]) -> None:
    """Build into a scratch folder beside the final one, then move it into place atomically."""
    final = dest_binary.parent
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    build(partial)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)


def ensure() -> Binaries:
    """Build every missing component; return the paths. Idempotent and cheap when warm."""
    bins = binaries()
    wanted: list[tuple[str, Path, Callable[[Path], None]]] = [
        (f"kubernetes {KUBERNETES_VERSION}", bins.kube_apiserver, build_kubernetes),
        (f"etcd {ETCD_VERSION}", bins.etcd, lambda d: build_go_commands(
            "go.etcd.io/etcd/server/v3", ETCD_VERSION, ETCD_VERSION, {"etcd": "go.etcd.io/etcd/server/v3"}, d)),
        (f"helm {HELM_VERSION}", bins.helm, lambda d: build_go_commands(
            "helm.sh/helm/v3", HELM_VERSION, HELM_VERSION, {"helm": "helm.sh/helm/v3/cmd/helm"}, d,
            f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}")),
    ]
    for label, binary, build in wanted:
        siblings = [p for p in vars(bins).values() if p.parent == binary.parent]
        if all(os.access(p, os.X_OK) for p in siblings):
            _say(f"{label}: cached in {binary.parent}")
            continue
        if shutil.which("go") is None:
            raise SystemExit(f"building {label} needs the Go toolchain (>= 1.26) on PATH")
        started = time.monotonic()
        _build_into(binary, build)
        _say(f"{label}: built in {time.monotonic() - started:.0f}s")
    return bins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m innodb_dev.toolchain", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["ensure", "paths"])
    args = parser.parse_args(argv)
    if args.command == "ensure":
        ensure()
    for name, path in vars(binaries()).items():
        print(f"{name}={path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
