"""The server side of SecAgg / SecAgg+: a state machine, one module per round."""

from .server import SecAggServer, ServerResult, ServerState

__all__ = ["SecAggServer", "ServerResult", "ServerState"]
