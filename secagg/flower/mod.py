"""``secaggplus_mod``: the client half of :class:`~secagg.flower.SecAggPlusWorkflow`, as a Flower mod.

A drop-in for ``flwr.client.mod.secaggplus_mod``: ``ClientApp(client_fn, mods=[secaggplus_mod])``.
Each train message of a round carries one protocol stage. The client's state between stages lives
in its context as :mod:`secagg.protocol.client.snapshot` bytes (versioned, never the plain
update), so consecutive stages may run in different actors; it is dropped when the round ends
(completed, aborted, or the workflow's end notice). At the masked-input stage the mod runs the
ClientApp's fit, turns its parameters into ``[w, w * params]`` and hands only the masked vector
back. A train message without this library's record is refused, so the update never leaves the
client in the clear; Flower's own workflow is refused at its first stage.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

import flwr.compat.common.recorddict_compat as compat
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.common import parameters_to_ndarrays

from ..core.crypto import IdentityKey
from ..errors import IncompatiblePeerError, InvalidMessageError, SecAggError, UnknownClientError
from ..protocol.client import ClientState, SecAggClient
from ..protocol.client.snapshot import dump, load
from ..protocol.config import NoisePlan
from ..protocol.policy import ClientPolicy
from ..protocol.stage import Stage
from . import records
from .vectors import encode

ClientAppCallable = Callable[[Message, Context], Message]


def make_secaggplus_mod(*, identity: IdentityKey | Mapping[int, IdentityKey] | None = None,
                        identity_registry: Mapping[int, bytes] | None = None,
                        policy: ClientPolicy | None = None) -> Callable[[Message, Context, ClientAppCallable], Message]:
    """A mod for this client: ``identity`` (its Ed25519 key; or node id -> key, for a simulation
    whose one ClientApp serves many nodes) and ``identity_registry`` (Flower node id -> registered
    public key) are needed for the active threat model; ``policy`` is the client's own assumption
    about colluders (it refuses an unsafe threshold)."""
    registry = dict(identity_registry or {})
    keys = identity if isinstance(identity, Mapping) else None

    def secaggplus_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
        if msg.metadata.message_type != MessageType.TRAIN:
            return call_next(msg, ctxt)
        me = keys.get(msg.metadata.dst_node_id) if keys is not None else identity
        record = _record(msg)
        stage = record.get("stage")
        payload = record.get("request")
        if type(payload) is not bytes or not isinstance(stage, str):
            raise InvalidMessageError("the secagg.flower record needs a stage name and request bytes")
        if stage in (records.END, records.ABORT):  # the round is over: drop its secrets
            _forget(ctxt)
            return _reply(msg, RecordDict(), stage, b"")
        if stage == Stage.ADVERTISE_KEYS.name:
            _forget(ctxt)
            client, setup_bytes = _start(msg, record, me, registry, policy), record.get("setup")
        else:
            client, setup_bytes = _restore(ctxt, me, registry, policy)
        setup = records.unpack_setup(setup_bytes)
        content = RecordDict()
        try:
            if stage == Stage.MASKED_INPUT.name:
                out = call_next(msg, ctxt)
                content = out.content
                fitres = compat.recorddict_to_fitres(content, keep_input=True)
                c = client.ctx.cfg.clipping_range
                client.set_input(encode(parameters_to_ndarrays(fitres.parameters), fitres.num_examples,
                                        max_weight=setup["max_weight"], clipping_range=c, shapes=setup["shapes"]))
                for array_record in content.array_records.values():
                    array_record.clear()  # only the masked vector leaves the client
            reply = client.handle(payload) or b""
        except BaseException:
            _forget(ctxt)
            raise
        if client.state in (ClientState.COMPLETED, ClientState.ABORTED):
            _forget(ctxt)
        else:
            ctxt.state.config_records[records.STATE] = ConfigRecord({"client": dump(client), "setup": setup_bytes})
        return _reply(msg, content, stage, reply)

    return secaggplus_mod


secaggplus_mod = make_secaggplus_mod()
"""The mod for the honest-but-curious model (no identity key); see :func:`make_secaggplus_mod`."""


def _record(msg: Message) -> ConfigRecord:
    found = msg.content.config_records
    if records.RECORD not in found:
        if records.FLOWER_RECORD in found:
            raise IncompatiblePeerError(
                "this ClientApp uses secagg.flower.secaggplus_mod, but the server runs Flower's own "
                "SecAggPlusWorkflow; use secagg.flower.SecAggPlusWorkflow on the server (the two are not "
                "wire-compatible: Flower's masks come from a 32-bit-seeded numpy generator)")
        raise IncompatiblePeerError("a train message without a secagg.flower record: this client sends its update "
                                    "only through secure aggregation (run secagg.flower.SecAggPlusWorkflow)")
    record = found[records.RECORD]
    records.check_wire(record, "the server")
    return record


def _start(msg: Message, record: ConfigRecord, identity: IdentityKey | None, registry: Mapping[int, bytes],
           policy: ClientPolicy | None) -> SecAggClient:
    setup = records.unpack_setup(record.get("setup"))
    cid, nodes, me = record.get("client_id"), setup["nodes"], msg.metadata.dst_node_id
    if type(cid) is not int or not 0 <= cid < len(nodes) or nodes[cid] != me:
        raise InvalidMessageError(f"the round's client id {cid!r:.20} does not name this node ({me})")
    session_registry = {}
    if identity is not None and registry:
        unknown = [node for node in nodes if node not in registry]
        if unknown:
            raise UnknownClientError(f"nodes {unknown[:5]} of the round have no registered identity key")
        session_registry = {i: registry[node] for i, node in enumerate(nodes)}
    noise = setup["noise_variance"]
    plan = None if noise is None else NoisePlan(noise, os.urandom(32))
    return SecAggClient(cid, None, identity=identity, identity_registry=session_registry, noise=plan, policy=policy)


def _restore(ctxt: Context, identity: IdentityKey | None, registry: Mapping[int, bytes],
             policy: ClientPolicy | None) -> tuple[SecAggClient, bytes]:
    saved = ctxt.state.config_records.get(records.STATE)
    if saved is None:
        raise SecAggError("this client holds no secure-aggregation round (it missed the first stage)")
    setup_bytes = saved["setup"]
    setup = records.unpack_setup(setup_bytes)
    session_registry = {i: registry[node] for i, node in enumerate(setup["nodes"]) if node in registry}
    return load(saved["client"], identity=identity, identity_registry=session_registry, policy=policy), setup_bytes


def _forget(ctxt: Context) -> None:
    if records.STATE in ctxt.state.config_records:
        del ctxt.state.config_records[records.STATE]


def _reply(msg: Message, content: RecordDict, stage: str, reply: bytes) -> Message:
    content[records.RECORD] = ConfigRecord({"wire": records.WIRE, "stage": stage, "reply": reply})
    return Message(content, reply_to=msg)
