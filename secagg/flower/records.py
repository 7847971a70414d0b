"""How this library's SecAgg+ travels in Flower's messages (shared by the workflow and the mod).

Every message of a round carries one ConfigRecord under :data:`RECORD` holding ``wire``
(:data:`WIRE`, the format's name and version), ``stage`` (a :class:`~secagg.protocol.stage.Stage`
name, or :data:`END`) and the protocol's own bytes (``request`` to a client, ``reply`` back). The
round-0 request also holds ``client_id`` (the client's id in the session) and ``setup``
(msgpack: the sampled node ids in session-id order, the parameter shapes, ``max_weight``, the
noise variance). A client keeps its state between stages in its context under :data:`STATE`.

The format is deliberately not Flower's: to Flower's own mod the workflow's first message also
shows a Flower record whose stage names this library (:func:`flower_decoy`), so that mod refuses
it at once with a message that says why, and this library's mod refuses Flower's workflow.
"""

from __future__ import annotations

from typing import Any

import msgpack

from ..errors import IncompatiblePeerError, InvalidMessageError

RECORD = "secagg.flower"
STATE = "secagg.flower.state"
WIRE = "secagg.flower/1"
END = "END"
ABORT = "ABORT"
FLOWER_RECORD = "secaggplus_configs"  # flwr.common.secure_aggregation.secaggplus_constants.RECORD_KEY_CONFIGS
MARKER = "this server runs secagg.flower.SecAggPlusWorkflow"  # in Flower's mod's refusal of the decoy
DECOY_STAGE = (f"{WIRE} ({MARKER}; the ClientApp must use secagg.flower.secaggplus_mod instead of "
               "flwr.client.mod.secaggplus_mod)")


def flower_decoy() -> dict[str, Any]:
    """What Flower's own mod finds under its record key: a stage it refuses by name."""
    return {"stage": DECOY_STAGE}


def pack_setup(nodes: list[int], shapes: list[tuple[int, ...]], max_weight: float,
               noise_variance: float | None) -> bytes:
    return msgpack.packb({"nodes": nodes, "shapes": [list(s) for s in shapes], "max_weight": max_weight,
                          "noise_variance": noise_variance}, use_bin_type=True)


def unpack_setup(data: object) -> dict[str, Any]:
    """The round's setup, strictly checked (:class:`InvalidMessageError` if malformed)."""
    if type(data) is not bytes:
        raise InvalidMessageError("the round setup must be bytes")
    try:
        setup = msgpack.unpackb(data, raw=False, use_list=True)
    except (ValueError, TypeError, msgpack.ExtraData) as exc:
        raise InvalidMessageError(f"the round setup is malformed: {exc}") from None
    if type(setup) is not dict or set(setup) != {"nodes", "shapes", "max_weight", "noise_variance"}:
        raise InvalidMessageError("the round setup must have exactly nodes, shapes, max_weight, noise_variance")
    nodes, shapes = setup["nodes"], setup["shapes"]
    if type(nodes) is not list or not all(type(n) is int and n >= 0 for n in nodes) or len(set(nodes)) != len(nodes):
        raise InvalidMessageError("the round setup's nodes must be distinct non-negative ints")
    if type(shapes) is not list or not all(type(s) is list and all(type(x) is int and x >= 0 for x in s)
                                           for s in shapes):
        raise InvalidMessageError("the round setup's shapes must be lists of non-negative ints")
    weight, noise = setup["max_weight"], setup["noise_variance"]
    if type(weight) is not float or not weight > 0:
        raise InvalidMessageError("the round setup's max_weight must be a float > 0")
    if noise is not None and (type(noise) is not float or not noise > 0):
        raise InvalidMessageError("the round setup's noise_variance must be None or a float > 0")
    setup["shapes"] = [tuple(s) for s in shapes]
    return setup


def check_wire(record: Any, who: str) -> None:
    """Refuse a record of another format or version."""
    wire = record.get("wire") if hasattr(record, "get") else None
    if wire != WIRE:
        raise IncompatiblePeerError(f"{who} speaks {wire!r:.60}, not {WIRE!r}; both sides must use secagg.flower "
                                    "(SecAggPlusWorkflow on the server, secaggplus_mod on the clients)")
