"""The federated server: owns the global item model and its optimiser, and nothing per user.

Its only input from clients is an :class:`~secagg.aggregators.base.AggregationResult` — the *sum* of the
surviving clients' updates, however it was computed. It never receives a user vector or an
individual client's update.
"""

from __future__ import annotations

from ..aggregators.base import AggregationResult
from ..errors import InputError, ShapeError
from .model import ItemModel
from .optim import ServerOptimizer


class RecServer:
    def __init__(self, model: ItemModel, optimizer: ServerOptimizer) -> None:
        self._model = model
        self.optimizer = optimizer

    @property
    def model(self) -> ItemModel:
        return self._model

    def broadcast(self) -> ItemModel:
        """The copy of the global model sent to this round's clients."""
        return self._model.copy()

    def apply(self, result: AggregationResult, denominator: float | None = None) -> None:
        """Average the aggregate (over the included clients, or over ``denominator``, e.g. the
        expected cohort size), take an optimiser step, bump the version."""
        if not isinstance(result, AggregationResult):
            raise InputError("the server only accepts an AggregationResult (a sum over clients)")
        if result.total.shape != (self._model.size,):
            raise ShapeError(f"aggregate has shape {result.total.shape}; the model needs ({self._model.size},)")
        if denominator is not None and not denominator > 0:
            raise InputError(f"the averaging denominator must be > 0, got {denominator}")
        mean = result.mean() if denominator is None else result.total / float(denominator)
        self._model.add_vector(self.optimizer.step(mean))
        self._model.version += 1
