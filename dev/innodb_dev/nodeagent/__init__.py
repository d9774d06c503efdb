"""A node agent: stands in for kubelet and a container runtime on this machine, nothing more.

See ``docs/local-environment.md``. Modules: :mod:`.node` (Nodes, leases, the pod loop),
:mod:`.pods` (one pod's lifecycle and status), :mod:`.container` (namespaces, mounts,
chroot), :mod:`.volumes`, :mod:`.probes`, :mod:`.images`, :mod:`.network`, :mod:`.addons`
(hosts file, Service proxy, volume provisioner).
"""
