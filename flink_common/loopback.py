"""Keep PyFlink's local Python worker pool on the loopback interface.

When a job runs in a local MiniCluster (tests, benchmarks, ``python <job>/main.py`` without a cluster),
PyFlink starts a gRPC "loopback worker pool" server in the submitting Python process and tells the JVM to
reach it at ``localhost:<port>``, but it binds the server to every interface (``[::]:0``), so any host that
can reach the machine could ask it to start Python workers. PyFlink has no setting for that address;
:func:`bind_loopback_only` replaces the server's start method with one that binds ``127.0.0.1`` only and
hands the JVM that address. Jobs on a cluster start their Python workers as processes (no such server); the
gRPC servers the TaskManager JVM starts for them are kept on loopback by ``runtime/loopback``.
"""

from __future__ import annotations

import atexit
import functools
from typing import Any

__all__ = ["LOOPBACK_HOST", "bind_loopback_only"]

LOOPBACK_HOST = "127.0.0.1"


def _start_on_loopback(self: Any) -> str:
    """``BeamFnLoopbackWorkerPoolServicer.start`` with the server bound to :data:`LOOPBACK_HOST` only."""
    if not self._worker_address:
        import grpc
        from apache_beam.portability.api import beam_fn_api_pb2_grpc
        from apache_beam.utils import thread_pool_executor

        server = grpc.server(thread_pool_executor.shared_unbounded_instance())
        port = server.add_insecure_port(f"{LOOPBACK_HOST}:0")
        beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(self, server)
        server.start()
        self._worker_address = f"{LOOPBACK_HOST}:{port}"
        atexit.register(functools.partial(server.stop, 1))
    return str(self._worker_address)


def bind_loopback_only() -> None:
    """Make PyFlink's loopback worker pool (local runs) listen on 127.0.0.1 only; idempotent."""
    from pyflink.fn_execution.beam.beam_worker_pool_service import BeamFnLoopbackWorkerPoolServicer

    BeamFnLoopbackWorkerPoolServicer.start = _start_on_loopback
