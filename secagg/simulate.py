"""Run one SecAgg / SecAgg+ session in process: real clients, real server, real messages.

Dropouts follow a :data:`~secagg.aggregator.DropoutSchedule` (client id -> the stage *before which*
it vanishes). :func:`simulate` runs a whole session on known inputs; :func:`make_session` builds
one before the inputs exist, so its key agreement can run while the clients train (see
:mod:`secagg.session`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .aggregator import DropoutSchedule
from .client_pool import ClientPool
from .errors import ConfigError, DTypeError, InputError, ShapeError
from .protocol.config import (INPUT_FLOAT, INPUT_QUANTIZED, MAX_NOISY_QUANTIZATION, NoisePlan,
                              SessionConfig, default_modulus)
from .protocol.params import find_parameters
from .quantize import check_clipping, check_quantization
from .session import SimulatedSession, SimulationResult, Tamper

__all__ = ["PROTOCOLS", "SimulatedSession", "SimulationResult", "Tamper", "make_session", "simulate"]

PROTOCOLS = ("secagg", "secagg+")
INPUT_KINDS = (INPUT_FLOAT, INPUT_QUANTIZED)

def _inputs(inputs: Mapping[int, np.ndarray]) -> tuple[list[int], dict[int, np.ndarray], str]:
    if not isinstance(inputs, Mapping) or len(inputs) < 2:
        raise InputError("inputs must map at least 2 client ids to 1-D vectors")
    ids = sorted(inputs)
    for cid in ids:
        if isinstance(cid, bool) or not isinstance(cid, (int, np.integer)) or cid < 0:
            raise InputError(f"client ids must be non-negative ints, got {cid!r}")
    arrays = {int(c): np.asarray(inputs[c]) for c in ids}
    kinds = {a.dtype.kind for a in arrays.values()}
    if kinds not in ({"f"}, {"u"}):
        raise DTypeError("inputs must all be float vectors or all unsigned quantized vectors, "
                         f"got dtypes {sorted({str(a.dtype) for a in arrays.values()})}")
    lengths = {a.shape for a in arrays.values()}
    if len(lengths) != 1 or len(next(iter(lengths))) != 1 or next(iter(lengths))[0] == 0:
        raise ShapeError(f"inputs must be non-empty 1-D vectors of one length, got shapes {sorted(lengths)}")
    if kinds == {"f"}:
        for cid, a in arrays.items():
            if not np.all(np.isfinite(a)):
                raise InputError(f"input of client {cid} contains NaN or infinity")
    return [int(c) for c in ids], arrays, INPUT_FLOAT if kinds == {"f"} else INPUT_QUANTIZED


def make_session(client_ids: Sequence[int], *, vector_length: int, input_kind: str = INPUT_FLOAT,
                 protocol: str = "secagg+", threat_model: str = "honest-but-curious",
                 dropouts: DropoutSchedule | None = None, clipping_range: float = 1.0,
                 quantization_range: int = 2**16, modulus_range: int | None = None,
                 corrupt_fraction: float = 0.05, dropout_fraction: float = 0.1,
                 num_neighbors: int | None = None, threshold: int | None = None,
                 rounding_seeds: Mapping[int, bytes] | None = None, graph_seed: bytes | None = None,
                 tamper: Tamper | None = None, noise_plans: Mapping[int, NoisePlan] | None = None,
                 pool: ClientPool | None = None) -> SimulatedSession:
    """A validated session for ``client_ids`` whose inputs will have ``vector_length`` elements
    (``input_kind`` ``"float"`` or ``"quantized"``); options as in :func:`simulate`."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    if input_kind not in INPUT_KINDS:
        raise ConfigError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    ids = sorted(client_ids)
    if len(ids) < 2 or len(set(ids)) != len(ids) or any(
            isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 0 for c in ids):
        raise InputError("a session needs at least 2 distinct non-negative int client ids")
    ids = [int(c) for c in ids]
    if isinstance(vector_length, bool) or not isinstance(vector_length, (int, np.integer)) or vector_length < 1:
        raise ShapeError(f"vector_length must be a positive int, got {vector_length!r}")
    c = check_clipping(clipping_range)
    q = check_quantization(quantization_range)
    n = len(ids)
    params = find_parameters(n, corrupt_fraction=corrupt_fraction, dropout_fraction=dropout_fraction,
                             threat_model=threat_model, complete=protocol == "secagg",
                             num_neighbors=num_neighbors, threshold=threshold)
    r = default_modulus(n, q) if modulus_range is None else modulus_range
    if isinstance(r, bool) or not isinstance(r, int) or r < 2 or r & (r - 1) or n * (q - 1) >= r:
        raise ConfigError(f"modulus_range must be a power of two > n * (quantization_range - 1) = "
                          f"{n * (q - 1)}, got {r!r}")
    config = SessionConfig(client_ids=tuple(ids), graph_kind=params.kind, degree=params.degree,
                           threshold=params.threshold, modulus_range=r, vector_length=int(vector_length),
                           clipping_range=c, quantization_range=q, threat_model=threat_model,
                           input_kind=input_kind, **({} if graph_seed is None else {"graph_seed": graph_seed}))
    schedule = dict(dropouts or {})
    unknown = set(schedule) - set(ids)
    if unknown:
        raise InputError(f"dropout schedule names unknown clients {sorted(unknown)[:5]}")
    plans = dict(noise_plans or {})
    if set(plans) - set(ids):
        raise InputError(f"noise_plans name unknown clients {sorted(set(plans) - set(ids))[:5]}")
    if any(not isinstance(plan, NoisePlan) for plan in plans.values()):
        raise ConfigError("noise_plans values must be NoisePlan instances")
    if plans and input_kind == INPUT_QUANTIZED and q > MAX_NOISY_QUANTIZATION:
        raise ConfigError(f"in-kernel noise on quantized inputs needs quantization_range <= 2**52, "
                          f"got {q}")
    return SimulatedSession(config, params, dropouts=schedule, rounding_seeds=rounding_seeds,
                            noise_plans=plans, tamper=tamper, pool=pool)


def simulate(inputs: Mapping[int, np.ndarray], *, protocol: str = "secagg+",
             threat_model: str = "honest-but-curious", dropouts: DropoutSchedule | None = None,
             clipping_range: float = 1.0, quantization_range: int = 2**16,
             modulus_range: int | None = None, corrupt_fraction: float = 0.05,
             dropout_fraction: float = 0.1, num_neighbors: int | None = None,
             threshold: int | None = None, rounding_seeds: Mapping[int, bytes] | None = None,
             graph_seed: bytes | None = None, tamper: Tamper | None = None,
             noise_plans: Mapping[int, NoisePlan] | None = None,
             pool: ClientPool | None = None) -> SimulationResult:
    """Aggregate ``inputs`` (client id -> float update, or unsigned vector already quantized to
    [0, quantization_range)) with SecAgg (``"secagg"``, complete graph) or SecAgg+ (``"secagg+"``,
    Harary graph; k and t from :func:`~secagg.protocol.params.find_parameters` unless overridden).

    ``rounding_seeds`` (client id -> 32 bytes) and ``graph_seed`` make a run reproducible for
    tests; by default both come from the OS CSPRNG. ``noise_plans`` (client id ->
    :class:`~secagg.protocol.config.NoisePlan`) makes those clients add their secret integer DP
    noise inside the fused native kernel, in the same pass as the masks. ``tamper`` lets tests
    play a malicious network or server. ``pool`` (a :class:`~secagg.client_pool.ClientPool`) runs
    the clients in its worker processes instead of this one; the result is the same. Raises
    :class:`~secagg.errors.ThresholdError` when fewer than the threshold remain at a stage.
    """
    ids, arrays, input_kind = _inputs(inputs)
    session = make_session(ids, vector_length=next(iter(arrays.values())).shape[0], input_kind=input_kind,
                           protocol=protocol, threat_model=threat_model, dropouts=dropouts,
                           clipping_range=clipping_range, quantization_range=quantization_range,
                           modulus_range=modulus_range, corrupt_fraction=corrupt_fraction,
                           dropout_fraction=dropout_fraction, num_neighbors=num_neighbors,
                           threshold=threshold, rounding_seeds=rounding_seeds, graph_seed=graph_seed,
                           tamper=tamper, noise_plans=noise_plans, pool=pool)
    return session.finish(arrays)
