"""The three roles stay apart: only the key holder can decrypt, and only aggregates."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import HEError, ReplayError, ThresholdError
from secagg.he import Client, KeyHolder, Server


def test_public_context_carries_no_secret_key(bfv):
    import tenseal as ts

    context = ts.context_from(bfv.key_holder.public_context())
    assert not context.has_secret_key() and not context.is_private()


@pytest.mark.parametrize("name", ["bfv", "ckks"])
def test_server_cannot_decrypt(name, request):
    agg = request.getfixturevalue(name)
    server = Server(agg.scheme, agg.key_holder.public_context(), dim=5, round_tag=99)
    payload = agg.client.encrypt(np.full(5, 0.5), round_tag=99)
    server.receive(1, payload)
    assert not server.context.has_secret_key()
    assert not hasattr(server, "decrypt")
    from secagg.he.wire import parse_upload

    vec = agg.scheme.load(server.context, parse_upload(payload, max_bytes=1 << 24).ciphertexts[0])
    with pytest.raises(ValueError, match="secret"):
        vec.decrypt()
    with pytest.raises(ValueError, match="(?i)secret key"):
        server.context.secret_key()


def test_client_and_server_refuse_a_context_with_the_secret_key(bfv):
    private = bfv.key_holder._context.serialize(save_secret_key=True)
    with pytest.raises(HEError, match="never the secret key"):
        Client(bfv.scheme, private)
    with pytest.raises(HEError, match="never the secret key"):
        Server(bfv.scheme, private, dim=3, round_tag=0)


def test_key_holder_decrypts_only_aggregates_of_enough_clients(bfv):
    holder = KeyHolder(bfv.scheme, min_clients=3)
    client = Client(bfv.scheme, holder.public_context())
    server = Server(bfv.scheme, holder.public_context(), dim=4, round_tag=7)
    for cid in (1, 2):
        server.receive(cid, client.encrypt(np.zeros(4), round_tag=7))
    with pytest.raises(ThresholdError, match="at least 3"):
        holder.decrypt(server.aggregate())
    server.receive(3, client.encrypt(np.zeros(4), round_tag=7))
    aggregate = server.aggregate()
    total, count = holder.decrypt(aggregate)
    assert count == 3 and total.shape == (4,)
    with pytest.raises(ReplayError, match="at most once"):
        holder.decrypt(aggregate)


def test_key_holder_refuses_an_aggregate_under_another_key(bfv):
    other = KeyHolder(bfv.scheme)
    server = Server(bfv.scheme, other.public_context(), dim=2, round_tag=0)
    client = Client(bfv.scheme, other.public_context())
    for cid in (1, 2):
        server.receive(cid, client.encrypt(np.zeros(2), round_tag=0))
    with pytest.raises(HEError, match="not made under this key"):
        bfv.key_holder.decrypt(server.aggregate())


def test_min_clients_is_validated(bfv):
    from secagg.errors import ConfigError

    with pytest.raises(ConfigError):
        KeyHolder(bfv.scheme, min_clients=0)
