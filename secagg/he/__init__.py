"""Homomorphic summation through TenSEAL: ``he-bfv`` (exact) and ``he-ckks`` (approximate).

Three roles, kept apart: :class:`KeyHolder` (secret key; decrypts only aggregates),
:class:`Server` (public context; adds ciphertexts) and :class:`Client` (public context;
encrypts). TenSEAL is the optional extra ``pip install "secagg[he]"``; it is imported only when
an HE object is built.
"""

from __future__ import annotations

from .._lazy import lazy_exports

lazy_exports(globals(), {
    "BFVAggregator": ".aggregator:BFVAggregator",
    "BFVParameters": ".params:BFVParameters",
    "BFVScheme": ".schemes:BFVScheme",
    "CKKSAggregator": ".aggregator:CKKSAggregator",
    "CKKSParameters": ".params:CKKSParameters",
    "CKKSScheme": ".schemes:CKKSScheme",
    "Client": ".client:Client",
    "HEAggregationResult": ".aggregator:HEAggregationResult",
    "KeyHolder": ".keyholder:KeyHolder",
    "Server": ".server:Server",
    "choose_bfv_parameters": ".params:choose_bfv_parameters",
    "choose_ckks_parameters": ".params:choose_ckks_parameters",
})
