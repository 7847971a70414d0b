"""One interface for every aggregator (``base``), the registry that builds them by name with
checked options (``registry``), and the aggregators on this floor: ``plain``, and
``secagg`` / ``secagg+`` (``secure``). ``he-bfv`` and ``he-ckks`` (``secagg.he``) and the DP
variants (``secagg.dp``) implement the same interface from the floor above. Where their simulated
clients run is a client backend (``secagg.sim.backends``), chosen with ``backend=``."""

from __future__ import annotations

from .._lazy import lazy_exports

lazy_exports(globals(), {
    "AggregationResult": ".base:AggregationResult",
    "Aggregator": ".base:Aggregator",
    "available_aggregators": ".registry:available_aggregators",
    "create_aggregator": ".registry:create_aggregator",
})
