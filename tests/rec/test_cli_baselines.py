"""`secagg train --baseline`: the DP popularity row, and the leave-one-out tie rule in metrics.json."""

from __future__ import annotations

import json

import pytest

from secagg.cli import main

RUN = ["train", "--data", "synthetic", "--aggregator", "plain", "--rounds", "1", "--clients-per-round", "10",
       "--local-epochs", "1", "--factors", "4", "--no-progress"]


def test_baseline_adds_dp_popularity_and_records_the_split(tmp_path, capsys):
    pytest.importorskip("dp_accounting")
    out = tmp_path / "run"
    assert main([*RUN, "--output", str(out), "--baseline", "--baseline-epochs", "1",
                 "--dp-popularity-epsilon", "4", "--dp-popularity-cap", "5"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    dpp = doc["baseline"]["dp_popularity"]
    assert dpp["config"]["cap"] == 5 and dpp["config"]["epsilon"] == 4.0
    assert 0 < dpp["privacy"]["epsilon_spent"] <= 4.0
    assert dpp["privacy"]["sampling_probability"] == 1.0
    assert 0.0 <= dpp["metrics"]["ndcg@10"] <= 1.0
    assert doc["split"]["ties"] == "random" and doc["split"]["tie_seed"] == 0
    assert "DP popularity eps" in capsys.readouterr().out


def test_item_id_ties_on_request(tmp_path):
    out = tmp_path / "run"
    assert main([*RUN, "--output", str(out), "--ties", "item-id"]) == 0
    split = json.loads((out / "metrics.json").read_text())["split"]
    assert split["ties"] == "item-id" and split["tie_seed"] is None


@pytest.mark.parametrize("extra, message", [
    (["--baseline", "--dp-popularity-cap", "0"], "cap"),
    (["--baseline", "--dp-popularity-epsilon", "0"], "epsilon must be > 0"),
    (["--baseline", "--dp-popularity-epsilon", "-2"], "epsilon must be > 0"),
    (["--ties", "item-id", "--tie-seed", "3"], "tie_seed only applies"),
    (["--tie-seed", "-1"], "tie_seed"),
])
def test_bad_baseline_input_is_one_line_exit_2_nothing_written(tmp_path, capsys, extra, message):
    if "--baseline" in extra:
        pytest.importorskip("dp_accounting")
    out = tmp_path / "run"
    assert main([*RUN, "--output", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()
