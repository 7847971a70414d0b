"""Round 0: receive the session config, check it against this client's policy, create the two X25519
key pairs (in active SecAgg+ also commit to a graph-seed nonce), advertise them."""

from __future__ import annotations

import os

import numpy as np

from ...core.crypto import KeyPair
from ...errors import (
    ConfigError,
    DTypeError,
    InvalidMessageError,
    ShapeError,
    UnknownClientError,
)
from ..config import INPUT_FLOAT, SessionConfig
from ..graphseed import NONCE_BYTES, nonce_commitment
from ..messages import AdvertiseKeysReply, AdvertiseKeysRequest
from ..transcript import advertise_transcript, first_session_id, session_id
from .context import ClientContext


def handle(ctx: ClientContext, request: AdvertiseKeysRequest) -> AdvertiseKeysReply:
    config = SessionConfig.from_wire(request.config, request.session_id)
    if not config.includes(ctx.client_id):
        raise UnknownClientError(f"the session config does not list this client ({ctx.client_id})")
    if config.active and ctx.identity is None:
        raise ConfigError("the active threat model needs this client's identity key")
    ctx.policy.check(config)  # active: refuse a graph or threshold unsafe under this client's policy
    if ctx.update is not None:  # else it is checked when it arrives (SecAggClient.set_input)
        check_input(ctx.update, config)
    ctx.config = config
    ctx.config_digest = config.digest()
    ctx.first_id = first_session_id(config.session_id, ctx.config_digest)
    if not config.active:  # nobody signs: the session id needs no cohort
        ctx.sid = session_id(config.session_id, ctx.config_digest)
    if not config.clients_draw_graph_seed:
        ctx.graph = config.graph()
    ctx.c_keys, ctx.s_keys = KeyPair.generate(), KeyPair.generate()
    if config.clients_draw_graph_seed:
        ctx.graph_nonce = ctx.graph_nonce or os.urandom(NONCE_BYTES)
        ctx.commitment = nonce_commitment(ctx.first_id, ctx.client_id, ctx.graph_nonce)
    signature = b""
    if config.active:
        assert ctx.identity is not None
        signature = ctx.identity.sign(advertise_transcript(
            ctx.first_id, ctx.client_id, ctx.c_keys.public, ctx.s_keys.public, ctx.commitment))
    return AdvertiseKeysReply(session_id=config.session_id, client_id=ctx.client_id,
                              c_public=ctx.c_keys.public, s_public=ctx.s_keys.public,
                              commitment=ctx.commitment, signature=signature)


def check_input(update: np.ndarray, config: SessionConfig) -> None:
    """The input must fit the session: its length, float vs quantized, values below Q."""
    if config.vector_length != update.shape[0]:
        raise ShapeError(f"the server expects vectors of length {config.vector_length}; this "
                         f"client's update has length {update.shape[0]}")
    kind = update.dtype.kind
    if (config.input_kind == INPUT_FLOAT) != (kind == "f"):
        raise InvalidMessageError(f"the server expects {config.input_kind} inputs, this client "
                                  f"holds {update.dtype}")
    if kind == "u" and update.size and int(update.max()) >= config.quantization_range:
        raise ShapeError("quantized input has values >= quantization_range")


def as_input(update: np.ndarray) -> np.ndarray:
    """Validate a client's input: a 1-D float vector, or a 1-D unsigned quantized vector."""
    arr = np.asarray(update)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ShapeError(f"a client's input must be a non-empty 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "fu":
        raise DTypeError(f"a client's input must be a float or an unsigned (already quantized) "
                         f"array, got {arr.dtype}")
    return arr
