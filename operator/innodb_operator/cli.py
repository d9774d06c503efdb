"""The ``innodb-operator`` command.

    innodb-operator run [flags]     run the operator (flags also read from INNODB_OPERATOR_* variables)
    innodb-operator crds [DIR]      print (or write to DIR) the CustomResourceDefinitions
    innodb-operator backup create   create a MySQLBackup (what a scheduled backup CronJob runs)
    innodb-operator --version
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from innodb_api import crd
from innodb_operator import __version__
from innodb_operator.observability import logs
from innodb_operator.settings import add_arguments, from_sources


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="innodb-operator",
        description="Kubernetes operator for MySQL InnoDB Cluster (Group Replication + MySQL Router).",
    )
    parser.add_argument("--version", action="version", version=f"innodb-operator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the operator until SIGTERM",
                              description="Run the operator. Every flag can also be set by the "
                                          "environment variable named in its help.")
    add_arguments(run)
    crds = commands.add_parser("crds", help="print or write the CustomResourceDefinitions")
    crds.add_argument("directory", nargs="?", help="write one YAML file per CRD here instead of printing")
    backup = commands.add_parser("backup", help="backup commands").add_subparsers(
        dest="backup_command", required=True, metavar="COMMAND")
    create = backup.add_parser("create", help="create a MySQLBackup for a cluster (run by backup CronJobs)")
    create.add_argument("--namespace", required=True, help="the cluster's namespace")
    create.add_argument("--cluster", required=True, help="the InnoDBCluster to back up")
    create.add_argument("--profile", required=True, help="one of the cluster's backupProfiles")
    create.add_argument("--schedule", default="", help="the backupSchedules entry this run belongs to")
    create.add_argument("--kubeconfig", default="", help="kubeconfig; empty means in-cluster config")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "crds":
        if args.directory:
            for path in crd.write(Path(args.directory)):
                print(path)
        else:
            print("---\n".join(crd.render(c) for c in crd.all_crds()), end="")
        return 0
    if args.command == "backup":
        from innodb_operator import backups  # noqa: PLC0415 - client imports only when needed

        return asyncio.run(backups.create_backup(
            namespace=args.namespace, cluster=args.cluster, profile=args.profile, schedule=args.schedule,
            kubeconfig=args.kubeconfig or None))
    try:
        settings = from_sources(args)
    except ValueError as exc:
        print(f"innodb-operator: invalid settings: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_format, settings.log_level)  # type: ignore[arg-type]
    from innodb_operator import app  # noqa: PLC0415 - keeps `--help` and `crds` free of client imports

    return asyncio.run(app.run(settings))


if __name__ == "__main__":
    sys.exit(main())
