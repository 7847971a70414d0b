"""Federated recommender: matrix factorisation trained in rounds over (secure) aggregation.

Data (:mod:`.data`, :mod:`.synthetic`, :mod:`.download`, :mod:`.split`), the model (:mod:`.model`),
the two sides of a round (:mod:`.client`, :mod:`.server`, :mod:`.optim`), the loop (:mod:`.train`),
evaluation (:mod:`.metrics`, :mod:`.evaluation`), baselines, checkpoints and an ``implicit``-style API.
"""

from __future__ import annotations

from .._lazy import lazy_exports

lazy_exports(globals(), {
    "CentralizedMF": ".api:CentralizedMF",
    "FederatedConfig": ".train:FederatedConfig",
    "FederatedMF": ".api:FederatedMF",
    "FederatedTrainer": ".train:FederatedTrainer",
    "Interactions": ".data:Interactions",
    "LocalConfig": ".client:LocalConfig",
    "Split": ".split:Split",
    "UserItems": ".data:UserItems",
    "leave_one_out": ".split:leave_one_out",
    "load_csv": ".data:load_csv",
    "load_dataset": ".datasets:load_dataset",
    "load_ml100k": ".data:load_ml100k",
    "load_path": ".data:load_path",
    "load_ratings_csv": ".data:load_ratings_csv",
    "load_ratings_dat": ".data:load_ratings_dat",
    "locate_ml100k": ".datasets:locate_ml100k",
    "make_synthetic": ".synthetic:make_synthetic",
})
