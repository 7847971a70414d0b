"""The workflow's options, checked when it is built, and the session parameters of one round.

``num_shares`` and ``reconstruction_threshold`` mean what they mean in Flower's
``SecAggPlusWorkflow`` and map to the same group size and threshold (:func:`flower_shares`): a
client's shares go to ``num_shares - 1`` neighbours and itself; ``num_shares=None`` lets this
library's parameter finder choose both. A modulus that could overflow is refused, not warned about.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._validate import check_choice, check_float, check_int
from ..core.quantize import check_clipping, check_quantization
from ..errors import ConfigError, ModulusError
from ..protocol.config import check_power_of_two_modulus
from ..protocol.params import THREAT_MODELS, GraphParameters, find_parameters

Share = int | float


def _check_share_option(name: str, value: object, *, allow_none: bool) -> Share | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be an int or a float fraction{' or None' if allow_none else ''}, "
                          f"got {value!r:.40}")
    return value


@dataclass(frozen=True)
class WorkflowOptions:
    """Everything a :class:`~secagg.flower.SecAggPlusWorkflow` is built with, validated."""

    num_shares: Share | None
    reconstruction_threshold: Share | None
    max_weight: float = 1000.0
    clipping_range: float = 8.0
    quantization_range: int = 4194304
    modulus_range: int | None = 4294967296
    timeout: float | None = None
    threat_model: str = "honest-but-curious"
    corrupt_fraction: float = 0.05
    dropout_fraction: float = 0.1
    noise_variance: float | None = None

    def __post_init__(self) -> None:
        shares = _check_share_option("num_shares", self.num_shares, allow_none=True)
        threshold = _check_share_option("reconstruction_threshold", self.reconstruction_threshold, allow_none=True)
        if isinstance(shares, int):  # Flower's reading: 1 means "all", 2 is too few
            if shares == 1:
                shares = 1.0
            elif shares <= 2:
                raise ConfigError(f"num_shares as an int must be greater than 2, got {shares}")
        elif isinstance(shares, float) and not shares > 0:
            raise ConfigError(f"num_shares as a float must be greater than 0, got {shares}")
        if isinstance(threshold, int):
            if threshold == 1:
                threshold = 1.0
            elif threshold < 1:
                raise ConfigError(f"reconstruction_threshold must be >= 1, got {threshold}")
            elif isinstance(shares, int) and threshold >= shares:
                raise ConfigError(f"reconstruction_threshold ({threshold}) must be less than num_shares ({shares})")
        elif isinstance(threshold, float) and not 0 < threshold <= 1:
            raise ConfigError(f"reconstruction_threshold as a float must be in (0, 1], got {threshold}")
        if shares is None and isinstance(threshold, float):
            raise ConfigError("with num_shares=None the parameter finder chooses the threshold; pass "
                              "reconstruction_threshold=None (or an int to override it)")
        if shares is not None and threshold is None:
            raise ConfigError("reconstruction_threshold=None needs num_shares=None (the finder chooses both)")
        object.__setattr__(self, "num_shares", shares)
        object.__setattr__(self, "reconstruction_threshold", threshold)
        object.__setattr__(self, "max_weight", check_float("max_weight", self.max_weight, lo=0.0, lo_open=True))
        c = check_clipping(self.clipping_range)
        object.__setattr__(self, "clipping_range", c)
        q = check_quantization(self.quantization_range)
        if self.modulus_range is not None:
            r = check_power_of_two_modulus(self.modulus_range)
            if r <= q:
                raise ModulusError(f"modulus_range ({r}) must be greater than quantization_range ({q})")
        if self.timeout is not None:
            object.__setattr__(self, "timeout", check_float("timeout", self.timeout, lo=0.0, lo_open=True))
        check_choice("threat_model", self.threat_model, THREAT_MODELS)
        for name in ("corrupt_fraction", "dropout_fraction"):
            check_float(name, getattr(self, name), lo=0.0, hi=1.0, hi_open=True)
        if self.noise_variance is not None:
            check_float("noise_variance", self.noise_variance, lo=0.0, lo_open=True)

    def modulus_for(self, n: int) -> int:
        """The round's modulus for ``n`` clients; refuses one the sum (and its noise) could overflow."""
        q, margin = self.quantization_range, noise_margin(n, self.noise_variance)
        top = n * (q - 1) + 2 * margin  # the sum lies in [-margin, n (Q - 1) + margin]
        smallest = 1 << max(1, top.bit_length())
        if self.modulus_range is None:
            return smallest
        if top >= self.modulus_range:
            raise ModulusError(f"{n} clients x (quantization_range - 1) = {n * (q - 1)}"
                               f"{f' plus the noise margin 2 x {margin}' if margin else ''} >= modulus_range = "
                               f"{self.modulus_range}: the sum could overflow; raise modulus_range to "
                               f"{smallest} (or pass modulus_range=None), or lower quantization_range")
        return self.modulus_range

    def parameters_for(self, n: int) -> GraphParameters:
        """Graph and threshold for a round of ``n`` sampled clients."""
        n = check_int("the number of sampled clients", n, lo=2)
        if self.num_shares is None:
            override = self.reconstruction_threshold
            return find_parameters(n, corrupt_fraction=self.corrupt_fraction, dropout_fraction=self.dropout_fraction,
                                   threat_model=self.threat_model,
                                   threshold=None if override is None else int(override))
        group, threshold = flower_shares(n, self.num_shares, self.reconstruction_threshold)  # type: ignore[arg-type]
        degree = min(group, n) - 1
        if threshold > degree + 1:
            raise ConfigError(f"reconstruction_threshold {threshold} exceeds the {degree + 1} shares each client "
                              f"deals among {n} sampled clients")
        return find_parameters(n, corrupt_fraction=self.corrupt_fraction, dropout_fraction=self.dropout_fraction,
                               threat_model=self.threat_model, num_neighbors=max(degree, 2), threshold=threshold,
                               complete=degree >= n - 1)


def flower_shares(n: int, num_shares: Share, reconstruction_threshold: Share) -> tuple[int, int]:
    """(shares per client, threshold) exactly as Flower's ``SecAggPlusWorkflow.setup_stage`` sets them
    for ``n`` sampled clients (the share count may exceed n: then every client is in every group)."""
    if isinstance(num_shares, float):
        shares = round(num_shares * n)
        if shares < n and shares & 1 == 0:
            shares += 1
        if shares <= 2:
            shares = n
    else:
        shares = num_shares
    if isinstance(reconstruction_threshold, float):
        threshold = max(round(reconstruction_threshold * shares), 2)
    else:
        threshold = reconstruction_threshold
    if n != shares and shares & 1 == 0:  # Flower makes the count odd after choosing the threshold
        shares += 1
    return shares, threshold


def noise_margin(num_clients: int, noise_variance: float | None) -> int:
    """How far the clients' summed Skellam noise may push the sum outside [0, n (Q - 1)]: 40 of its
    standard deviations (0 without noise)."""
    return 0 if noise_variance is None else math.ceil(40 * math.sqrt(num_clients * noise_variance)) + 1
