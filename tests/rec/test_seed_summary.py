"""Mean ± sd over seeds, as the benchmarks report every curve point."""

from __future__ import annotations

import pytest

from secagg.errors import ConfigError
from secagg.rec.evaluation import format_mean_sd, seed_summary


def test_mean_and_sample_sd():
    s = seed_summary([0.1, 0.2, 0.3])
    assert s["mean"] == pytest.approx(0.2) and s["sd"] == pytest.approx(0.1) and s["n"] == 3
    assert format_mean_sd(s) == "0.2000 ± 0.1000"


def test_one_seed_has_zero_sd_and_none_is_refused():
    assert seed_summary([0.5])["sd"] == 0.0
    with pytest.raises(ConfigError, match="at least one"):
        seed_summary([])
