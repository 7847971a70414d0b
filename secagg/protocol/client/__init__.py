"""The client side of SecAgg / SecAgg+: a state machine, one module per round."""

from .client import ClientState, SecAggClient

__all__ = ["ClientState", "SecAggClient"]
