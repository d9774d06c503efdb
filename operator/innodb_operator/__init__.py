"""A Kubernetes operator for MySQL InnoDB Cluster.

Layers, top to bottom (each imports only from layers below it; CI checks this
with import-linter, see ``[tool.importlinter]`` in ``pyproject.toml``):

    cli, app, leaderelection, health     entry: settings, composition root, signals
    controllers                          one reconcile per kind, the worker runner
    clustering | builders                group replication decisions | pure child objects
    cache | mysql                        informers over kube | the MySQL driver edge
    kube | workqueue                     the Kubernetes client edge | the rate-limited queue
    observability                        metrics and structured logs (imports nothing above)
"""

__version__ = "0.1.0"
