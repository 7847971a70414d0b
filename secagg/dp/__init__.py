"""Distributed differential privacy inside secure aggregation (the Skellam mechanism).

Each client clips its update, rotates it with a randomized Hadamard transform shared by the round,
scales and rounds it to integers (conditional randomized rounding), adds Skellam noise, and hands
the residues mod 2^bits to secure aggregation; the server decodes the noisy sum. Privacy is
accounted with ``dp-accounting`` (user-level; Poisson, fixed-size or cyclic participation, as the
run's sampler does) in two views: ``epsilon_release`` (observers of the models) and
``epsilon_server`` (the server, which sees the cohort). Entry points: :class:`DPConfig`,
:func:`make_dp_aggregator`, :class:`PrivacyLedger`.
"""

from __future__ import annotations

from .._lazy import lazy_exports

lazy_exports(globals(), {
    "DPAggregator": ".aggregator:DPAggregator",
    "DPConfig": ".config:DPConfig",
    "DPParameters": ".params:DPParameters",
    "DPPlan": ".config:DPPlan",
    "PrivacyLedger": ".accounting:PrivacyLedger",
    "RandomizedHadamard": ".rotation:RandomizedHadamard",
    "RoundCodec": ".mechanism:RoundCodec",
    "RoundMechanism": ".accounting:RoundMechanism",
    "default_delta": ".config:default_delta",
    "derive_parameters": ".params:derive_parameters",
    "epsilon_for": ".accounting:epsilon_for",
    "server_epsilon_for": ".accounting:server_epsilon_for",
    "make_dp_aggregator": ".aggregator:make_dp_aggregator",
    "quantize_and_mask_skellam": "..core.masking:quantize_and_mask_skellam",
    "sample_skellam": ".skellam:sample_skellam",
    "skellam_rdp": ".accounting:skellam_rdp",
    "skellam_sample_native": "..core.masking:skellam_sample_native",
})
