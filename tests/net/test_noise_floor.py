"""A client's own floor on distributed-DP noise (``ClientPolicy.min_noise_multiplier``,
``secagg client --dp-min-noise-multiplier``): a server that sends less noise than the client
accepts, or inflates the clip norm, the noise split or its claimed sensitivity, is refused before
the client trains or sends anything; an honest plan above the floor runs."""

from __future__ import annotations

import dataclasses
import math
import threading
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("dp_accounting")

from secagg.dp.config import DPConfig  # noqa: E402
from secagg.errors import ConfigError, InvalidMessageError, NoiseFloorError  # noqa: E402
from secagg.net.client import NetClient  # noqa: E402
from secagg.net.dp import client_noise_terms, params_to_wire  # noqa: E402
from secagg.protocol.config import SessionConfig  # noqa: E402
from secagg.protocol.messages import AdvertiseKeysRequest  # noqa: E402
from secagg.protocol.policy import ClientPolicy  # noqa: E402

from .helpers import ClientThreads, RandomTrainer, settings, start_server  # noqa: E402

SHAPE = (20, 3)
SIZE = SHAPE[0] * (SHAPE[1] + 1)


def plan(z: float, n: int = 6):
    return DPConfig(clip_norm=1.0, clients_per_round=n, num_users=60, rounds=10, noise_multiplier=z,
                    sampling="fixed").plan(SIZE, "offset")


def config(n: int = 10, threshold: int = 8, **kw) -> SessionConfig:
    ids = tuple(range(1, n + 1))
    return SessionConfig(client_ids=ids, graph_kind="complete", degree=n - 1, threshold=threshold,
                         modulus_range=2**32, vector_length=64, clipping_range=1.0,
                         quantization_range=2**16, threat_model="active", **kw)


def task(params, cfg: SessionConfig):
    request = AdvertiseKeysRequest(session_id=cfg.session_id, client_id=cfg.client_ids[0], config=cfg.to_wire())
    return SimpleNamespace(dp_params=b"" if params is None else params_to_wire(params),
                           request=request.to_bytes(), round=1)


def checking_client(tmp_path, certs, floor: float | None) -> NetClient:
    return NetClient("127.0.0.1:1", ca=certs.ca, state_dir=tmp_path / "c", trainer=RandomTrainer(1, model_shape=SHAPE),
                     trust_server_keys=True, policy=ClientPolicy(0.05, require_active=True, min_noise_multiplier=floor))


def test_honest_multiplier_counts_only_the_guaranteed_honest_contributors():
    cfg = config(n=10, threshold=8)  # complete graph: at least t = 8 inputs; ceil(0.05 * 10) = 1 colluder
    policy = ClientPolicy(0.05)
    assert policy.guaranteed_contributors(cfg) == 8
    assert policy.honest_noise_multiplier(cfg, local_variance=4.0, sensitivity=2.0) == pytest.approx(math.sqrt(7 * 4) / 2)
    assert ClientPolicy(0.35).honest_noise_multiplier(cfg, 4.0, 2.0) == pytest.approx(math.sqrt(4 * 4) / 2)
    assert ClientPolicy(0.95).honest_noise_multiplier(cfg, 4.0, 2.0) == 0.0  # all may collude: no noise counted on


def test_floor_rejects_bad_values():
    for bad in (0.0, -1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ConfigError, match="min_noise_multiplier"):
            ClientPolicy(min_noise_multiplier=bad)


@pytest.mark.parametrize("tamper", ["less noise", "noise split over more clients", "larger clip norm",
                                    "understated sensitivity", "no DP", "lower threshold"])
def test_a_server_lowering_the_noise_any_way_is_refused_before_training(tmp_path, certs, tamper):
    honest = plan(1.0, n=10).params
    cfg = config(n=10, threshold=8)
    client = checking_client(tmp_path, certs, floor=0.5)
    counted = client._check_noise(task(honest, cfg))  # control: the honest plan passes the floor
    assert counted >= 0.5
    trained = []
    client._train = lambda *a: trained.append(a)  # noqa: E731 - nothing may be trained
    params, cfg2 = honest, cfg
    if tamper == "less noise":
        params = plan(0.1, n=10).params
    elif tamper == "noise split over more clients":
        params = dataclasses.replace(honest, min_clients=1000, local_variance=honest.local_variance / 100)
    elif tamper == "larger clip norm":
        params = dataclasses.replace(honest, clip_norm=honest.clip_norm * 100)
    elif tamper == "understated sensitivity":  # the client recomputes it; the claim cannot lower it
        params = dataclasses.replace(honest, l2_sensitivity=honest.l2_sensitivity / 100)
    elif tamper == "no DP":
        params = None
    else:  # fewer guaranteed contributors over which the noise is counted
        cfg2 = config(n=10, threshold=6)
        client.policy = ClientPolicy(0.05, require_active=True, min_noise_multiplier=0.95 * ClientPolicy(0.05)
                                     .honest_noise_multiplier(cfg, *client_noise_terms(honest, SIZE)))
    if tamper == "understated sensitivity":
        assert client._check_noise(task(params, cfg2)) == counted  # the recomputed bound is used
        return
    with pytest.raises(NoiseFloorError):
        client._check_noise(task(params, cfg2))
    assert not trained


def test_parameters_for_another_model_or_endless_rounding_are_malformed():
    honest = plan(1.0).params
    with pytest.raises(InvalidMessageError, match="values padded"):
        client_noise_terms(honest, SIZE + 1)
    with pytest.raises(InvalidMessageError, match="beta"):
        client_noise_terms(dataclasses.replace(honest, beta=0.999999), SIZE)


def _wait(predicate, what: str, bound: float = 60.0) -> None:
    tick, waited = threading.Event(), 0.0
    while not predicate():
        if waited > bound:
            raise AssertionError(f"{what} did not happen within {bound} s")
        tick.wait(0.05)
        waited += 0.05


def one_dp_round(tmp_path, certs, server_noise: float, floor: float, until) -> ClientThreads:
    """Six clients with ``floor`` against a server planning ``server_noise``, run until ``until(server,
    clients)`` holds; returns the stopped clients."""
    s = settings(dp=DPConfig(clip_norm=1.0, clients_per_round=6, num_users=60, rounds=10,
                             noise_multiplier=server_noise, sampling="fixed"))
    server = start_server(tmp_path, certs, s, rounds=1)
    policy = ClientPolicy(0.05, require_active=True, min_noise_multiplier=floor)
    clients = ClientThreads(tmp_path, certs, server.port, 6, dump=tmp_path / "dump", policy=policy)
    try:
        until(server, clients)
    finally:
        clients.stop()
        server.stop()
    return clients


def test_clients_stop_on_a_server_whose_noise_is_below_their_floor(tmp_path, certs):
    clients = one_dp_round(tmp_path, certs, 0.2, 1.0,
                           lambda server, c: _wait(lambda: len(c.errors) == 6, "all six clients refusing"))
    assert all(isinstance(e, NoiseFloorError) for e in clients.errors.values()), clients.errors
    assert not (tmp_path / "dump").exists()  # nobody trained or masked anything


def test_clients_take_part_when_the_honest_noise_meets_their_floor(tmp_path, certs):
    def finished(server, _clients) -> None:
        assert server.wait(60), "the DP round did not finish"

    clients = one_dp_round(tmp_path, certs, 1.0, 0.5, finished)
    assert not clients.errors
    assert len(list((tmp_path / "dump").glob("r1_*.npz"))) == 6
    assert np.all(np.isfinite(np.load(next((tmp_path / "dump").glob("r1_*.npz")))["float_update"]))
