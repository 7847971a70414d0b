"""Hostile arguments to every aggregator: specific errors before any work, wherever the clients run."""

from __future__ import annotations

import numpy as np
import pytest

from secagg import Stage, create_aggregator
from secagg.errors import ConfigError, DependencyError, InputError, NonFiniteError, ShapeError

from .test_contract import NAMES, make

D = 16


def updates() -> dict[int, np.ndarray]:
    return {c: np.full(D, 0.1) for c in range(4)}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad_id", ["3", None, 7.0, -4, 2**63])
def test_a_client_id_of_the_wrong_type_is_refused(name, bad_id):
    with pytest.raises(InputError, match="client id"):
        make(name).aggregate({**updates(), bad_id: np.zeros(D)})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("stage", ["SHARE_KEYS", 7, -1, 1.5])
def test_a_dropout_stage_must_be_a_stage(name, stage):
    with pytest.raises(InputError, match="dropout stage of client 1"):
        make(name).aggregate(updates(), dropouts={1: stage})


@pytest.mark.parametrize("name", NAMES)
def test_dropouts_of_clients_not_in_the_round_are_refused(name):
    with pytest.raises(InputError, match="unknown clients"):
        make(name).aggregate(updates(), dropouts={9: Stage.SHARE_KEYS})


@pytest.mark.parametrize("name", ["secagg", "secagg+", "plain"])
def test_submit_checks_every_update_wherever_the_clients_run(name, client_backend):
    try:
        agg = create_aggregator(name, **({} if name == "plain" else {"backend": client_backend}))
    except DependencyError as exc:  # pragma: no cover - HE extra missing
        pytest.skip(str(exc))
    try:
        with pytest.raises(InputError, match="prepare"):
            agg.submit(0, np.zeros(D))  # nothing prepared yet
        agg.prepare(sorted(updates()), vector_length=D)
        with pytest.raises(InputError, match="not part of the prepared round"):
            agg.submit(99, np.zeros(D))
        nan = np.zeros(D)
        nan[2] = np.nan
        with pytest.raises(NonFiniteError):
            agg.submit(0, nan)
        with pytest.raises(ShapeError):
            agg.submit(0, np.zeros(D + 1))
        with pytest.raises(InputError, match="client id"):
            agg.submit("0", np.zeros(D))
        for cid, update in updates().items():
            agg.submit(cid, update)
        result = agg.aggregate(updates())  # the good submissions still make the round
        assert result.included == frozenset(updates())
    finally:
        agg.close()


@pytest.mark.parametrize("bad", [dict(client_ids=[0, "1"], vector_length=D), dict(client_ids=[0, 1], vector_length=0),
                                 dict(client_ids=[0, 1], vector_length=2**40), dict(client_ids=[0, 0], vector_length=D),
                                 dict(client_ids=[0, 1], vector_length=D, dropouts={1: "x"})])
def test_prepare_checks_its_arguments(bad):
    agg = create_aggregator("secagg+")
    with pytest.raises((InputError, ShapeError)):
        agg.prepare(**bad)


def test_an_unknown_backend_option_is_refused_at_once_naming_the_closest():
    with pytest.raises(ConfigError, match="did you mean 'address'"):
        create_aggregator("secagg+", backend="ray", backend_options={"adress": "auto"})
