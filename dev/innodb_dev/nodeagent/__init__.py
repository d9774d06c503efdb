"""A node agent: stands in for kubelet and a container runtime on this machine, nothing more.

See ``docs/local-environment.md``. Modules: :mod:`.node` (Nodes, leases, the pod loop),
:mod:`.pods` (one pod's lifecycle and status), :mod:`.container` (namespaces, mounts,
chroot, exec), :mod:`.volumes`, :mod:`.probes`, :mod:`.images`, :mod:`.network`,
:mod:`.logs` (container logs in the CRI format), :mod:`.kubelet` (the logs and exec endpoints
the API server proxies ``kubectl logs`` and ``kubectl exec`` to), :mod:`.addons` (per-pod
hosts files for DNS, Service proxy, volume provisioner).
"""
