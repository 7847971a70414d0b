"""A client saved and restored (protocol.client.snapshot) between every two stages finishes the
session exactly like one that stayed in memory; the saved state never holds its input."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.core.crypto import IdentityKey
from secagg.errors import InvalidMessageError, ProtocolError
from secagg.protocol.client import SecAggClient
from secagg.protocol.client.snapshot import dump, load
from secagg.protocol.server import SecAggServer
from secagg.protocol.stage import Stage
from secagg.sim.session import make_session


def _run(threat_model: str, protocol: str, n: int = 9, d: int = 17) -> None:
    rng = np.random.default_rng(3)
    inputs = {cid: rng.integers(0, 1000, d).astype(np.uint32) for cid in range(n)}
    session = make_session(list(inputs), vector_length=d, input_kind="quantized", protocol=protocol,
                           threat_model=threat_model, quantization_range=1000)
    config = session.config
    session.close()
    identities = {cid: IdentityKey() for cid in inputs} if config.active else {}
    registry = {cid: key.public for cid, key in identities.items()}
    saved = {cid: dump(SecAggClient(cid, None, identity=identities.get(cid), identity_registry=registry))
             for cid in inputs}
    server = SecAggServer(config, identity_registry=registry)
    requests = server.start()
    while requests:
        for cid, request in requests.items():
            client = load(saved[cid], identity=identities.get(cid), identity_registry=registry)
            if server.stage is Stage.MASKED_INPUT:
                client.set_input(inputs[cid])
            reply = client.handle(request)
            state = dump(client) if client.state.name not in ("COMPLETED",) else b""
            assert inputs[cid].tobytes() not in state
            saved[cid] = state
            server.receive(cid, reply)
        requests = server.advance()
    expected = sum(a.astype(np.uint64) for a in inputs.values()) % config.modulus_range
    np.testing.assert_array_equal(server.result.quantized_sum, expected)


@pytest.mark.parametrize("threat_model", ["honest-but-curious", "active"])
@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_a_client_restored_at_every_stage_gives_the_exact_sum(threat_model, protocol):
    _run(threat_model, protocol, n=12 if protocol == "secagg+" else 6)


def test_saved_state_of_another_version_or_kind_is_refused():
    state = dump(SecAggClient(3, None))
    assert load(state).client_id == 3
    import msgpack
    body = msgpack.unpackb(state, raw=False, strict_map_key=False)
    with pytest.raises(InvalidMessageError, match="version 99"):
        load(msgpack.packb({**body, "version": 99}))
    with pytest.raises(InvalidMessageError, match="not a saved client state"):
        load(b"\x93\x01\x02\x03")


def test_a_finished_client_has_no_state_to_save():
    client = SecAggClient(1, None)
    client._abort(ProtocolError("test"))
    with pytest.raises(ProtocolError, match="keeps no state"):
        dump(client)
