"""Bad uploads get a specific error; the offending client is excluded, the others are kept."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import (
    CiphertextError,
    InputError,
    KeyMismatchError,
    NoiseBudgetError,
    ReplayError,
)
from secagg.he import CKKSAggregator, Client, KeyHolder, Server
from secagg.he.params import choose_bfv_parameters
from secagg.he.schemes import BFVScheme
from secagg.he.wire import Upload, parse_upload

DIM = 5000  # two ciphertexts


def honest_payloads(agg, tag, ids=(1, 2, 3)):
    rng = np.random.default_rng(7)
    updates = {cid: rng.uniform(-1, 1, DIM) for cid in ids}
    return updates, {cid: agg.client.encrypt(u, round_tag=tag) for cid, u in updates.items()}


def rewrap(agg, payload: bytes, **changes) -> bytes:
    """Re-frame an upload with some header fields or ciphertexts replaced (valid checksum)."""
    up = parse_upload(payload, max_bytes=1 << 26)
    fields = {"scheme": up.scheme, "key_id": up.key_id, "round_tag": up.round_tag, "dim": up.dim,
              "ciphertexts": up.ciphertexts, **changes}
    return Upload(**fields).to_bytes()


def check_excluded(agg, bad_payload, error, match=None):
    tag = agg.new_round_tag()
    updates, payloads = honest_payloads(agg, tag)
    bad = bad_payload(tag) if callable(bad_payload) else bad_payload
    result = agg.aggregate_payloads({**payloads, 9: bad}, dim=DIM, round_tag=tag)
    assert result.included == frozenset(updates)
    assert set(result.rejected) == {9}
    assert isinstance(result.rejected[9], error)
    if match:
        assert match in str(result.rejected[9])
    expected = np.sum(list(updates.values()), axis=0)
    assert np.max(np.abs(result.total - expected)) <= agg.error_bound(3)


def test_other_key_same_parameters(bfv):
    stranger = Client(bfv.scheme, KeyHolder(bfv.scheme).public_context())
    check_excluded(bfv, lambda tag: stranger.encrypt(np.zeros(DIM), round_tag=tag),
                   KeyMismatchError, "another context or key")


def test_other_context_parameters(bfv):
    # same ring, another plain modulus: same size, different SEAL parameters id
    scheme = BFVScheme(choose_bfv_parameters(quantization_range=2**20, max_clients=64))
    assert scheme.params.poly_modulus_degree == bfv.params.poly_modulus_degree
    stranger = Client(scheme, KeyHolder(scheme).public_context())
    check_excluded(bfv, lambda tag: stranger.encrypt(np.zeros(DIM), round_tag=tag),
                   KeyMismatchError)
    # even when it lies about the key, its ciphertexts do not load into this context
    check_excluded(bfv, lambda tag: rewrap(bfv, stranger.encrypt(np.zeros(DIM), round_tag=tag),
                                           key_id=bfv.client.key_id), KeyMismatchError,
                   "does not belong")
    # a bigger ring: its upload is refused by size before anything is parsed
    big = BFVScheme(choose_bfv_parameters(quantization_range=2**12, max_clients=64,
                                          poly_modulus_degree=8192,
                                          coeff_mod_bit_sizes=(60, 60, 60, 38)))
    stranger = Client(big, KeyHolder(big).public_context())
    check_excluded(bfv, lambda tag: rewrap(bfv, stranger.encrypt(np.zeros(DIM), round_tag=tag),
                                           key_id=bfv.client.key_id), CiphertextError, "exceeds")


def test_ckks_ciphertexts_sent_to_the_bfv_server(bfv, ckks):
    check_excluded(bfv, lambda tag: rewrap(bfv, ckks.client.encrypt(np.zeros(DIM), round_tag=tag),
                                           scheme="bfv", key_id=bfv.client.key_id),
                   (KeyMismatchError, CiphertextError))


@pytest.mark.parametrize("dim", [DIM - 1, DIM + 1, 4096])
def test_wrong_lengths(bfv, dim):
    check_excluded(bfv, lambda tag: bfv.client.encrypt(np.zeros(dim), round_tag=tag),
                   CiphertextError, "expected")


def test_wrong_number_or_size_of_ciphertexts(bfv):
    def dropped_chunk(tag):
        good = bfv.client.encrypt(np.zeros(DIM), round_tag=tag)
        return rewrap(bfv, good, ciphertexts=parse_upload(good, max_bytes=1 << 26).ciphertexts[:1])

    def swapped_chunks(tag):  # 4096-slot and 904-slot chunks in the wrong order
        good = bfv.client.encrypt(np.zeros(DIM), round_tag=tag)
        return rewrap(bfv, good,
                      ciphertexts=parse_upload(good, max_bytes=1 << 26).ciphertexts[::-1])

    check_excluded(bfv, dropped_chunk, CiphertextError)
    check_excluded(bfv, swapped_chunks, CiphertextError, "holds")


@pytest.mark.parametrize("corrupt", ["flip", "truncate", "empty", "random", "not-bytes"])
def test_corrupted_bytes(bfv, corrupt):
    def make(tag):
        good = bytearray(bfv.client.encrypt(np.zeros(DIM), round_tag=tag))
        if corrupt == "flip":
            good[len(good) // 2] ^= 0x01
            return bytes(good)
        if corrupt == "truncate":
            return bytes(good[:-1000])
        if corrupt == "empty":
            return b""
        if corrupt == "random":
            return np.random.default_rng(0).bytes(len(good))
        return np.zeros(DIM)
    check_excluded(bfv, make, CiphertextError)


def test_plaintext_where_a_ciphertext_is_expected(bfv):
    import tenseal as ts

    def make(tag):
        plain = [ts.plain_tensor(list(range(4096))).serialize(),
                 ts.plain_tensor(list(range(DIM - 4096))).serialize()]
        return rewrap(bfv, bfv.client.encrypt(np.zeros(DIM), round_tag=tag), ciphertexts=plain)
    check_excluded(bfv, make, CiphertextError, "not a ciphertext")


def test_empty_ciphertext_objects(bfv):
    def make(tag):
        good = bfv.client.encrypt(np.zeros(DIM), round_tag=tag)
        return rewrap(bfv, good, ciphertexts=(b"", b""))
    check_excluded(bfv, make, CiphertextError)


def test_stale_round_and_duplicate_client(bfv):
    check_excluded(bfv, lambda tag: bfv.client.encrypt(np.zeros(DIM), round_tag=tag + 1000),
                   ReplayError, "round tag")
    tag = bfv.new_round_tag()
    _, payloads = honest_payloads(bfv, tag)
    server = Server(bfv.scheme, bfv.key_holder.public_context(), dim=DIM, round_tag=tag)
    server.receive(1, payloads[1])
    with pytest.raises(ReplayError, match="already uploaded"):
        server.receive(1, payloads[2])
    assert server.included == [1]


def test_client_lying_about_its_key_is_caught_at_decryption(bfv):
    """The server cannot tell; the key holder finds the aggregate undecryptable and says so."""
    stranger = Client(bfv.scheme, KeyHolder(bfv.scheme).public_context())
    tag = bfv.new_round_tag()
    _, payloads = honest_payloads(bfv, tag)
    forged = rewrap(bfv, stranger.encrypt(np.zeros(DIM), round_tag=tag),
                    key_id=bfv.client.key_id)
    with pytest.raises(NoiseBudgetError, match="another key"):
        bfv.aggregate_payloads({**payloads, 9: forged}, dim=DIM, round_tag=tag)


def test_ckks_garbage_aggregate_is_detected(ckks):
    other = CKKSAggregator(max_clients=64)
    tag = ckks.new_round_tag()
    _, payloads = honest_payloads(ckks, tag)
    forged = rewrap(ckks, other.client.encrypt(np.zeros(DIM), round_tag=tag),
                    key_id=ckks.client.key_id)
    with pytest.raises(NoiseBudgetError):
        ckks.aggregate_payloads({**payloads, 9: forged}, dim=DIM, round_tag=tag)


def test_ckks_bad_upload_is_excluded(ckks):
    check_excluded(ckks, lambda tag: ckks.client.encrypt(np.zeros(DIM + 3), round_tag=tag),
                   CiphertextError)


def test_clients_refuse_unencodable_values(bfv, ckks):
    with pytest.raises(InputError):
        bfv.client.encrypt_encoded(np.array([0.5, 1.0]), round_tag=0)
    with pytest.raises(InputError):
        bfv.client.encrypt_encoded(np.array([2**12], dtype=np.int64), round_tag=0)
    with pytest.raises(InputError):
        ckks.client.encrypt_encoded(np.array([2.0]), round_tag=0)
