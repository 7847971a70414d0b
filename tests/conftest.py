"""Suite-wide test settings.

Hypothesis runs a fast profile by default ("ci"); set ``HYPOTHESIS_PROFILE=slow`` for the larger
profile with many more examples.
"""

from __future__ import annotations

import os

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

