"""The Ray executor against the executor conformance suite, on a real Ray instance started once for this
module (two worker CPUs, loopback only, no dashboard, its temp folder under the test's)."""

from __future__ import annotations

import os

import pytest

from tests.batch_conformance import BatchExecutorConformance

if os.environ.get("CI") == "true":
    import ray  # CI installs the cluster extra: a missing Ray is a failure there
else:
    ray = pytest.importorskip("ray")

from engine.batch.ray_executor import RayExecutor  # noqa: E402


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", _temp_dir=str(tmp_path_factory.mktemp("ray")))
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def shared_executor(ray_cluster):
    """One executor for the module: its two workers start once and serve every run, as in a session of
    the GUI."""
    executor = RayExecutor(max_in_flight=2)
    yield executor
    executor.close()


class TestRayExecutor(BatchExecutorConformance):
    @pytest.fixture
    def make_executor(self, shared_executor):
        return lambda: shared_executor
