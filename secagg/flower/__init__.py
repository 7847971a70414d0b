"""A drop-in for Flower users: this library's SecAgg+ behind Flower's workflow and mod API.

Change one import on each side of an existing Flower app::

    from secagg.flower import SecAggPlusWorkflow   # instead of flwr.server.workflow.SecAggPlusWorkflow
    from secagg.flower import secaggplus_mod       # instead of flwr.client.mod.secaggplus_mod

Needs the ``flower`` extra (``pip install "secagg[flower]"``). See ``docs/flower.md``.
"""

from __future__ import annotations

from .._lazy import lazy_exports

lazy_exports(globals(), {
    "LocalGrid": ".local_grid:LocalGrid",
    "SecAggPlusWorkflow": ".workflow:SecAggPlusWorkflow",
    "make_secaggplus_mod": ".mod:make_secaggplus_mod",
    "secaggplus_mod": ".mod:secaggplus_mod",
})
