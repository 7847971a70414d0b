"""The example Flower app (examples/flower) trains the recommender through secagg.flower, in process."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("flwr", reason="secagg.flower needs the flower extra (pip install 'secagg[flower]')")

APP = Path(__file__).resolve().parents[2] / "examples" / "flower" / "recommender_app.py"


def test_the_example_app_trains_on_synthetic_data_and_reports_metrics():
    spec = importlib.util.spec_from_file_location("recommender_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    history = module.run("synthetic", clients=8, rounds=2, engine="local")
    assert [h["round"] for h in history] == [1, 2]
    assert all(0.0 <= h["hr@10"] <= 1.0 and 0.0 <= h["ndcg@10"] <= h["hr@10"] for h in history)
