"""The ``secagg server/client/status/certs`` commands are wired into the main CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("grpc")

from secagg.cli import build_parser, main  # noqa: E402
from secagg.net.model_io import ModelVersion, pack_arrays  # noqa: E402
from secagg.net.store import Store  # noqa: E402
from secagg.rec.model import ItemModel  # noqa: E402

from .test_units import _record  # noqa: E402


def test_subcommands_are_registered():
    p = build_parser()
    for cmd in ("server", "client", "status", "certs", "train", "demo", "download"):
        assert p.parse_args(_minimal(cmd)).command == cmd


def _minimal(cmd):
    return {"server": ["server", "--db", "x", "--cert", "c", "--key", "k"],
            "client": ["client", "--server", "h:1", "--ca", "c", "--state-dir", "s", "--user", "0"],
            "status": ["status", "--db", "x"], "certs": ["certs", "--out", "o"],
            "train": ["train", "--output", "o"], "demo": ["demo"], "download": ["download", "ml-100k"]}[cmd]


def test_certs_and_status_commands(tmp_path, capsys):
    assert main(["certs", "--out", str(tmp_path / "tls"), "--host", "localhost"]) == 0
    assert (tmp_path / "tls" / "server.pem").exists()
    store = Store(tmp_path / "s.db")
    model = ItemModel.initial(5, 2, np.random.default_rng(0))
    store.publish_initial(ModelVersion.of(1, 0, model), pack_arrays({}))
    store.record_round(_record(1), ModelVersion.of(2, 1, model), pack_arrays({}))
    store.close()
    capsys.readouterr()
    assert main(["status", "--db", str(tmp_path / "s.db")]) == 0
    out = capsys.readouterr().out
    assert "1 recorded: 1 completed, 0 aborted" in out and "2 of 3 included" in out
    assert main(["status", "--db", str(tmp_path / "s.db"), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["rounds_completed"] == 1 and s["current_version"]["version"] == 2
    assert main(["status", "--db", str(tmp_path / "missing.db")]) == 2
    assert "no server database" in capsys.readouterr().err


def test_server_refuses_a_bad_certificate_path(tmp_path, capsys):
    rc = main(["server", "--db", str(tmp_path / "s.db"), "--cert", str(tmp_path / "none.pem"),
               "--key", str(tmp_path / "none.key"), "--n-items", "10", "--address", "127.0.0.1:0",
               "--insecure-open-enrolment"])
    assert rc == 2 and "cannot read the server" in capsys.readouterr().err


def test_client_policy_options(tmp_path):
    from secagg.net.cli import build_client
    from secagg.protocol.policy import ClientPolicy

    assert main(["certs", "--out", str(tmp_path / "tls")]) == 0
    base = ["client", "--server", "localhost:1", "--ca", str(tmp_path / "tls" / "ca.pem"), "--user", "0",
            "--factors", "4", "--insecure-trust-server-keys"]
    default = build_client(build_parser().parse_args(base + ["--state-dir", str(tmp_path / "a")]))
    relaxed = build_client(build_parser().parse_args(base + ["--state-dir", str(tmp_path / "b"),
                                                             "--corrupt-fraction", "0.1",
                                                             "--accept-honest-but-curious"]))
    floored = build_client(build_parser().parse_args(base + ["--state-dir", str(tmp_path / "c"),
                                                             "--dp-min-noise-multiplier", "0.8"]))
    try:
        assert default.policy == ClientPolicy(0.05, require_active=True)  # the safe default
        assert relaxed.policy == ClientPolicy(0.1, require_active=False)
        assert floored.policy == ClientPolicy(0.05, require_active=True, min_noise_multiplier=0.8)
    finally:
        default.close()
        relaxed.close()
        floored.close()


def test_client_refuses_a_nonpositive_noise_floor_in_one_line(tmp_path, capsys):
    assert main(["certs", "--out", str(tmp_path / "tls")]) == 0
    rc = main(["client", "--server", "localhost:1", "--ca", str(tmp_path / "tls" / "ca.pem"), "--user", "0",
               "--factors", "4", "--insecure-trust-server-keys", "--state-dir", str(tmp_path / "a"),
               "--dp-min-noise-multiplier", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "min_noise_multiplier" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists()
