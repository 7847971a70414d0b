"""An explicit, versioned serialisation of a client's session state, for stage hops between processes.

A client whose stages run in different processes or actors (Flower's ClientApp is rebuilt for
every message) saves its state after each stage with :func:`dump` and restores it with
:func:`load`. Every field is written by name with its own type; nothing live is pickled.

Never included: the client's input (given at the masked-input stage and used in the same call;
a restored client has none) and its rounding seed (fresh per masked input); its long-term
identity key, identity registry and policy, which the caller passes to :func:`load` again.
A completed or aborted client has no state to save (:func:`dump` refuses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgpack

from ...core.crypto import IdentityKey, KeyPair
from ...errors import InvalidMessageError, ProtocolError
from ..config import NoisePlan, SessionConfig
from ..graphs import HararyGraph, build_graph
from ..policy import ClientPolicy
from .client import ClientState, SecAggClient

FORMAT = "secagg-client-state"
VERSION = 1


def _pairs(d: Mapping[int, tuple[bytes, ...]]) -> list[list[Any]]:
    return [[k, *v] for k, v in sorted(d.items())]


def dump(client: SecAggClient) -> bytes:
    """The client's state between two stages, as bytes (secret: store it as the client's own)."""
    if client.state in (ClientState.COMPLETED, ClientState.ABORTED):
        raise ProtocolError(f"client {client.client_id} is {client.state.value}: it keeps no state")
    ctx = client.ctx
    cfg = ctx.config
    graph_seed = ctx.graph.seed if isinstance(ctx.graph, HararyGraph) else None
    body = {
        "format": FORMAT, "version": VERSION, "state": client.state.name, "client_id": ctx.client_id,
        "config": None if cfg is None else [cfg.to_wire(), cfg.session_id],
        "noise": None if ctx.noise is None else [ctx.noise.variance, ctx.noise.seed],
        "graph_nonce": ctx.graph_nonce, "config_digest": ctx.config_digest, "first_id": ctx.first_id,
        "sid": ctx.sid, "graph": None if ctx.graph is None else [graph_seed],
        "c_key": None if ctx.c_keys is None else ctx.c_keys.private_bytes(),
        "s_key": None if ctx.s_keys is None else ctx.s_keys.private_bytes(),
        "commitment": ctx.commitment, "cohort": _pairs(ctx.cohort), "cohort_digest": ctx.cohort_digest,
        "peer_keys": _pairs(ctx.peer_keys), "share_keys": sorted(ctx.share_keys.items()),
        "self_seed": ctx.self_seed, "own_shares": None if ctx.own_shares is None else list(ctx.own_shares),
        "held": _pairs(ctx.held), "masked_with": sorted(ctx.masked_with), "refused": sorted(ctx.refused),
        "signed_survivors": None if ctx.signed_survivors is None else sorted(ctx.signed_survivors),
        "revealed": sorted(ctx.revealed.items()),
    }
    return msgpack.packb(body, use_bin_type=True)


_FIELDS = frozenset(("format", "version", "state", "client_id", "config", "noise", "graph_nonce", "config_digest",
                     "first_id", "sid", "graph", "c_key", "s_key", "commitment", "cohort", "cohort_digest",
                     "peer_keys", "share_keys", "self_seed", "own_shares", "held", "masked_with", "refused",
                     "signed_survivors", "revealed"))


def load(data: bytes, *, identity: IdentityKey | None = None, identity_registry: Mapping[int, bytes] | None = None,
         policy: ClientPolicy | None = None) -> SecAggClient:
    """Rebuild the client :func:`dump` saved (:class:`InvalidMessageError` if the bytes are not one)."""
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)
    except (ValueError, TypeError, msgpack.ExtraData) as exc:
        raise InvalidMessageError(f"not a saved client state: {exc}") from None
    if type(body) is not dict or body.get("format") != FORMAT:
        raise InvalidMessageError("not a saved client state")
    if body.get("version") != VERSION:
        raise InvalidMessageError(f"saved client state has version {body.get('version')!r:.20}; this "
                                  f"library reads version {VERSION}")
    if set(body) != _FIELDS:
        raise InvalidMessageError(f"saved client state must have exactly the fields {sorted(_FIELDS)}")
    try:
        return _rebuild(body, identity, identity_registry, policy)
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidMessageError(f"saved client state is malformed: {exc}") from None


def _rebuild(body: dict[str, Any], identity: IdentityKey | None, registry: Mapping[int, bytes] | None,
             policy: ClientPolicy | None) -> SecAggClient:
    noise = None if body["noise"] is None else NoisePlan(*body["noise"])
    client = SecAggClient(body["client_id"], None, identity=identity, identity_registry=registry,
                          noise=noise, policy=policy)
    client.state = ClientState[body["state"]]
    ctx = client.ctx
    if body["config"] is not None:
        wire, session_id = body["config"]
        ctx.config = SessionConfig.from_wire(wire, session_id)
    ctx.graph_nonce = body["graph_nonce"]
    ctx.config_digest, ctx.first_id, ctx.sid = body["config_digest"], body["first_id"], body["sid"]
    if body["graph"] is not None:
        cfg = ctx.cfg
        (seed,) = body["graph"]
        ctx.graph = cfg.graph() if seed is None else build_graph(cfg.graph_kind, cfg.client_ids, cfg.degree, seed)
    ctx.c_keys = None if body["c_key"] is None else KeyPair.from_private_bytes(body["c_key"])
    ctx.s_keys = None if body["s_key"] is None else KeyPair.from_private_bytes(body["s_key"])
    ctx.commitment, ctx.cohort_digest = body["commitment"], body["cohort_digest"]
    ctx.cohort = {row[0]: (row[1], row[2], row[3]) for row in body["cohort"]}
    ctx.peer_keys = {row[0]: (row[1], row[2]) for row in body["peer_keys"]}
    ctx.share_keys = {k: v for k, v in body["share_keys"]}
    ctx.self_seed = body["self_seed"]
    ctx.own_shares = None if body["own_shares"] is None else (body["own_shares"][0], body["own_shares"][1])
    ctx.held = {row[0]: (row[1], row[2]) for row in body["held"]}
    ctx.masked_with, ctx.refused = frozenset(body["masked_with"]), frozenset(body["refused"])
    ctx.signed_survivors = None if body["signed_survivors"] is None else frozenset(body["signed_survivors"])
    ctx.revealed = {k: v for k, v in body["revealed"]}
    return client
