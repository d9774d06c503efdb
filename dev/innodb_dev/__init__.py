"""The local environment: developer infrastructure that ``./dev/*``, the tests, ``bench/`` and CI share.

Not part of the product (the wheel ships ``operator/`` and ``api/`` only); importable with
``dev/`` on the path (``PYTHONPATH=dev``, pytest's ``pythonpath``, mypy's ``mypy_path``) and
checked like the product (``mypy --strict``, ruff). Where it needs a product script it uses the
product's: the mysqld fleet's my.cnf is rendered by ``innodb_operator.builders.config``, and the
router runs the entrypoint the operator's router Deployment ships.

  * :mod:`.toolchain`: etcd, Kubernetes and Helm built from their Go modules into the cache.
  * :mod:`.mysqlroot`: the MySQL 9.7 root filesystem (debootstrap sid).
  * :mod:`.monitoring`: Prometheus, promtool and mysqld_exporter (Debian trixie); a Prometheus runner.
  * :mod:`.controlplane`, :mod:`.pki`: a real control plane on loopback.
  * :mod:`.nodeagent`: stands in for kubelet, a container runtime, DNS, kube-proxy and a provisioner.
  * :mod:`.localenv`: ``./dev/up`` and ``./dev/down``; the e2e tier's environment.
  * :mod:`.mysqld`, :mod:`.mysqlrouter`: mysqld and mysqlrouter processes for the mysql tier.
  * :mod:`.operator_process`, :mod:`.tcpproxy`, :mod:`.waiting`, :mod:`.writechecker`: test helpers.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The checkout this package lives in (``dev/innodb_dev/`` is two levels below it)."""
