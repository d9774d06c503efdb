"""Start one container as a local process, and run commands inside a running one (probes, exec).

A container is: the pod's network namespace (shared by its containers, like a pause
container's), a private mount, UTS and IPC namespace of its own, a copy-on-write view of the
image's root filesystem (overlayfs over the MySQL root; upper layer per container), the pod's
volumes bind-mounted at their ``mountPath``, the pod's hosts file at ``/etc/hosts`` (and a
``resolv.conf`` that fails lookups at once: every name is in the hosts file), then
``chroot`` into it as the pod's ``runAsUser``/``runAsGroup``. Host-filesystem images (the
operator, mysqld_exporter) get the same namespaces and mounts, plus a private ``/run``, without
the overlay; a mount target the host lacks is made in a copy-on-write layer over its nearest
existing parent (never on the host itself), so the container sees it and the host does not.

The start script is generated per start, holds no secret (the container's environment is
passed to the process, never put on a command line) and lives in the pod's directory.
Mounts live only in the container's private mount namespace: when its last process exits,
they are gone, so nothing is ever left mounted on the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from innodb_dev.nodeagent.images import IMAGE_PATH, Image


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Spec:
    """Everything needed to start one container process."""

    image: Image
    argv: tuple[str, ...]
    env: dict[str, str]
    mounts: tuple[Mount, ...]
    netns: str
    hostname: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    workdir: Path            # per-container state: upper/, work/, merged/, logs
    hosts_file: Path         # the pod's /etc/hosts
    resolv_file: Path
    working_dir: str = ""


def resolve_in_root(root: Path, path: str) -> str:
    """``path`` with every symlink resolved inside ``root`` (as a container runtime does).

    An absolute link (the image's ``/var/run -> /run``) points into the image, never at the
    host; the result is absolute within the root.
    """
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise OSError(f"too many symlinks resolving {path} in {root}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        resolved.append(part)
    return "/" + "/".join(resolved)


def start_script(spec: Spec) -> str:
    q = shlex.quote
    lines = ["set -eu", f"/usr/bin/hostname {q(spec.hostname)}"]
    if spec.image.rootfs is not None:
        root = spec.workdir / "merged"
        upper, work = spec.workdir / "upper", spec.workdir / "work"
        lines.append(f"/usr/bin/mount -t overlay overlay -o lowerdir={q(str(spec.image.rootfs))},"
                     f"upperdir={q(str(upper))},workdir={q(str(work))} {q(str(root))}")
        lines += [f"/usr/bin/mount -t proc proc {q(str(root / 'proc'))}",
                  f"/usr/bin/mount --rbind /dev {q(str(root / 'dev'))}",
                  f"/usr/bin/mount -t tmpfs -o mode=1777 tmpfs {q(str(root / 'dev/shm'))}"]
        prefix = str(root)
    else:
        lines.append("/usr/bin/mount -t tmpfs -o mode=755 tmpfs /run")
        prefix = ""
    mounts = [Mount(spec.hosts_file, "/etc/hosts", read_only=True),
              Mount(spec.resolv_file, "/etc/resolv.conf", read_only=True), *spec.mounts]
    if spec.image.rootfs is None:
        lines += _host_layers(spec, [m.target for m in mounts])
    sources = [q(str(m.source)) for m in mounts]
    if spec.image.rootfs is None:
        # On the host's filesystem a mount (say at /tmp) can hide the sources of the next ones:
        # stage every source on the private /run first.
        for i, m in enumerate(mounts):
            stage = f"/run/.agent-stage/{i}"
            make = f"/usr/bin/mkdir -p {stage}" if m.source.is_dir() else \
                f"/usr/bin/mkdir -p /run/.agent-stage && /usr/bin/touch {stage}"
            lines += [make, f"/usr/bin/mount --bind {sources[i]} {stage}"]
            sources[i] = stage
        for i, path in enumerate(spec.image.keep):
            lines += [f"/usr/bin/mkdir -p /run/.agent-stage/keep-{i}",
                      f"/usr/bin/mount --bind {q(path)} /run/.agent-stage/keep-{i}"]
    for m, source in zip(mounts, sources, strict=True):
        inside = resolve_in_root(spec.image.rootfs, m.target) if spec.image.rootfs is not None else m.target
        target = q(prefix + inside)
        kind = "-d" if m.source.is_dir() else "-f"
        make = f"/usr/bin/mkdir -p {target}" if kind == "-d" else \
            f"/usr/bin/mkdir -p $(/usr/bin/dirname {target}) && /usr/bin/touch {target}"
        lines.append(f"[ {kind} {target} ] || {{ {make}; }}")
        lines.append(f"/usr/bin/mount --bind {source} {target}")
        if m.read_only:
            lines.append(f"/usr/bin/mount -o remount,bind,ro {target}")
    for i, path in enumerate(spec.image.keep):  # the image itself, over any volume hiding it (say /tmp)
        lines += [f"[ -d {q(path)} ] || /usr/bin/mkdir -p {q(path)}",
                  f"/usr/bin/mount --bind /run/.agent-stage/keep-{i} {q(path)}"]
    groups = ",".join(str(g) for g in (spec.gid, *spec.groups))
    chdir = ["/usr/bin/env", f"--chdir={spec.working_dir}"] if spec.working_dir else []
    inner = [*chdir, *spec.argv]
    lines.append(f"exec /usr/sbin/chroot --userspec={spec.uid}:{spec.gid} --groups={groups} "
                 f"{q(prefix or '/')} {' '.join(q(a) for a in inner)}")
    return "\n".join(lines) + "\n"


def host_layer_dirs(targets: list[str]) -> list[str]:
    """The host directories a host-filesystem container needs a layer over, to make ``targets`` in.

    For each target the host lacks, its nearest existing parent; none under another one, none
    under the container's private ``/run``.
    """
    found: list[str] = []
    for target in targets:
        path = Path(os.path.realpath("/" + target))  # /var/run/x is /run/x
        if path.exists() or path.parts[1:2] == ("run",):
            continue
        parent = path.parent
        while not parent.is_dir():
            parent = parent.parent
        found.append(str(parent))
    kept: list[str] = []
    for d in sorted(set(found), key=len):
        if not any(d == k or d.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(d)
    return kept


def host_layer_problem(image: Image, targets: list[str], workdir: Path) -> str:
    """Why a host-filesystem container cannot have mounts at ``targets`` ("" when it can).

    A target the host lacks is made in a layer over its nearest existing parent; that cannot
    be ``/`` itself, nor a directory holding the container's own state (the layer's upper half).
    """
    for parent in host_layer_dirs(targets) if image.rootfs is None else []:
        if parent == "/" or str(workdir).startswith(parent.rstrip("/") + "/"):
            missing = [t for t in targets if not Path(t).exists() and (parent == "/" or t.startswith(parent + "/"))]
            return (f"image {image.name} runs on the host's filesystem, which has no {', '.join(missing)}, and the "
                    f"node agent will not create it there (nor layer over {parent}): mount it under another directory")
    return ""


def _host_layers(spec: Spec, targets: list[str]) -> list[str]:
    """Shell lines: an overlay (upper layer in the container's state) over each of :func:`host_layer_dirs`."""
    problem = host_layer_problem(spec.image, targets, spec.workdir)
    if problem:
        raise ValueError(problem)
    q = shlex.quote
    lines = []
    for i, parent in enumerate(host_layer_dirs(targets)):
        upper, work = spec.workdir / "layers" / str(i) / "upper", spec.workdir / "layers" / str(i) / "work"
        lines += [f"/usr/bin/mkdir -p {q(str(upper))} {q(str(work))}",
                  f"/usr/bin/mount -t overlay overlay -o lowerdir={q(parent)},upperdir={q(str(upper))},"
                  f"workdir={q(str(work))} {q(parent)}"]
    return lines


def prepare_root(spec: Spec) -> None:
    for sub in ("upper", "work", "merged"):
        (spec.workdir / sub).mkdir(parents=True, exist_ok=True)


def container_env(spec: Spec) -> dict[str, str]:
    return {"PATH": IMAGE_PATH, "HOSTNAME": spec.hostname, "HOME": "/", **spec.env}


async def start(spec: Spec) -> tuple[asyncio.subprocess.Process, int, int]:
    """Start the container's process; (process, read end of its stdout, read end of its stderr).

    The caller owns both read ends (see :class:`.logs.ContainerLog`): as with a container
    runtime, a container's output goes through pipes the runtime reads, never to a file the
    container could write anywhere in.
    """
    spec.workdir.mkdir(parents=True, exist_ok=True)
    if spec.image.rootfs is not None:
        prepare_root(spec)
    script = spec.workdir / "start.sh"
    script.write_text(start_script(spec))
    argv = ["/usr/bin/nsenter", f"--net=/run/netns/{spec.netns}", "--",
            "/usr/bin/unshare", "--mount", "--uts", "--ipc", "--propagation", "private", "--",
            "/bin/sh", str(script)]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=out_w, stderr=err_w, env=container_env(spec),
            start_new_session=True)
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    return proc, out_r, err_r


def _enter(pid: int, spec: Spec, command: list[str]) -> list[str]:
    """``command`` run in the namespaces, root, working directory and user of process ``pid``."""
    return ["/usr/bin/nsenter", "-t", str(pid), "-m", "-u", "-i", "-n", "-r", "-w",
            "-S", str(spec.uid), "-G", str(spec.gid), "--", *command]


async def exec_process(pid: int, spec: Spec, command: list[str], *, stdin: bool, stdout: bool, stderr: bool,
                       tty: bool) -> tuple[asyncio.subprocess.Process, int | None]:
    """Start ``command`` inside the running container ``pid``, as a container runtime's exec does.

    Its environment is the container's. Without ``tty`` its stdin, stdout and stderr are pipes
    (or /dev/null for what was not asked for); with ``tty`` all three are one new terminal,
    which becomes its controlling terminal (``setsid --ctty``), and the terminal's other end is
    returned with the process. The process leads a process group of its own.
    """
    pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
    if not tty:
        proc = await asyncio.create_subprocess_exec(
            *_enter(pid, spec, command), stdin=pipe if stdin else null, stdout=pipe if stdout else null,
            stderr=pipe if stderr else null, env=container_env(spec), start_new_session=True)
        return proc, None
    master, slave = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            "/usr/bin/setsid", "--ctty", *_enter(pid, spec, command), stdin=slave, stdout=slave, stderr=slave,
            env={**container_env(spec), "TERM": spec.env.get("TERM", "xterm")})
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return proc, master


async def exec_in(pid: int, spec: Spec, command: list[str], timeout: float) -> tuple[int, bytes]:
    """Run ``command`` inside the running container ``pid`` (as its user); (exit code, output).

    A command that outlives ``timeout`` is killed and counts as failed (exit code -1).
    """
    proc = await asyncio.create_subprocess_exec(
        *_enter(pid, spec, command), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env=container_env(spec), start_new_session=True)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        _kill_group(proc.pid)
        await proc.wait()
        return -1, b"probe timed out"
    return proc.returncode or 0, out


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, 9)
