"""``kubectl innodb``: ask the operator for a one-shot intervention and wait for its answer.

    kubectl innodb switchover   CLUSTER --to MEMBER [-n NAMESPACE]
    kubectl innodb reboot       CLUSTER --to MEMBER [-n NAMESPACE] [--accept-data-loss]
    kubectl innodb force-quorum CLUSTER --to MEMBER [-n NAMESPACE] [--accept-data-loss]

It writes the request annotation (:mod:`innodb_api.requests`) with a fresh id on the
InnoDBCluster, then waits until ``status.cluster.request`` answers that id. Exit codes: 0 Done,
1 Refused (the message says why and what to do), 2 no answer before ``--timeout`` or the API
refused the request. Installed as the ``kubectl-innodb`` command, which kubectl finds on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from innodb_api.requests import REQUEST_ANNOTATION, Request, RequestAction
from innodb_operator.controllers.kinds import INNODBCLUSTERS
from innodb_operator.kube import errors
from innodb_operator.kube.client import KubeClient, connect

POLL_SECONDS = 0.5


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl innodb", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    helps = {RequestAction.SWITCHOVER: "make MEMBER the primary (the group must have quorum)",
             RequestAction.REBOOT: "start the group again from MEMBER after an outage the operator cannot prove",
             RequestAction.FORCE_QUORUM: "unblock a group that lost its majority for good, from MEMBER"}
    for action, text in helps.items():
        sub = commands.add_parser(action.value, help=text, description=text)
        sub.add_argument("cluster", help="the InnoDBCluster's name")
        sub.add_argument("--to", required=True, dest="member", metavar="MEMBER", help="a server pod, e.g. mycluster-1")
        sub.add_argument("-n", "--namespace", default="default", help="the cluster's namespace (default: default)")
        if action != RequestAction.SWITCHOVER:
            sub.add_argument("--accept-data-loss", action="store_true",
                             help="go ahead even when MEMBER lacks transactions another reachable member holds")
        sub.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the answer")
        sub.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
        sub.add_argument("--context", default=None, help="kubeconfig context")
    return parser


def answer_for(obj: Mapping[str, Any], request_id: str) -> Mapping[str, Any] | None:
    """The operator's answer to ``request_id`` in the object's status, if it is there yet."""
    answer = ((obj.get("status") or {}).get("cluster") or {}).get("request") or {}
    return answer if answer.get("id") == request_id else None


async def ask(client: KubeClient, namespace: str, cluster: str, request: Request, *,
              timeout: float) -> Mapping[str, Any] | None:
    """Write the request, then poll for its answer; None when none came within ``timeout``."""
    await client.merge_patch(INNODBCLUSTERS, cluster, {"metadata": {"annotations": {
        REQUEST_ANNOTATION: request.annotation()}}}, namespace)
    deadline = time.monotonic() + timeout
    while True:
        answer = answer_for(await client.get(INNODBCLUSTERS, cluster, namespace), request.id)
        if answer is not None or time.monotonic() >= deadline:
            return answer
        await asyncio.sleep(POLL_SECONDS)


async def _run(args: argparse.Namespace) -> int:
    request = Request(id=f"{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{secrets.token_hex(3)}",
                      action=RequestAction(args.action), member=args.member,
                      accept_data_loss=bool(getattr(args, "accept_data_loss", False)))
    where = f"innodbcluster {args.namespace}/{args.cluster}"
    client = await connect(args.kubeconfig, args.context)
    try:
        slow = " (forcing quorum takes a minute or more)" if request.action == RequestAction.FORCE_QUORUM else ""
        print(f"request {request.id}: {request.action.value} to {request.member} on {where}; waiting up to "
              f"{args.timeout:.0f} s for the operator's answer{slow}", flush=True)
        answer = await ask(client, args.namespace, args.cluster, request, timeout=args.timeout)
    except errors.KubeError as exc:
        print(f"kubectl innodb: could not write the request on {where}: {exc.message}", file=sys.stderr)
        return 2
    finally:
        await client.close()
    if answer is None:
        print(f"kubectl innodb: no answer within {args.timeout:.0f} s; is the operator running? "
              f"The request stays on the object (annotation {REQUEST_ANNOTATION}).", file=sys.stderr)
        return 2
    print(f"{answer.get('outcome')}: {answer.get('message')}")
    return 0 if answer.get("outcome") == "Done" else 1


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(_run(_parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
