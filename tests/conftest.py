"""Suite-wide test settings.

Hypothesis runs a fast profile by default ("ci"); set ``HYPOTHESIS_PROFILE=slow`` for the larger
profile with many more examples.
"""

from __future__ import annotations

import os
import sys

import pytest
from hypothesis import HealthCheck, settings

try:
    import secagg._core  # noqa: F401
except ImportError as exc:  # pragma: no cover - environment problem, not a test failure
    raise pytest.UsageError(
        "secagg's native module cannot be imported. Install the package first "
        "(pip install '.[test]') and run `pytest` rather than `python -m pytest` from the "
        "repository root, which puts the source tree (without the compiled module) first on "
        f"sys.path. Import error: {exc}"
    ) from exc

settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "slow", max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))



@pytest.fixture(scope="session")
def ray_start_dir(tmp_path_factory):
    """An empty directory to start Ray from; Ray is shut down when the test run ends."""
    yield tmp_path_factory.mktemp("ray-cwd")
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()


@pytest.fixture(scope="module")
def ray_instance(ray_start_dir):
    """A local Ray instance (2 CPUs, no dashboard) for a test module, started only if none runs (Ray's
    start-up is the slow part; Flower's ``run_simulation`` shuts its instance down when it ends, so
    each module checks). Tests that use it skip with a reason where Ray is not installed.

    Ray puts the driver's working directory on its workers' ``sys.path``, ahead of site-packages:
    started from a source checkout, the workers would import the uncompiled source tree instead of
    the installed package. So Ray starts from an empty directory, and its workers get the test
    run's ``sys.path`` (as Flower's Ray backend gives its own instance), so a ``run_simulation``
    reusing this instance can import apps defined in the tests."""
    ray = pytest.importorskip("ray", reason="the 'ray' extra is not installed (pip install 'secagg[ray]')")
    if not ray.is_initialized():
        here = os.getcwd()
        os.chdir(ray_start_dir)
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
        finally:
            os.chdir(here)
    return ray


def make_test_backend(request: pytest.FixtureRequest, name: str):
    """A client backend for tests: in process, or 2 Ray actors on the shared local instance."""
    from secagg.sim.backends import InProcessBackend, RayBackend

    if name == "ray":
        request.getfixturevalue("ray_instance")
        return RayBackend(groups=2)
    return InProcessBackend()


@pytest.fixture(scope="module", params=["inprocess", "ray"])
def client_backend(request):
    """Each backend in turn, built once per test module and reused by its tests."""
    backend = make_test_backend(request, request.param)
    yield backend
    backend.close()
