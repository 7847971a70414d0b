"""The aggregators by name: ``create_aggregator("secagg+", ...)`` builds one, with its options checked."""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import ConfigError
from .base import Aggregator

# name -> "module:attribute"; modules are imported only when the aggregator is asked for, so an
# optional dependency (TenSEAL) is needed only by who uses it.
_REGISTRY: dict[str, str] = {
    "plain": "secagg.aggregators.plain:PlainAggregator",
    "secagg": "secagg.aggregators.secure:SecAggAggregator",
    "secagg+": "secagg.aggregators.secure:SecAggPlusAggregator",
    "he-bfv": "secagg.he.aggregator:BFVAggregator",
    "he-ckks": "secagg.he.aggregator:CKKSAggregator",
}


def available_aggregators() -> list[str]:
    """Names accepted by :func:`create_aggregator`."""
    return sorted(_REGISTRY)


def create_aggregator(name: str, **options: Any) -> Aggregator:
    """Build an aggregator by name, e.g. ``create_aggregator("secagg+", clipping_range=1.0)``."""
    try:
        target = _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown aggregator {name!r}; choose one of {', '.join(available_aggregators())}"
        ) from None
    module_name, attr = target.split(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, attr)
    aggregator = factory(**options)
    if not isinstance(aggregator, Aggregator):  # pragma: no cover - registry misconfiguration
        raise ConfigError(f"{target} did not build an Aggregator")
    return aggregator
