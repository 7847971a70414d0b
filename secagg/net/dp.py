"""Distributed DP on the wire: the server's plan travels to the clients in the round task; each
client encodes its update with the Skellam mechanism of :mod:`secagg.dp` (clip, rotate, scale,
round, add its share of noise, offset into [0, 2K]) and hands the integers to SecAgg(+); the server
decodes the noisy sum and charges the round to a :class:`~secagg.dp.PrivacyLedger` whose history
is kept in SQLite (so a restarted server resumes the spending where it stopped).

Cohorts are drawn as the plan's accountant assumes (:func:`draw_cohort`): ``fixed`` takes
``clients_per_round`` of the clients online, uniformly without replacement (the round is charged
as m of the k online: ``population`` = k); ``poisson`` lets each online client in independently
with probability q. Both draws use the server's CSPRNG. Why the server's choice stands: the server
runs secure aggregation and decides whose masked input a session includes, so it can always keep a
client out (or wait until it is offline) whatever a client-side rule said; a public per-round
beacon would not take that power away. So the amplified ``epsilon_release`` holds against observers
of the models if the server draws cohorts as stated, and ``epsilon_server`` (no amplification) is
what holds against the server itself, whatever it does with the cohort."""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Sequence
from typing import Any

import msgpack
import numpy as np

from ..dp.config import DPPlan
from ..dp.mechanism import RoundCodec, to_residues
from ..dp.params import DPParameters
from ..dp.rotation import padded_dim
from ..dp.rounding import rounded_norm_bound
from ..errors import InvalidMessageError

MAX_BETA = 0.9  # conditional rounding redraws with probability beta: at most 10 expected draws
_FIELDS = {f.name: f.type for f in dataclasses.fields(DPParameters)}


def params_to_wire(params: DPParameters) -> bytes:
    return msgpack.packb(dataclasses.asdict(params), use_bin_type=True)


def params_from_wire(blob: bytes) -> DPParameters:
    """Strictly rebuild the server's DP parameters (:class:`InvalidMessageError` if malformed)."""
    try:
        body = msgpack.unpackb(blob, raw=False, strict_map_key=True)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
        raise InvalidMessageError(f"DP parameters are not valid msgpack ({exc})") from None
    if type(body) is not dict or set(body) != set(_FIELDS):
        raise InvalidMessageError(f"DP parameters must have exactly the fields {sorted(_FIELDS)}")
    for k, v in body.items():
        ok = isinstance(v, str) if k == "layout" else (
            type(v) in (int, float) and math.isfinite(v) and v >= 0)
        if not ok:
            raise InvalidMessageError(f"DP parameter {k} has an invalid value {v!r:.40}")
    p = DPParameters(**body)
    if p.layout != "offset" or not 2 <= p.bits <= 64 or p.offset < 1 or p.padded_dim < p.dim:
        raise InvalidMessageError("DP parameters must use the offset layout with 2..64 bits")
    return p


def client_noise_terms(params: DPParameters, model_size: int) -> tuple[float, float]:
    """What one client adds and what one update can move, in the integer domain, recomputed by the
    client from the scale, clip norm and length rather than taken from the server's claim:
    ``(local_variance, l2_sensitivity)``. :class:`InvalidMessageError` if the parameters do not fit
    this client's model or are not self-consistent."""
    if params.dim != model_size or params.padded_dim != padded_dim(params.dim):
        raise InvalidMessageError(f"DP parameters are for {params.dim} values padded to {params.padded_dim}; "
                                  f"this client's update has {model_size} (padded {padded_dim(model_size)})")
    if not (params.scale > 0 and params.clip_norm > 0 and 0 < params.beta <= MAX_BETA):
        raise InvalidMessageError(f"DP parameters need a positive scale and clip norm and beta in (0, {MAX_BETA}] "
                                  "(beta near 1 would make the client redraw its rounding without end)")
    sensitivity = rounded_norm_bound(params.clip_norm * params.scale, params.padded_dim, params.beta)
    return float(params.local_variance), max(sensitivity, float(params.l2_sensitivity))


def encode_update(params: DPParameters, round_seed: bytes, update: np.ndarray, seed: bytes) -> np.ndarray:
    """The client's integers in [0, 2K] (clipped, rotated, rounded, noised, offset by K)."""
    codec = RoundCodec(params, round_seed)
    v = codec.prepare(np.asarray(update, dtype=np.float64), seed) + codec.noise(seed) + params.offset
    v = np.clip(v, 0, 2 * params.offset)  # with probability <= wrap_probability
    return v.astype(np.uint32 if params.bits <= 32 else np.uint64)


def decode_sum(plan: DPPlan, round_seed: bytes, quantized_sum: np.ndarray, contributors: int) -> np.ndarray:
    """The float64 noisy sum of the contributors' clipped updates (length ``dim``)."""
    p = plan.params
    total = quantized_sum.astype(np.uint64) - np.uint64(contributors * p.offset)
    return RoundCodec(p, round_seed).decode(to_residues(total.view(np.int64), p.bits))


def draw_cohort(plan: DPPlan, online: Sequence[int], rng: random.Random) -> list[int]:
    """This round's clients among ``online``, drawn the way ``plan``'s accountant analyses."""
    c = plan.config
    if c.sampling == "fixed":
        return sorted(rng.sample(list(online), min(c.clients_per_round, len(online))))
    return sorted(cid for cid in online if rng.random() < c.sampling_probability)


def round_privacy(plan: DPPlan, ledger: Any, round_: int, included: Sequence[int], population: int,
                  sampled: int) -> dict[str, Any]:
    """Charge one round (``included`` contributed; ``sampled`` of ``population`` online were drawn)
    to ``ledger``; returns the row kept in the database."""
    mech = plan.config.round_mechanism(plan.params, len(included), population=population,
                                       sample_size=sampled)
    ledger.record_round(mech, round_, participants=included)
    return {"round": round_, "contributors": len(included), "epsilon_release": ledger.epsilon_release(),
            "epsilon_server": ledger.epsilon_server(), "max_participation": ledger.max_participation,
            "delta": plan.config.target_delta, "noise_multiplier": mech.noise_multiplier,
            "mechanism": mech.as_dict(), "participants": sorted(int(c) for c in included)}


def replay_ledger(plan: DPPlan, ledger: Any, rows: Sequence[dict[str, Any]]) -> None:
    """Rebuild ``ledger`` from the stored rows: each round with the mechanism it actually had
    (never re-derived from today's settings), checking the stored epsilons."""
    from ..dp.accounting import RoundMechanism
    from ..errors import PrivacyError

    for row in rows:
        ledger.record_round(RoundMechanism(**row["mechanism"]), row["round"], participants=row["participants"])
        if not math.isclose(ledger.epsilon_release(), row["epsilon_release"], rel_tol=1e-9):
            raise PrivacyError(f"the stored DP ledger's epsilon at round {row['round']} "
                               f"({row['epsilon_release']}) does not match its recorded mechanisms")
