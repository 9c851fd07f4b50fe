"""The ``main()`` every job shares: settings from the environment, the job's pipeline, execute."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from typing import Any

from pyflink.datastream import StreamExecutionEnvironment

from flink_common.io import make_env
from flink_common.latency import set_bundle_time
from protocol.settings import Settings, load_settings

__all__ = ["run_job"]


def run_job(
    job_name: str,
    doc: str | None,
    build_pipeline: Callable[[StreamExecutionEnvironment, Settings], Any],
    argv: Sequence[str] | None = None,
    *,
    prog: str | None = None,
    bundle_time_ms: int | None = None,
) -> None:
    """Run ``build_pipeline`` as ``job_name`` with :func:`load_settings` (unknown arguments are Flink's).

    ``doc``'s first line is the ``--help`` description; ``bundle_time_ms`` overrides the Python bundle time
    of a control-plane job, which sees a few messages a minute and must not hold them for a whole bundle.
    """
    description = (doc or "").splitlines()[0] if doc else None
    parser = argparse.ArgumentParser(prog=prog or job_name, description=description)
    parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO)
    settings = load_settings()
    env = make_env(settings)
    if bundle_time_ms is not None:
        set_bundle_time(env, bundle_time_ms)
    build_pipeline(env, settings)
    env.execute(job_name)
