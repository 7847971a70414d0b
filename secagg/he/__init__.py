"""Homomorphic summation through TenSEAL: ``he-bfv`` (exact) and ``he-ckks`` (approximate).

Three roles, kept apart: :class:`KeyHolder` (secret key; decrypts only aggregates),
:class:`Server` (public context; adds ciphertexts) and :class:`Client` (public context;
encrypts). TenSEAL is the optional extra ``pip install "secagg[he]"``; it is imported only when
an HE object is built.
"""

from __future__ import annotations

from .aggregator import BFVAggregator, CKKSAggregator, HEAggregationResult
from .client import Client
from .keyholder import KeyHolder
from .params import BFVParameters, CKKSParameters, choose_bfv_parameters, choose_ckks_parameters
from .schemes import BFVScheme, CKKSScheme
from .server import Server

__all__ = [
    "BFVAggregator",
    "BFVParameters",
    "BFVScheme",
    "CKKSAggregator",
    "CKKSParameters",
    "CKKSScheme",
    "Client",
    "HEAggregationResult",
    "KeyHolder",
    "Server",
    "choose_bfv_parameters",
    "choose_ckks_parameters",
]
