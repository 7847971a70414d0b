"""Distributed differential privacy inside secure aggregation (the Skellam mechanism).

Each client clips its update, rotates it with a randomized Hadamard transform shared by the round,
scales and rounds it to integers (conditional randomized rounding), adds Skellam noise, and hands
the residues mod 2^bits to secure aggregation; the server decodes the noisy sum. Privacy is
accounted with ``dp-accounting`` (user-level, Poisson-sampled rounds). Entry points:
:class:`DPConfig`, :func:`make_dp_aggregator`, :class:`PrivacyLedger`.
"""

from __future__ import annotations

from .accounting import PrivacyLedger, RoundMechanism, epsilon_for, skellam_rdp
from .aggregator import DPAggregator, make_dp_aggregator
from .config import DPConfig, DPPlan, default_delta
from .mechanism import RoundCodec
from .native import quantize_and_mask_skellam, skellam_sample_native
from .params import DPParameters, derive_parameters
from .rotation import RandomizedHadamard
from .skellam import sample_skellam

__all__ = [
    "DPAggregator",
    "DPConfig",
    "DPParameters",
    "DPPlan",
    "PrivacyLedger",
    "RandomizedHadamard",
    "RoundCodec",
    "RoundMechanism",
    "default_delta",
    "derive_parameters",
    "epsilon_for",
    "make_dp_aggregator",
    "quantize_and_mask_skellam",
    "sample_skellam",
    "skellam_rdp",
    "skellam_sample_native",
]
