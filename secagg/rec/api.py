"""A Python API in the style of ``implicit``: ``fit``, ``recommend``, ``similar_items``, ``save``, ``load``.

* :class:`FederatedMF` trains over simulated devices with any aggregator; ``recommend(user)`` is
  answered by that user's device (the user vector never leaves it).
* :class:`CentralizedMF` is the same model trained on all data in one place (the baseline).

``user_items`` is a users x items scipy sparse matrix (non-zero = interaction) or a
:class:`~secagg.rec.data.UserItems`. Item and user ids are row/column indices.
"""

from __future__ import annotations

import abc
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from .._validate import check_int
from ..errors import CheckpointError, ConfigError, InputError
from ..sim.backends.registry import check_backend
from . import baseline, checkpoint
from .client import LocalConfig
from .data import UserItems
from .model import ItemModel
from .split import Split
from .train import FederatedConfig, FederatedTrainer, dropout_margin


def _as_user_items(user_items: object) -> UserItems:
    return user_items if isinstance(user_items, UserItems) else UserItems.from_matrix(user_items)


def _top_n(scores: np.ndarray, n: int, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64).copy()
    if exclude is not None and len(exclude):
        scores[exclude] = -np.inf
    n = max(0, min(int(n), int(np.isfinite(scores).sum())))
    if n == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.float64)
    top = np.argpartition(-scores, n - 1)[:n]
    top = top[np.argsort(-scores[top], kind="stable")]
    return top.astype(np.int64), scores[top]


class Recommender(abc.ABC):
    """What both models share: top-N recommendation and item similarity from the item factors."""

    _train: UserItems | None = None

    @property
    @abc.abstractmethod
    def item_model(self) -> ItemModel:
        """The trained global item model."""

    @abc.abstractmethod
    def _user_scores(self, userid: int) -> np.ndarray:
        """Scores of every item for one user."""

    def _check_fitted(self) -> UserItems:
        if self._train is None:
            raise ConfigError("call fit() (or load()) first")
        return self._train

    def recommend(self, userid: int | np.ndarray, user_items: object | None = None, N: int = 10,
                  filter_already_liked_items: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Top-``N`` (item ids, scores) for one user, or ``(len(userid), N)`` arrays for several."""
        train = self._check_fitted()
        if N < 1:
            raise ConfigError(f"N must be >= 1, got {N}")
        if np.ndim(userid) == 1:
            pairs = [self.recommend(int(u), user_items, N, filter_already_liked_items) for u in userid]
            width = min(len(ids) for ids, _ in pairs) if pairs else 0
            return (np.array([ids[:width] for ids, _ in pairs]), np.array([s[:width] for _, s in pairs]))
        userid = check_int("userid", userid, lo=0, hi=train.n_users - 1, error=InputError)
        exclude = None
        if filter_already_liked_items:
            liked = [train.items_of(int(userid))]
            if user_items is not None:  # the user's own row (implicit >= 0.5) or the full matrix
                rows = _as_user_items(user_items)
                liked.append(rows.items_of(0 if rows.n_users == 1 else int(userid)))
            exclude = np.concatenate(liked)
        return _top_n(self._user_scores(int(userid)), N, exclude)

    def similar_items(self, itemid: int, N: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``N`` items most cosine-similar to ``itemid`` in factor space (itself first)."""
        factors = self.item_model.factors.astype(np.float64)
        if not 0 <= itemid < len(factors):
            raise InputError(f"itemid {itemid} is outside [0, {len(factors)})")
        norms = np.linalg.norm(factors, axis=1) + 1e-12
        sims = factors @ factors[itemid] / (norms * norms[itemid])
        return _top_n(sims, N, None)


class FederatedMF(Recommender):
    """MF + BPR trained by federated rounds through ``aggregator`` (plain, secagg, secagg+, ...).

    Distributed DP (user-level; aggregators plain, secagg, secagg+): give ``epsilon`` (the noise
    is calibrated for ``rounds``) or ``noise_multiplier`` (the epsilon spent is reported), with
    optional ``delta``, ``dp_accountant`` and ``dp_sampling`` (``"poisson"`` or ``"fixed"``); after
    ``fit`` both epsilons per round (``epsilon_release``, ``epsilon_server``) are in
    ``trainer.history`` and ``trainer.ledger`` holds the totals. ``backend`` (``"inprocess"`` or
    ``"ray"``, with ``backend_options``) says where the aggregator's simulated clients run.
    """

    def __init__(self, factors: int = 32, *, rounds: int = 50, clients_per_round: int = 50,
                 local_epochs: int = 5, learning_rate: float = 0.05, regularization: float = 0.001,
                 clip_norm: float = 5.0, aggregator: str = "plain", dropout: float = 0.0,
                 server_optimizer: str = "fedavg", server_lr: float | None = None,
                 random_state: int = 0, epsilon: float | None = None, noise_multiplier: float | None = None,
                 delta: float | None = None, dp_accountant: str = "skellam", dp_sampling: str = "poisson",
                 backend: str = "inprocess", backend_options: dict[str, Any] | None = None,
                 **options: Any) -> None:
        check_backend(backend, backend_options)
        self._where = {"backend": backend, "backend_options": dict(backend_options or {})}
        self._dp_options: dict[str, Any] | None = None
        if epsilon is not None or noise_multiplier is not None:
            self._dp_options = {"epsilon": epsilon, "noise_multiplier": noise_multiplier, "delta": delta,
                                "accountant": dp_accountant, "sampling": dp_sampling}
        elif delta is not None:
            raise ConfigError("delta needs epsilon or noise_multiplier")
        self.config = FederatedConfig(
            factors=factors, rounds=rounds, clients_per_round=clients_per_round,
            local=LocalConfig(epochs=local_epochs, lr=learning_rate, reg=regularization, clip_norm=clip_norm),
            aggregator=aggregator, dropout=dropout, server_optimizer=server_optimizer,
            server_lr=float(clients_per_round if server_lr is None else server_lr), seed=random_state,
            **options)
        if self._dp_options is not None:  # validate the DP settings now (num_users is known at fit)
            self._with_dp(self.config, clients_per_round)
        self._trainer: FederatedTrainer | None = None

    def _with_dp(self, config: FederatedConfig, num_users: int) -> FederatedConfig:
        """``config`` with the DP settings for ``num_users`` devices (unchanged without DP)."""
        if self._dp_options is None or config.clients_per_round is None:
            return config
        from ..dp import DPConfig
        from ..dp.accounting import check_sampling
        from ..dp.config import default_noise_split

        n = config.clients_per_round
        sampling = check_sampling(self._dp_options["sampling"])
        split = default_noise_split(sampling, n, num_users, dropout_margin(config.dropout)) \
            if 1 <= n <= num_users else None
        dp = DPConfig(clip_norm=config.local.clip_norm, clients_per_round=n, num_users=num_users,
                      rounds=config.rounds, min_clients=split, **self._dp_options)
        return dataclasses.replace(config, dp=dp)

    @property
    def trainer(self) -> FederatedTrainer:
        if self._trainer is None:
            raise ConfigError("call fit() (or load()) first")
        return self._trainer

    @property
    def item_model(self) -> ItemModel:
        return self.trainer.server.model

    @property
    def item_factors(self) -> np.ndarray:
        return self.item_model.factors

    @staticmethod
    def _split(train: UserItems) -> Split:
        none = np.full(train.n_users, -1, dtype=np.int64)
        return Split(train=train, test_items=none, validation_items=none.copy())

    def _build(self, train: UserItems) -> FederatedTrainer:
        config = self.config
        n_clients = int((train.counts() > 0).sum())
        if config.clients_per_round is not None and config.clients_per_round > n_clients:
            config = FederatedConfig.from_dict({**config.to_dict(), "clients_per_round": n_clients,
                                                "dp": None})
        config = self._with_dp(config, n_clients)
        self.config = config
        return FederatedTrainer(self._split(train), config, **self._where)

    def fit(self, user_items: object, show_progress: bool = True) -> FederatedMF:
        """Train for ``rounds`` federated rounds on ``user_items`` (one device per non-empty row)."""
        self._train = _as_user_items(user_items)
        self._trainer = self._build(self._train)
        self._trainer.fit(progress=show_progress)
        return self

    def _user_scores(self, userid: int) -> np.ndarray:
        prior = None if self.trainer.prior is None else self.trainer.prior.scores
        client = self.trainer.clients.get(userid)
        if client is None:  # a user without interactions has no device: rank by item bias (and prior)
            biases = self.item_model.biases.astype(np.float64)
            return biases if prior is None else biases + prior
        return client.recommend_scores(self.item_model, prior)

    def save(self, path: str | Path) -> Path:
        """Save the model, the simulated devices' state and the training data (one ``.npz``)."""
        arrays, meta = self.trainer.state()
        train = self._check_fitted()
        arrays = {**arrays, "train/indptr": train.indptr, "train/indices": train.indices}
        meta = {**meta, "api": "FederatedMF", "n_items": train.n_items}
        return checkpoint.save(path, arrays, meta)

    @classmethod
    def load(cls, path: str | Path) -> FederatedMF:
        arrays, meta = checkpoint.load(path)
        if meta.get("api") != "FederatedMF":
            raise CheckpointError(f"{path}: not a FederatedMF file (api={meta.get('api')!r})")
        model = cls.__new__(cls)
        model.config = FederatedConfig.from_dict(meta["config"])
        model._train = UserItems(indptr=arrays.pop("train/indptr"), indices=arrays.pop("train/indices"),
                                 n_items=int(meta["n_items"]))
        model._where = {"backend": "inprocess", "backend_options": {}}  # an execution choice, not saved
        model._trainer = FederatedTrainer(cls._split(model._train), model.config, **model._where)
        model._trainer.load_state(arrays, meta)
        return model


class CentralizedMF(Recommender):
    """The same MF + BPR trained on all interactions in one place."""

    def __init__(self, factors: int = 32, *, iterations: int = 120, learning_rate: float = 0.05,
                 regularization: float = 0.01, batch_size: int = 256, random_state: int = 0) -> None:
        self.config = baseline.CentralizedConfig(factors=factors, epochs=iterations, lr=learning_rate,
                                                 reg=regularization, batch_size=batch_size, seed=random_state)
        self._model: baseline.CentralizedMF | None = None

    @property
    def item_model(self) -> ItemModel:
        if self._model is None or self._model.items is None:
            raise ConfigError("call fit() (or load()) first")
        return self._model.items

    def fit(self, user_items: object, show_progress: bool = True) -> CentralizedMF:
        self._train = _as_user_items(user_items)
        self._model = baseline.CentralizedMF(self.config).fit(self._train, progress=show_progress)
        return self

    def _user_scores(self, userid: int) -> np.ndarray:
        assert self._model is not None
        return self._model.scores(np.array([userid]))[0]

    def save(self, path: str | Path) -> Path:
        train = self._check_fitted()
        assert self._model is not None and self._model.users is not None
        items = self.item_model
        arrays = {"item_factors": items.factors, "item_biases": items.biases, "user_factors": self._model.users,
                  "train/indptr": train.indptr, "train/indices": train.indices}
        meta = {"api": "CentralizedMF", "config": self.config.__dict__, "n_items": train.n_items}
        return checkpoint.save(path, arrays, meta)

    @classmethod
    def load(cls, path: str | Path) -> CentralizedMF:
        arrays, meta = checkpoint.load(path)
        if meta.get("api") != "CentralizedMF":
            raise CheckpointError(f"{path}: not a CentralizedMF file (api={meta.get('api')!r})")
        model = cls.__new__(cls)
        model.config = baseline.CentralizedConfig(**meta["config"])
        model._train = UserItems(indptr=arrays["train/indptr"], indices=arrays["train/indices"],
                                 n_items=int(meta["n_items"]))
        inner = baseline.CentralizedMF(model.config)
        inner.items = ItemModel(arrays["item_factors"], arrays["item_biases"])
        inner.users = arrays["user_factors"]
        model._model = inner
        return model
