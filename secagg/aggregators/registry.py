"""The aggregators by name: ``create_aggregator("secagg+", ...)`` builds one, with its options checked."""

from __future__ import annotations

import importlib
from typing import Any

from .._validate import did_you_mean
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


def aggregator_class(name: str) -> type[Aggregator]:
    """The class registered as ``name`` (its module imported now; an unknown name is a ConfigError
    naming the closest registered one)."""
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(f"unknown aggregator {name!r}{did_you_mean(name, _REGISTRY)}; choose one of "
                          f"{', '.join(available_aggregators())}")
    module_name, attr = _REGISTRY[name].split(":")
    factory = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(factory, type) and issubclass(factory, Aggregator)):  # pragma: no cover
        raise ConfigError(f"{_REGISTRY[name]} is not an Aggregator")
    return factory


def aggregator_options(name: str) -> list[str]:
    """The options ``create_aggregator(name, ...)`` takes."""
    return aggregator_class(name).option_names()


def create_aggregator(name: str, **options: Any) -> Aggregator:
    """Build an aggregator by name, e.g. ``create_aggregator("secagg+", clipping_range=1.0)``.

    An option the aggregator does not take is a :class:`~secagg.errors.ConfigError` that names
    the closest one it does; option values are checked before any work.
    """
    return aggregator_class(name)(**options)
