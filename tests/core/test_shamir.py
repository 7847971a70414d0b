"""Shamir sharing (secagg.shamir and the _core kernels): reconstruction, secrecy, strict errors."""

from __future__ import annotations

import dataclasses
import os
import random
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg import _core
from secagg.core import shamir
from secagg.errors import ConfigError, SeedError, ShamirError

P = (1 << 61) - 1
secrets32 = st.binary(min_size=32, max_size=32)


# --- pure-Python reference of the encoding ------------------------------------------------------
def chunks(secret: bytes) -> list[int]:
    return list(struct.unpack("<8I", secret))


def ref_split(secret: bytes, t: int, n: int, coef: list[int]) -> list[list[int]]:
    """coef[(k-1)*8 + c] is the X^k coefficient of chunk c (the documented layout)."""
    s = chunks(secret)
    polys = [[s[c]] + [coef[(k - 1) * 8 + c] for k in range(1, t)] for c in range(8)]
    return [[sum(a * pow(x, k, P) for k, a in enumerate(poly)) % P for poly in polys]
            for x in range(1, n + 1)]


def make_share(index: int, t: int, sid: bytes, words: list[int]) -> shamir.Share:
    return shamir.Share(index, t, sid, struct.pack("<8Q", *words))


def poly_through(points: list[tuple[int, int]]) -> list[int]:
    """Coefficients (low to high) of the unique polynomial of degree < len(points) through them."""
    coeffs = [0] * len(points)
    for i, (xi, yi) in enumerate(points):
        basis, denom = [1], 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                basis = [(a - xj * b) % P for a, b in zip([0] + basis, basis + [0])]
                denom = denom * (xi - xj) % P
        scale = yi * pow(denom, P - 2, P) % P
        coeffs = [(c + scale * b) % P for c, b in zip(coeffs, basis)]
    return coeffs


def tamper(share: shamir.Share, chunk: int, bit: int) -> shamir.Share:
    words = list(struct.unpack("<8Q", share.value))
    words[chunk] ^= 1 << bit
    if words[chunk] >= P:  # keep it a valid-looking element; still a different value
        words[chunk] ^= 3 << 59
    return dataclasses.replace(share, value=struct.pack("<8Q", *words))


# --- kernels against the reference -----------------------------------------------------------------
@given(secret=secrets32, t=st.integers(1, 9), extra=st.integers(0, 9), data=st.data())
def test_split_kernel_matches_reference(secret, t, extra, data):
    n = t + extra
    coef = data.draw(st.lists(st.integers(0, P - 1), min_size=(t - 1) * 8, max_size=(t - 1) * 8))
    arr = np.array(coef, dtype=np.uint64)
    expect = ref_split(secret, t, n, coef)
    assert _core.shamir_split(secret, t, n, arr).tolist() == expect
    assert _core.shamir_split(secret, t, n, arr, portable=True).tolist() == expect


def test_split_simd_and_portable_agree_at_large_indices():
    rng = np.random.default_rng(1)
    secret = bytes(range(32))
    for t, n in [(3, shamir.MAX_SHARES), (40, 4099)]:
        coef = rng.integers(0, P, size=(t - 1) * 8, dtype=np.uint64)
        coef[:8] = P - 1  # extreme coefficients exercise the lazy-reduction bounds
        fast = _core.shamir_split(secret, t, n, coef)
        np.testing.assert_array_equal(fast, _core.shamir_split(secret, t, n, coef, portable=True))
        assert int(fast.max()) < P
        x = n  # spot-check the last point against the reference
        want = [(chunks(secret)[c] + sum(int(coef[(k - 1) * 8 + c]) * pow(x, k, P) for k in range(1, t))) % P
                for c in range(8)]
        assert fast[-1].tolist() == want


def test_sampler_rejects_values_outside_the_field():
    words = [P, (1 << 64) - 1, (7 << 61) | 5, 0, P - 1, 1 << 61, 12345]
    raw = struct.pack("<7Q", *words) + b"\xff\xff\xff"  # trailing partial word is ignored
    got = _core.shamir_sample_field(raw, 100).tolist()
    assert got == [5, 0, P - 1, 0, 12345]  # low 61 bits; the value p is rejected
    assert _core.shamir_sample_field(raw, 2).tolist() == [5, 0]
    assert _core.shamir_sample_field(b"\xff" * 800, 10).tolist() == []  # all words rejected


def test_uniform_field_elements_refills_after_rejections(monkeypatch):
    calls, real = [], os.urandom

    def fake_urandom(k):
        calls.append(k)
        return b"\xff" * k if len(calls) == 1 else real(k)

    monkeypatch.setattr(shamir.os, "urandom", fake_urandom)
    out = shamir._uniform_field_elements(10)
    assert out.dtype == np.uint64 and out.size == 10 and int(out.max()) < P and len(calls) >= 2


# --- reconstruction -------------------------------------------------------------------------------
@given(secret=secrets32, t=st.integers(1, 8), extra=st.integers(0, 6), data=st.data())
def test_any_t_or_more_shares_reconstruct(secret, t, extra, data):
    n = t + extra
    shares = shamir.split(secret, t, n)
    assert [s.index for s in shares] == list(range(1, n + 1))
    assert len({s.split_id for s in shares}) == 1 and all(s.threshold == t for s in shares)
    k = data.draw(st.integers(t, n))
    subset = data.draw(st.permutations(shares))[:k]
    assert shamir.combine(subset) == secret


@given(secret=secrets32, t=st.integers(2, 8), extra=st.integers(0, 5), data=st.data())
def test_fewer_than_t_shares_are_refused(secret, t, extra, data):
    shares = shamir.split(secret, t, t + extra)
    subset = data.draw(st.permutations(shares))[: data.draw(st.integers(1, t - 1))]
    with pytest.raises(ShamirError, match="not enough shares"):
        shamir.combine(subset)


def test_threshold_one_means_every_share_is_the_secret():
    secret = os.urandom(32)
    shares = shamir.split(secret, 1, 4)
    assert all(struct.unpack("<8Q", s.value) == tuple(chunks(secret)) for s in shares)
    assert all(shamir.combine([s]) == secret for s in shares)
    assert shamir.combine(shares) == secret


def test_ten_thousand_shares():
    secret = os.urandom(32)
    shares = shamir.split(secret, 5, 10_000)
    pick = random.Random(3).sample(shares[:-1], 6) + [shares[-1]]
    assert shares[-1].index == 10_000 and shamir.combine(pick) == secret


def test_largest_indices_reconstruct():
    secret, t, n = os.urandom(32), 3, shamir.MAX_SHARES
    coef = shamir._uniform_field_elements((t - 1) * 8)
    values = _core.shamir_split(secret, t, n, coef)
    sid = os.urandom(16)
    shares = [make_share(i, t, sid, values[i - 1].tolist()) for i in (n, n - 1, 2, 77)]
    assert shamir.combine(shares) == secret


# --- secrecy --------------------------------------------------------------------------------------
@given(s1=secrets32, s2=secrets32, t=st.integers(2, 6), data=st.data())
def test_t_minus_1_shares_are_consistent_with_every_secret(s1, s2, t, data):
    """Perfect secrecy, exactly: for any t-1 shares of s1 there is exactly one coefficient vector
    that yields the same t-1 shares for s2. So the map coefficients -> shares is a bijection for
    every secret, and uniform coefficients give the same share distribution whatever the secret."""
    n = t + 3
    coef = shamir._uniform_field_elements((t - 1) * 8)
    shares1 = _core.shamir_split(s1, t, n, coef)
    held = sorted(data.draw(st.permutations(range(1, n + 1)))[: t - 1])
    other = [0] * ((t - 1) * 8)
    for c in range(8):
        pts = [(0, chunks(s2)[c])] + [(x, int(shares1[x - 1][c])) for x in held]
        for k, a in enumerate(poly_through(pts)[1:], start=1):
            other[(k - 1) * 8 + c] = a
    shares2 = _core.shamir_split(s2, t, n, np.array(other, dtype=np.uint64))
    for x in held:
        assert shares2[x - 1].tolist() == shares1[x - 1].tolist()
    if s1 != s2:  # and t shares do tell the secrets apart
        assert any(shares2[x - 1].tolist() != shares1[x - 1].tolist() for x in range(1, n + 1))


def test_single_share_distribution_does_not_depend_on_secret():
    """Statistical check of sampler + split with a fixed seed: for t = 2 the share at index 1 of an
    all-zero and of an all-0xff secret both have uniform top bytes (chi-square, 255 dof, critical
    value 370 ~ p = 1e-6), and their histograms agree (two-sample chi-square, same bound)."""
    rng = np.random.default_rng(20261127)
    hists = []
    for secret in (b"\x00" * 32, b"\xff" * 32):
        counts = np.zeros(256)
        for _ in range(400):
            coef = _core.shamir_sample_field(rng.bytes(80), 8)
            v = _core.shamir_split(secret, 2, 2, coef)[0]
            np.add.at(counts, (v >> np.uint64(53)).astype(np.int64), 1)
        expected = counts.sum() / 256
        assert float(((counts - expected) ** 2 / expected).sum()) < 370
        hists.append(counts)
    a, b = hists
    assert float(((a - b) ** 2 / (a + b)).sum()) < 370


# --- tampering and mixing -------------------------------------------------------------------------
@given(secret=secrets32, t=st.integers(1, 7), extra=st.integers(1, 5), data=st.data())
def test_tampered_share_is_detected_when_extra_shares_exist(secret, t, extra, data):
    shares = data.draw(st.permutations(shamir.split(secret, t, t + extra)))
    m = data.draw(st.integers(t + 1, len(shares)))
    subset = list(shares[:m])
    victim = data.draw(st.integers(0, m - 1))
    subset[victim] = tamper(subset[victim], data.draw(st.integers(0, 7)), data.draw(st.integers(0, 60)))
    with pytest.raises(ShamirError, match="inconsistent"):
        shamir.combine(subset)


def test_foreign_share_with_forged_split_id_is_detected():
    a, b = shamir.split(os.urandom(32), 3, 5), shamir.split(os.urandom(32), 3, 5)
    forged = dataclasses.replace(b[3], split_id=a[0].split_id)
    with pytest.raises(ShamirError, match="inconsistent"):
        shamir.combine(a[:3] + [forged])


def test_reconstructed_chunk_above_32_bits_is_refused():
    sid = os.urandom(16)
    big = (1 << 32) + 5  # constant term no 32-byte secret can have
    f = lambda x: [(big + 7 * x) % P] * 8  # noqa: E731
    with pytest.raises(ShamirError, match="do not encode"):
        shamir.combine([make_share(1, 2, sid, f(1)), make_share(2, 2, sid, f(2))])


def test_mixed_split_ids_and_thresholds_are_refused():
    a, b = shamir.split(os.urandom(32), 2, 3), shamir.split(os.urandom(32), 2, 3)
    with pytest.raises(ShamirError, match="different split"):
        shamir.combine([a[0], b[1]])
    c = shamir.split(os.urandom(32), 3, 3)
    with pytest.raises(ShamirError, match="threshold"):
        shamir.combine([c[0], c[1], dataclasses.replace(c[2], threshold=2)])


def test_duplicate_and_zero_indices_are_refused():
    shares = shamir.split(os.urandom(32), 3, 5)
    with pytest.raises(ShamirError, match="same index"):
        shamir.combine([shares[0], shares[1], shares[1]])
    with pytest.raises(ShamirError, match="same index"):
        shamir.combine([shares[0], shares[1], dataclasses.replace(shares[2], index=2)])
    with pytest.raises(ShamirError, match="index"):
        dataclasses.replace(shares[0], index=0)


def test_bad_inputs_to_combine():
    shares = shamir.split(os.urandom(32), 2, 3)
    for bad in ([], [shares[0], b"x" * 89], "ab", None, iter(shares)):
        with pytest.raises(ShamirError):
            shamir.combine(bad)  # type: ignore[arg-type]
    with pytest.raises(ShamirError, match="group 1"):
        shamir.combine_many([shares, shares[:1]])
    with pytest.raises(ShamirError):
        shamir.combine_many(None)  # type: ignore[arg-type]
    assert shamir.combine_many([]) == []


def test_shares_corrupted_after_construction_are_refused():
    shares = shamir.split(os.urandom(32), 2, 3)
    broken = dataclasses.replace(shares[2])
    object.__setattr__(broken, "value", b"\0" * 10)  # bypasses the frozen dataclass's checks
    with pytest.raises(ShamirError, match="malformed"):
        shamir.combine([shares[0], shares[1], broken])


def test_core_status_codes_for_malformed_groups():
    """The native layer refuses what the Python wrapper already filters, without crashing."""
    rho = shamir._uniform_field_elements(_core.SHAMIR_CHECK_POINTS)
    ok = struct.pack("<8Q", *range(8))
    cases = [  # (indices, values, threshold, expected status)
        ([1, 2], [ok, ok], 3, 1), ([1, 2], [ok, ok], 0, 2), ([0, 2], [ok, ok], 2, 3),
        ([1, 1 << 21], [ok, ok], 2, 3), ([3, 3], [ok, ok], 2, 4),
        ([1, 2], [ok, struct.pack("<8Q", P, 0, 0, 0, 0, 0, 0, 0)], 2, 5),
    ]
    for idx, vals, t, code in cases:
        _, status = _core.shamir_combine_many(
            idx, np.array([0, len(idx)], np.uint64), np.array([t], np.uint32), vals, rho)
        assert status.tolist() == [code]
        assert _core.shamir_status_message(code) != "unknown status"
    with pytest.raises(ValueError):
        _core.shamir_combine_many([1], np.array([0, 1], np.uint64), np.array([1], np.uint32),
                                  [b"short"], rho)
    with pytest.raises(TypeError):  # floats are never cast
        _core.shamir_split(b"\0" * 32, 2, 3, np.zeros(8, dtype=np.float64))
    with pytest.raises(ValueError):
        _core.shamir_split(b"\0" * 32, 2, 3, np.full(8, P, dtype=np.uint64))


# --- split argument errors ------------------------------------------------------------------------
@pytest.mark.parametrize("secret", [b"", b"\0" * 31, b"\0" * 33, "x" * 32, None, 5])
def test_secret_must_be_32_bytes(secret):
    with pytest.raises(SeedError):
        shamir.split(secret, 2, 3)


@pytest.mark.parametrize("t,n", [(0, 3), (4, 3), (-1, 3), (1, 0), (2, shamir.MAX_SHARES + 1),
                                 (True, 3), (2.0, 3), (2, "3"), (2, None)])
def test_threshold_and_num_shares_ranges(t, n):
    with pytest.raises(ConfigError):
        shamir.split(b"\0" * 32, t, n)


def test_numpy_integers_are_accepted():
    secret = os.urandom(32)
    assert shamir.combine(shamir.split(secret, np.int64(2), np.uint16(3))) == secret


# --- serialisation --------------------------------------------------------------------------------
@given(index=st.integers(1, shamir.MAX_SHARES), t=st.integers(1, shamir.MAX_SHARES),
       sid=st.binary(min_size=16, max_size=16),
       words=st.lists(st.integers(0, P - 1), min_size=8, max_size=8))
def test_to_bytes_round_trip(index, t, sid, words):
    share = make_share(index, t, sid, words)
    data = share.to_bytes()
    assert len(data) == shamir.SHARE_BYTES and shamir.Share.from_bytes(data) == share
    assert shamir.Share.from_bytes(bytearray(data)) == share


def test_from_bytes_is_strict():
    good = shamir.split(os.urandom(32), 2, 2)[0].to_bytes()
    hdr = struct.Struct("<BII16s")
    bad = [
        good[:-1], good + b"\0", b"", b"\x02" + good[1:],
        hdr.pack(1, 0, 2, good[9:25]) + good[25:],
        hdr.pack(1, shamir.MAX_SHARES + 1, 2, good[9:25]) + good[25:],
        hdr.pack(1, 1, 0, good[9:25]) + good[25:],
        good[:25] + struct.pack("<Q", P) + good[33:],
        good[:-8] + struct.pack("<Q", 1 << 63),
    ]
    for data in bad:
        with pytest.raises(ShamirError):
            shamir.Share.from_bytes(data)
    with pytest.raises(ShamirError):
        shamir.Share.from_bytes("text")  # type: ignore[arg-type]
    assert shamir.Share.from_bytes(good).to_bytes() == good


def malformed_encodings(good: bytes) -> list:
    hdr = struct.Struct("<BII16s")
    return [
        good[:-1], good + b"\0", b"", b"\x02" + good[1:], b"\x00" + good[1:],
        hdr.pack(1, 0, 2, good[9:25]) + good[25:],
        hdr.pack(1, shamir.MAX_SHARES + 1, 2, good[9:25]) + good[25:],
        hdr.pack(1, 2**32 - 1, 2, good[9:25]) + good[25:],
        hdr.pack(1, 1, 0, good[9:25]) + good[25:],
        hdr.pack(1, 1, shamir.MAX_SHARES + 1, good[9:25]) + good[25:],
        good[:25] + struct.pack("<Q", P) + good[33:],
        good[:-8] + struct.pack("<Q", 1 << 63),
        "x" * shamir.SHARE_BYTES, None, 89,
    ]


@given(secret=secrets32, t=st.integers(1, 8), extra=st.integers(0, 30))
def test_split_to_bytes_is_split_serialised(secret, t, extra):
    blobs = shamir.split_to_bytes(secret, t, t + extra)
    shares = [shamir.Share.from_bytes(b) for b in blobs]
    assert len(blobs) == t + extra and all(len(b) == shamir.SHARE_BYTES for b in blobs)
    assert [s.index for s in shares] == list(range(1, t + extra + 1))
    assert {s.threshold for s in shares} == {t} and len({s.split_id for s in shares}) == 1
    assert shamir.combine(shares[extra:]) == secret
    assert shamir.split_to_bytes(secret, t, t + extra)[0][5:25] != blobs[0][5:25]  # fresh split


@given(index=st.lists(st.integers(1, shamir.MAX_SHARES), max_size=12),
       t=st.integers(1, shamir.MAX_SHARES), sid=st.binary(min_size=16, max_size=16),
       words=st.lists(st.integers(0, P - 1), min_size=8, max_size=8))
def test_batch_decoding_round_trips(index, t, sid, words):
    shares = [make_share(i, t, sid, words) for i in index]
    blobs = [s.to_bytes() for s in shares]
    shamir.validate_share_bytes(blobs)
    assert shamir.shares_from_bytes(blobs) == shares
    assert shamir.shares_from_bytes([bytearray(b) for b in blobs]) == shares


@given(n=st.integers(1, 6), data=st.data())
def test_batch_decoding_refuses_what_from_bytes_refuses(n, data):
    good = [s.to_bytes() for s in shamir.split(os.urandom(32), 1, n)]
    bad = data.draw(st.sampled_from(malformed_encodings(good[0])))
    batch = list(good)
    batch.insert(data.draw(st.integers(0, n)), bad)
    with pytest.raises(ShamirError) as single:
        shamir.Share.from_bytes(bad)
    for decode in (shamir.validate_share_bytes, shamir.shares_from_bytes):
        with pytest.raises(ShamirError) as batched:
            decode(batch)
        assert str(batched.value) == str(single.value)  # the same specific error


def test_batch_decoding_names_the_first_bad_entry():
    good = shamir.split(os.urandom(32), 2, 2)[0].to_bytes()
    short, high = good[:-1], good[:-8] + struct.pack("<Q", P)
    with pytest.raises(ShamirError, match="exactly"):
        shamir.validate_share_bytes([good, short, high])
    with pytest.raises(ShamirError, match=">= p"):
        shamir.validate_share_bytes([good, high, short])
    assert shamir.shares_from_bytes([]) == [] and shamir.validate_share_bytes([]) is None


@given(data=st.data())
def test_combine_encoded_many_equals_combine_and_isolates_bad_groups(data):
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    groups, want = [], []
    for _ in range(data.draw(st.integers(1, 10))):
        t = rng.randint(1, 5)
        secret = os.urandom(32)
        shares = shamir.split(secret, t, t + rng.randint(0, 4))
        groups.append([s.to_bytes() for s in rng.sample(shares, rng.randint(t, len(shares)))])
        want.append(secret)
    good = shamir.split(os.urandom(32), 2, 3)
    bad = data.draw(st.sampled_from(malformed_encodings(good[0].to_bytes())))
    spot = data.draw(st.integers(0, len(groups)))
    groups.insert(spot, [bad] + [s.to_bytes() for s in good[1:]])
    want.insert(spot, None)
    secrets, failed = shamir.combine_encoded_many(groups)
    assert secrets == want and list(failed) == [spot]
    if isinstance(bad, bytes):  # a malformed share is told apart from shares that do not fit together
        assert failed[spot][0] in shamir.MALFORMED_STATUSES
    assert shamir.combine_encoded_many([g for g in groups if g is not groups[spot]])[0] == \
        [shamir.combine(shamir.shares_from_bytes(g)) for g in groups if g is not groups[spot]]


def test_combine_encoded_many_names_how_shares_do_not_fit():
    a, b = shamir.split(os.urandom(32), 2, 3), shamir.split(os.urandom(32), 2, 3)
    enc = [[s.to_bytes() for s in g] for g in (a, b)]
    tampered = enc[0][:2] + [enc[0][2][:-1] + bytes([enc[0][2][-1] ^ 1])]
    secrets, failed = shamir.combine_encoded_many([enc[0][:1], [enc[0][0], enc[1][1]], tampered, [], enc[1]])
    assert secrets[:4] == [None] * 4 and secrets[4] == shamir.combine(b)
    assert {g: code for g, (code, _) in failed.items()} == {0: 1, 1: -4, 2: 6, 3: -2}
    assert not set(code for code, _ in failed.values()) & shamir.MALFORMED_STATUSES
    with pytest.raises(ShamirError, match="sequence"):
        shamir.combine_encoded_many(b"abc")  # type: ignore[arg-type]


def test_share_validates_fields_and_hides_value():
    sid, val = b"\1" * 16, b"\0" * 64
    for kw in ({"index": True}, {"index": 1.0}, {"threshold": 0}, {"split_id": b"\1" * 15},
               {"split_id": bytearray(16)}, {"value": b"\0" * 63}, {"value": "x" * 64}):
        with pytest.raises(ShamirError):
            shamir.Share(**{"index": 1, "threshold": 1, "split_id": sid, "value": val, **kw})
    s = shamir.Share(1, 1, sid, b"\x42" + b"\0" * 63)
    assert "value" not in repr(s) and "B" not in repr(s).split("split_id")[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.index = 2  # type: ignore[misc]


# --- batches and threads --------------------------------------------------------------------------
@given(data=st.data())
def test_combine_many_equals_combine(data):
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    groups, want = [], []
    base = shamir.split(os.urandom(32), 3, 6)  # repeated index sets exercise the cache
    for _ in range(data.draw(st.integers(1, 12))):
        t = rng.randint(1, 5)
        n = t + rng.randint(0, 4)
        secret = os.urandom(32)
        shares = shamir.split(secret, t, n)
        groups.append(rng.sample(shares, rng.randint(t, n)))
        want.append(secret)
        if rng.random() < 0.5:
            groups.append(list(reversed(base[:4])))
            want.append(shamir.combine(base[:3]))
    assert shamir.combine_many(groups) == want == [shamir.combine(g) for g in groups]


def test_combine_many_over_more_index_sets_than_the_cache_holds():
    rng = random.Random(9)
    secrets = [os.urandom(32) for _ in range(150)]
    groups = [rng.sample(shamir.split(s, 4, 12), rng.randint(4, 7)) for s in secrets]
    for _ in range(2):
        assert shamir.combine_many(groups) == secrets


def test_threaded_calls_match_serial():
    secrets = [os.urandom(32) for _ in range(60)]
    groups = [shamir.split(s, 20, 30)[i % 7:][:25] for i, s in enumerate(secrets)]
    serial = shamir.combine_many(groups)
    coef = shamir._uniform_field_elements(19 * 8)
    split_serial = _core.shamir_split(secrets[0], 20, 500, coef)
    barrier = threading.Barrier(4)

    def work(_):
        barrier.wait()
        out = [shamir.combine_many(groups) for _ in range(3)]
        return out, _core.shamir_split(secrets[0], 20, 500, coef)

    with ThreadPoolExecutor(4) as pool:
        for outs, split_out in pool.map(work, range(4)):
            assert all(o == serial for o in outs)
            np.testing.assert_array_equal(split_out, split_serial)
    assert serial == secrets
