"""Per-job PyFlink options from Settings reach the environment the job's operators are built from (JVM)."""

from __future__ import annotations

import pytest

from flink_common import make_env
from flink_common.io import flink_options
from protocol.settings import load_settings


@pytest.mark.minicluster
def test_bundle_and_buffer_settings_reach_the_environment_and_default_to_flink() -> None:
    from pyflink.java_gateway import get_gateway
    from pyflink.util.java_utils import get_j_env_configuration

    options = get_gateway().jvm.org.apache.flink.python.PythonOptions
    tuned = make_env(load_settings(python_bundle_size=1000, python_bundle_time_ms=20, buffer_timeout_ms=10),
                     with_kafka=False)  # fmt: skip
    config = get_j_env_configuration(tuned._j_stream_execution_environment)
    assert config.get(options.MAX_BUNDLE_SIZE) == 1000
    assert config.get(options.MAX_BUNDLE_TIME_MILLS) == 20
    assert tuned._j_stream_execution_environment.getBufferTimeout() == 10
    assert tuned.get_config().is_object_reuse_enabled()

    # unset settings add nothing, so the cluster's (Flink's) values stay in force; object reuse is on
    # unless OBJECT_REUSE=false
    assert flink_options(load_settings()).to_dict() == {"pipeline.object-reuse": "true"}
    copying = make_env(load_settings(object_reuse=False), with_kafka=False)
    assert not copying.get_config().is_object_reuse_enabled()
