"""Federated recommender: matrix factorisation trained in rounds over (secure) aggregation.

Data (:mod:`.data`, :mod:`.synthetic`, :mod:`.download`, :mod:`.split`), the model (:mod:`.model`),
the two sides of a round (:mod:`.client`, :mod:`.server`, :mod:`.optim`), the loop (:mod:`.train`),
evaluation (:mod:`.metrics`, :mod:`.evaluation`), baselines, checkpoints and an ``implicit``-style API.
"""

from __future__ import annotations

from .api import CentralizedMF, FederatedMF
from .client import LocalConfig
from .data import Interactions, UserItems, load_csv, load_ml100k, load_path, load_ratings_csv, load_ratings_dat
from .datasets import load_dataset, locate_ml100k
from .split import Split, leave_one_out
from .synthetic import make_synthetic
from .train import FederatedConfig, FederatedTrainer

__all__ = [
    "CentralizedMF",
    "FederatedConfig",
    "FederatedMF",
    "FederatedTrainer",
    "Interactions",
    "LocalConfig",
    "Split",
    "UserItems",
    "leave_one_out",
    "load_csv",
    "load_dataset",
    "load_ml100k",
    "load_path",
    "load_ratings_csv",
    "load_ratings_dat",
    "locate_ml100k",
    "make_synthetic",
]
