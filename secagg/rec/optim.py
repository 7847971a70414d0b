"""Server optimisers applied to the average of the surviving clients' updates.

* :class:`FedAvg` — ``model += server_lr * mean_update`` (McMahan et al. 2017, with a server lr).
* :class:`FedAdam` — Adam on the pseudo-gradient ``-mean_update`` with adaptivity ``tau``
  (Reddi et al. 2021, "Adaptive Federated Optimization"), optionally bias-corrected.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError


class ServerOptimizer(abc.ABC):
    name: str

    @abc.abstractmethod
    def step(self, mean_update: np.ndarray) -> np.ndarray:
        """The change to apply to the flattened model, given the survivors' mean update."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise CheckpointError(f"{self.name} has no state, got {sorted(state)}")


class FedAvg(ServerOptimizer):
    """``model += server_lr * v`` with ``v = momentum * v + mean_update`` (FedAvgM, Hsu et al. 2019;
    ``momentum = 0`` is plain FedAvg). Momentum averages the DP noise of successive rounds."""

    name = "fedavg"

    def __init__(self, server_lr: float = 1.0, momentum: float = 0.0) -> None:
        if not server_lr > 0:
            raise ConfigError(f"server_lr must be > 0, got {server_lr}")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 <= momentum < 1:
            raise ConfigError(f"server momentum must be in [0, 1), got {momentum!r}")
        self.server_lr = float(server_lr)
        self.momentum = float(momentum)
        self.velocity: np.ndarray | None = None

    def step(self, mean_update: np.ndarray) -> np.ndarray:
        if self.momentum == 0.0:
            return self.server_lr * mean_update
        delta = np.asarray(mean_update, dtype=np.float64)
        self.velocity = delta.copy() if self.velocity is None else self.momentum * self.velocity + delta
        return self.server_lr * self.velocity

    def state_dict(self) -> dict[str, Any]:
        return {} if self.velocity is None else {"velocity": self.velocity.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        unknown = set(state) - {"velocity"}
        if unknown:
            raise CheckpointError(f"fedavg has no state {sorted(unknown)}")
        self.velocity = None if "velocity" not in state else np.asarray(state["velocity"], np.float64).copy()


class FedAdam(ServerOptimizer):
    name = "fedadam"

    def __init__(self, server_lr: float = 0.01, beta1: float = 0.9, beta2: float = 0.99,
                 tau: float = 1e-3, bias_correction: bool = True) -> None:
        if not server_lr > 0 or not 0 <= beta1 < 1 or not 0 <= beta2 < 1 or not tau > 0:
            raise ConfigError("FedAdam needs server_lr > 0, 0 <= beta1, beta2 < 1 and tau > 0")
        self.server_lr, self.beta1, self.beta2, self.tau = float(server_lr), beta1, beta2, tau
        self.bias_correction = bias_correction
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None
        self.t = 0

    def step(self, mean_update: np.ndarray) -> np.ndarray:
        delta = np.asarray(mean_update, dtype=np.float64)
        if self.m is None or self.v is None:
            self.m = np.zeros_like(delta)
            self.v = np.zeros_like(delta)
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * delta
        self.v = self.beta2 * self.v + (1 - self.beta2) * delta * delta
        m, v = self.m, self.v
        if self.bias_correction:
            m = m / (1 - self.beta1 ** self.t)
            v = v / (1 - self.beta2 ** self.t)
        return self.server_lr * m / (np.sqrt(v) + self.tau)

    def state_dict(self) -> dict[str, Any]:
        if self.m is None or self.v is None:
            return {"t": self.t}
        return {"t": self.t, "m": self.m.copy(), "v": self.v.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.t = int(state["t"])
            self.m = None if "m" not in state else np.asarray(state["m"], dtype=np.float64).copy()
            self.v = None if "v" not in state else np.asarray(state["v"], dtype=np.float64).copy()
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"FedAdam state is incomplete: {exc}") from None


def make_optimizer(name: str, **options: Any) -> ServerOptimizer:
    """``fedavg`` or ``fedadam`` with their keyword options."""
    if name == "fedavg":
        return FedAvg(**options)
    if name == "fedadam":
        return FedAdam(**options)
    raise ConfigError(f"unknown server optimizer {name!r}; choose fedavg or fedadam")
