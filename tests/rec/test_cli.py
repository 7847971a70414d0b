"""The console command: train writes metrics.json and a PNG; demo prints a comparison table."""

from __future__ import annotations

import json

import pytest

from secagg.cli import main


def test_train_writes_metrics_and_plot(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", "synthetic", "--aggregator", "plain", "--rounds", "3", "--clients-per-round",
                 "20", "--local-epochs", "1", "--dropout", "0.1", "--factors", "8", "--seed", "1", "--output",
                 str(out), "--baseline", "--baseline-epochs", "2", "--no-progress", "--checkpoint-every", "2"])
    assert code == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert len(doc["rounds"]) == 3 and all("ndcg@10" in r["metrics"] for r in doc["rounds"])
    assert doc["summary"]["bytes_sent_total"] > 0 and doc["summary"]["seconds_per_round"] > 0
    assert {"centralized", "popularity"} <= set(doc["baseline"])  # + dp_popularity with the [dp] extra
    assert (out / "ndcg.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "checkpoint.npz").is_file()
    table = capsys.readouterr().out
    assert "federated plain" in table and "centralized" in table

    # Resuming a finished run trains nothing more and reproduces the same metrics.
    assert main(["train", "--data", "synthetic", "--aggregator", "plain", "--rounds", "3", "--clients-per-round",
                 "20", "--local-epochs", "1", "--dropout", "0.1", "--factors", "8", "--seed", "1", "--output",
                 str(out), "--no-progress", "--checkpoint-every", "2", "--resume"]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert [r["metrics"] for r in again["rounds"]] == [r["metrics"] for r in doc["rounds"]]


def test_bad_data_is_a_clean_error(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "missing.csv"), "--output", str(tmp_path), "--no-progress"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_option_is_rejected(tmp_path):
    with pytest.raises(SystemExit):
        main(["train", "--dropout", "1.5", "--output", str(tmp_path)])


def test_demo_plain(capsys):
    assert main(["demo", "--aggregator", "plain", "--rounds", "2", "--no-progress", "--baseline-epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "federated plain" in out and "centralized" in out and "popularity" in out
