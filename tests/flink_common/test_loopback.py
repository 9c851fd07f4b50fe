"""PyFlink's local worker pool server listens on loopback only once :func:`bind_loopback_only` is applied."""

from __future__ import annotations

import os

import psutil

from flink_common.loopback import LOOPBACK_HOST, bind_loopback_only
from rtcef_ops.sockets import is_loopback, listeners


def _listening_ports() -> dict[int, str]:
    return {listener.port: listener.ip for listener in listeners([psutil.Process(os.getpid())])}


def test_worker_pool_server_binds_loopback_and_reports_that_address() -> None:
    from pyflink.fn_execution.beam.beam_worker_pool_service import BeamFnLoopbackWorkerPoolServicer

    bind_loopback_only()
    servicer = BeamFnLoopbackWorkerPoolServicer()
    servicer._worker_address = None  # a fresh start even if an earlier test in this process started one
    before = _listening_ports()
    address = servicer.start()
    host, port = address.rsplit(":", 1)
    opened = {p: ip for p, ip in _listening_ports().items() if p not in before}
    assert host == LOOPBACK_HOST
    assert list(opened) == [int(port)]
    assert all(is_loopback(ip) for ip in opened.values())
    assert servicer.start() == address  # idempotent, as PyFlink's own start


def test_is_loopback_reads_plain_and_mapped_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.1")
    assert not any(is_loopback(ip) for ip in ("0.0.0.0", "::", "::ffff:0.0.0.0", "10.1.2.3", "fe80::1%eth0"))
