"""A scripted malicious server that drives honest clients through their public API.

:class:`Adversary` holds honest :class:`~secagg.protocol.client.SecAggClient` objects (and, for
colluders, reads their secrets), runs an honest :class:`~secagg.protocol.server.SecAggServer` for the
bookkeeping of the stages it does not attack, and sends the clients whatever it likes where it
attacks. :meth:`Adversary.recover` is its goal: rebuild one victim's exact input from the shares it
gathered. Every attack test asserts that this fails with a specific error (and, as a control, that
the same harness does recover the input when a client check is switched off).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

from secagg.core import shamir
from secagg.core.crypto import IdentityKey, KeyPair, pairwise_seed
from secagg.core.prg import prg_expand
from secagg.errors import SecAggError
from secagg.protocol.client import SecAggClient
from secagg.protocol.config import INPUT_QUANTIZED, SessionConfig
from secagg.protocol.messages import ConsistencyCheckRequest, Message, UnmaskingRequest, decode
from secagg.protocol.packing import unpack
from secagg.protocol.policy import ClientPolicy
from secagg.protocol.server import SecAggServer
from secagg.protocol.stage import Stage
from secagg.protocol.transcript import consistency_transcript

Edit = Callable[[Stage, int, bytes], "bytes | None"]


class Adversary:
    """A malicious server over ``n`` honest clients (ids 0..n-1) with quantized inputs in [0, q)."""

    def __init__(self, n: int, *, kind: str, degree: int, threshold: int, max_dropouts: int = 0,
                 d: int = 16, q: int = 16, colluders: Iterable[int] = (), policy: ClientPolicy | None = None,
                 graph_seed: bytes | None = None, seed: int = 7, label: bytes | None = None,
                 identities: Mapping[int, IdentityKey] | None = None,
                 threat_model: str = "active") -> None:
        rng = np.random.default_rng(seed)
        self.inputs = {c: rng.integers(0, q, d).astype(np.uint32) for c in range(n)}
        self.identities = dict(identities) if identities else {c: IdentityKey() for c in range(n)}
        self.registry = {c: k.public for c, k in self.identities.items()}
        modulus = 1 << (n * (q - 1)).bit_length()
        self.config = SessionConfig(client_ids=tuple(range(n)), graph_kind=kind, degree=degree,
                                    threshold=threshold, modulus_range=modulus, vector_length=d,
                                    clipping_range=1.0, quantization_range=q, threat_model=threat_model,
                                    input_kind=INPUT_QUANTIZED, max_dropouts=max_dropouts,
                                    graph_seed=graph_seed, **({} if label is None else {"session_id": label}))
        self.clients = {c: SecAggClient(c, self.inputs[c], identity=self.identities[c],
                                        identity_registry=self.registry, policy=policy)
                        for c in range(n)}
        self.colluders = frozenset(colluders)
        self.server = SecAggServer(self.config, identity_registry=self.registry)
        self.replies: dict[tuple[Stage, int], bytes] = {}
        self.errors: dict[int, SecAggError] = {}  # what each honest client raised
        self.rejected: dict[int, SecAggError] = {}  # replies the honest bookkeeping server refused

    # --- talking to the honest clients ------------------------------------------------------------
    def send(self, cid: int, request: bytes | Message) -> Message | None:
        """Deliver one request; the client's reply (decoded), or None if it raised (kept in errors)."""
        data = request.to_bytes() if isinstance(request, Message) else request
        try:
            reply = self.clients[cid].handle(data)
        except SecAggError as exc:
            self.errors[cid] = exc
            return None
        return None if reply is None else decode(reply)

    def run_until(self, stage: Stage, *, edit: Edit | None = None,
                  skip: Mapping[Stage, Iterable[int]] | None = None) -> dict[int, bytes]:
        """Run the honest server until ``stage``'s requests are out (returned, not delivered).
        ``edit`` may rewrite (or drop, with None) any request; ``skip`` names clients that get no
        request at a stage (a server pretending they dropped)."""
        requests = self.server.start()
        skipped = {s: set(c) for s, c in (skip or {}).items()}
        while self.server.stage is not stage:
            current = self.server.stage
            for cid, request in requests.items():
                if cid in skipped.get(current, ()) or cid in self.errors:
                    continue
                if edit is not None:
                    request = edit(current, cid, request)
                    if request is None:
                        continue
                reply = self.send(cid, request)
                if reply is not None:
                    data = reply.to_bytes()
                    self.replies[(current, cid)] = data
                    try:
                        self.server.receive(cid, data)
                    except SecAggError as exc:
                        self.rejected[cid] = exc
            requests = self.server.advance()
        return requests

    # --- the partition attack (active model) ------------------------------------------------------
    def partition(self, victim: int, halves: tuple[set[int], set[int]]) -> dict[int, Message]:
        """Show ``halves[0]`` (the victim's side) a survivor set with the victim and ``halves[1]`` one
        without it, collect each side's consistency signatures (colluders sign both), then ask each
        side to unmask with its own side's signatures: the first reveals self-mask shares of the
        victim, the second its key shares. Returns the unmasking replies that came back."""
        ctx = self.server.ctx
        everyone = set(ctx.u3)
        views = (everyone, everyone - {victim})
        signatures: list[dict[int, bytes]] = [{}, {}]
        for side, (members, view) in enumerate(zip(halves, views)):
            for cid in sorted(members):
                reply = self.send(cid, ConsistencyCheckRequest(session_id=self.config.session_id,
                                                               client_id=cid, survivors=tuple(sorted(view))))
                if reply is not None:
                    signatures[side][cid] = reply.signature  # type: ignore[attr-defined]
            for cid in self.colluders:  # a colluder signs whatever the server likes, on both sides
                signatures[side][cid] = self.identities[cid].sign(consistency_transcript(ctx.sid, view))
        out: dict[int, Message] = {}
        graph = ctx.g
        for side, (members, view) in enumerate(zip(halves, views)):
            for cid in sorted(members):
                group = graph.group(cid)
                survivors = tuple(sorted(group & view))
                dropped = tuple(sorted((graph.neighbors(cid) & {victim}) - view))
                sigs = {w: s for w, s in signatures[side].items() if w in group}
                reply = self.send(cid, UnmaskingRequest(session_id=self.config.session_id, client_id=cid,
                                                        survivors=survivors, dropped=dropped, signatures=sigs))
                if reply is not None:
                    out[cid] = reply
        return out

    def colluder_shares(self, victim: int) -> tuple[list[bytes], list[bytes]]:
        """What the colluders hold of the victim: both kinds of share."""
        b, s = [], []
        for cid in self.colluders:
            held = self.clients[cid].ctx.held.get(victim)
            if held is not None:
                b.append(held[0])
                s.append(held[1])
        return b, s

    # --- the goal ------------------------------------------------------------------------------------
    def recover(self, victim: int, b_shares: list[bytes], s_shares: list[bytes]) -> np.ndarray:
        """Rebuild the victim's exact quantized input from its masked input and t shares of each
        kind (raises ShamirError with fewer than t, or wrong shares)."""
        ctx, cfg = self.server.ctx, self.config
        b_seed = shamir.combine([shamir.Share.from_bytes(s) for s in b_shares])
        s_pair = KeyPair.from_private_bytes(shamir.combine([shamir.Share.from_bytes(s) for s in s_shares]))
        reply = decode(self.replies[(Stage.MASKED_INPUT, victim)])
        r, length = cfg.modulus_range, cfg.vector_length
        value = unpack(reply.data, length, reply.bits).astype(object)  # type: ignore[attr-defined]
        value = value - prg_expand(b_seed, length, modulus_range=r).astype(object)
        for peer in sorted(ctx.g.neighbors(victim) & ctx.u2):
            seed = pairwise_seed(s_pair, ctx.keys[peer][1], session_id=ctx.sid, me=victim, peer=peer)
            sign = 1 if victim < peer else -1
            value = value - sign * prg_expand(seed, length, modulus_range=r).astype(object)
        return np.array([int(v) % r for v in value], dtype=np.uint64)

    @staticmethod
    def shares_of(replies: Mapping[int, Message], victim: int) -> tuple[list[bytes], list[bytes]]:
        b = [m.self_mask_shares[victim] for m in replies.values() if victim in m.self_mask_shares]  # type: ignore[attr-defined]
        s = [m.key_shares[victim] for m in replies.values() if victim in m.key_shares]  # type: ignore[attr-defined]
        return b, s
