"""Which TCP ports the runtime's processes listen on, and whether any is reachable from another host.

Every server of the embedded runtime (Kafka broker and controller, Flink JobManager, TaskManagers, their
Python workers, and the worker pool of local PyFlink runs) must listen on loopback only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

__all__ = ["Listener", "is_loopback", "listeners", "process_tree"]


@dataclass(frozen=True)
class Listener:
    """One listening TCP socket: the process, its command name, the address and port."""

    pid: int
    name: str
    ip: str
    port: int


def is_loopback(ip: str) -> bool:
    """Whether ``ip`` is a loopback address, IPv4-mapped IPv6 (``::ffff:127.0.0.1``) included."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def process_tree(pids: Iterable[int]) -> list[psutil.Process]:
    """The processes ``pids`` and all their descendants that are still alive."""
    found: dict[int, psutil.Process] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                found[proc.pid] = proc
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def listeners(processes: Iterable[psutil.Process]) -> list[Listener]:
    """Every listening TCP socket (IPv4 and IPv6) of ``processes``."""
    found: list[Listener] = []
    for proc in processes:
        try:
            name = proc.name()
            connections = proc.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        found += [
            Listener(proc.pid, name, c.laddr.ip, c.laddr.port)
            for c in connections
            if c.status == psutil.CONN_LISTEN
        ]
    return found
