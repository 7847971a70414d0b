"""The enrolment authority and certificate checks (no network): what it issues, what it refuses,
and every certificate a client must refuse: another key, expired, revoked, another root, a stale
or rolled-back CRL, a duplicate subject."""

from __future__ import annotations

import datetime
import json
import stat

import pytest

from secagg.errors import CertificateError, ConfigError, EnrolmentError
from secagg.net.auth import ClientIdentity
from secagg.net.authority import Authority, make_request
from secagg.net.pki import TrustAnchors, utcnow

from .pki_helpers import backdated_crl, der, enrol

DAY = datetime.timedelta(days=1)
AGE = 3 * DAY


@pytest.fixture
def authority(tmp_path):
    return Authority.init(tmp_path / "authority")


def check(anchors: TrustAnchors, peers, crl: bytes, **kw):
    return anchors.verify_peers(peers, crl, max_age=AGE, **kw)


def test_init_keeps_the_root_key_private_and_refuses_to_overwrite(tmp_path, authority):
    keys = list((authority.dir / "keys").iterdir())
    assert [k.name for k in keys] == ["root-1.key"]
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((authority.dir / "state.json").stat().st_mode) == 0o600
    assert len(authority.anchors().roots) == 1
    with pytest.raises(EnrolmentError, match="already holds an authority"):
        Authority.init(authority.dir)
    with pytest.raises(EnrolmentError, match="holds no authority"):
        Authority.open(tmp_path / "nowhere")


def test_enrolment_needs_a_token_or_operator_approval(authority):
    ident = ClientIdentity()
    request = make_request(ident, "dev0")
    with pytest.raises(EnrolmentError, match="no enrolment token.*--approve"):
        authority.issue(request)
    assert authority.listing() == []
    authority.issue(request, approve=True)
    assert [r["by"] for r in authority.listing()] == ["operator approval"]


def test_tokens_are_one_time_bound_to_their_subject_and_expire(authority):
    token = authority.new_token(subject="dev0")
    assert token not in json.dumps(authority.state)  # only its hash is kept
    with pytest.raises(EnrolmentError, match="is for subject 'dev0'"):
        authority.issue(make_request(ClientIdentity(), "dev1", token))
    authority.issue(make_request(ClientIdentity(), "dev0", token))
    with pytest.raises(EnrolmentError, match="already used"):
        authority.issue(make_request(ClientIdentity(), "dev0", token))
    with pytest.raises(EnrolmentError, match="not issued by this authority"):
        authority.issue(make_request(ClientIdentity(), "dev0", "made-up"))
    short = authority.new_token(hours=1)
    for entry in authority.state["tokens"].values():  # an hour later
        entry["expires"] = (utcnow() - datetime.timedelta(seconds=1)).isoformat()
    with pytest.raises(EnrolmentError, match="expired"):
        authority.issue(make_request(ClientIdentity(), "dev2", short))


def test_a_request_must_prove_possession_of_its_key(authority):
    obj = json.loads(make_request(ClientIdentity(), "dev0", authority.new_token()))
    obj["public_key"] = ClientIdentity().public.hex()  # someone else's key
    with pytest.raises(EnrolmentError, match="signature does not verify"):
        authority.issue(json.dumps(obj).encode())
    with pytest.raises(EnrolmentError, match="not an enrolment request"):
        authority.issue(b"{}")


def test_lifetime_is_a_parameter(authority):
    _, cert = enrol(authority, "dev0", days=3)
    from cryptography import x509

    c = x509.load_der_x509_certificate(cert)
    assert abs((c.not_valid_after_utc - utcnow()) - 3 * DAY) < datetime.timedelta(minutes=1)
    with pytest.raises(EnrolmentError, match="certificate lifetime"):
        authority.issue(make_request(ClientIdentity(), "x"), approve=True, days=0)


def test_valid_peers_pass_and_say_who_they_are(authority):
    a, ca = enrol(authority, "dev-a")
    b, cb = enrol(authority, "dev-b")
    ids, rev = check(authority.anchors(), [(1, a.public, ca), (2, b.public, cb)], authority.crl())
    assert {i: p.subject for i, p in ids.items()} == {1: "dev-a", 2: "dev-b"}
    (number,) = rev.numbers.values()
    _, again = check(authority.anchors(), [(1, a.public, ca)], authority.crl())
    assert list(again.numbers.values())[0] > number  # every CRL numbered above the last


def test_a_certificate_for_another_key_is_refused(authority):
    a, ca = enrol(authority, "dev-a")
    sybil = ClientIdentity()
    with pytest.raises(CertificateError, match="peer 7: the certificate is for another key"):
        check(authority.anchors(), [(1, a.public, ca), (7, sybil.public, ca)], authority.crl())


def test_a_missing_certificate_is_refused(authority):
    a, ca = enrol(authority, "dev-a")
    with pytest.raises(CertificateError, match="peer 7: no certificate"):
        check(authority.anchors(), [(1, a.public, ca), (7, ClientIdentity().public, b"")], authority.crl())


def test_an_expired_certificate_is_refused(authority):
    a, ca = enrol(authority, "dev-a", days=1)
    crl = authority.crl(days=10)
    later = utcnow() + 2 * DAY
    with pytest.raises(CertificateError, match="outside its validity window"):
        check(authority.anchors(), [(1, a.public, ca)], crl, now=later)


def test_a_revoked_certificate_is_refused(authority):
    a, ca = enrol(authority, "dev-a")
    b, cb = enrol(authority, "dev-b")
    check(authority.anchors(), [(1, a.public, ca), (2, b.public, cb)], authority.crl())
    serial = next(r["serial"] for r in authority.listing() if r["subject"] == "dev-b")
    authority.revoke(serial, reason="stolen")
    with pytest.raises(CertificateError, match=r"peer 2: certificate .* \(dev-b\) is revoked"):
        check(authority.anchors(), [(1, a.public, ca), (2, b.public, cb)], authority.crl())
    with pytest.raises(EnrolmentError, match="already revoked"):
        authority.revoke(serial)
    with pytest.raises(EnrolmentError, match="no certificate with serial"):
        authority.revoke("abc")


def test_a_certificate_from_another_root_is_refused(tmp_path, authority):
    rogue = Authority.init(tmp_path / "rogue")
    a, ca = enrol(authority, "dev-a")
    s, cs = enrol(rogue, "dev-a2")
    with pytest.raises(CertificateError, match="peer 9: the certificate was not issued by any pinned"):
        check(authority.anchors(), [(1, a.public, ca), (9, s.public, cs)], authority.crl())
    # nor does the rogue's CRL count, even next to a good one
    with pytest.raises(CertificateError, match="not signed by a pinned authority root"):
        check(authority.anchors(), [(1, a.public, ca)], authority.crl() + rogue.crl())


def test_revocation_lists_must_be_present_fresh_and_not_rolled_back(authority):
    a, ca = enrol(authority, "dev-a")
    anchors = authority.anchors()
    with pytest.raises(CertificateError, match="no revocation list"):
        check(anchors, [(1, a.public, ca)], b"")
    old = authority.crl(days=10)
    with pytest.raises(CertificateError, match="stale"):  # older than the client's max age
        check(anchors, [(1, a.public, ca)], old, now=utcnow() + 4 * DAY)
    short = authority.crl(days=1)
    with pytest.raises(CertificateError, match="stale"):  # past its next_update
        check(anchors, [(1, a.public, ca)], short, now=utcnow() + 2 * DAY)
    _, rev = check(anchors, [(1, a.public, ca)], authority.crl())
    with pytest.raises(CertificateError, match="rolled-back CRL"):
        check(anchors, [(1, a.public, ca)], old, seen=rev.numbers)


def test_a_subject_or_key_twice_in_one_session_is_refused(authority):
    a, ca = enrol(authority, "dev-a")
    with pytest.raises(CertificateError, match="appears twice"):
        check(authority.anchors(), [(1, a.public, ca), (2, a.public, ca)], authority.crl())


def test_rotation_keeps_older_certificates_valid_until_they_expire(authority):
    a, ca = enrol(authority, "dev-a")
    authority.rotate()
    b, cb = enrol(authority, "dev-b")
    anchors = authority.anchors()
    assert len(anchors.roots) == 2
    ids, rev = check(anchors, [(1, a.public, ca), (2, b.public, cb)], authority.crl())
    assert ids[1].root != ids[2].root and len(rev.numbers) == 2
    # a client still pinning only the first root refuses certificates of the new one
    first = TrustAnchors(anchors.roots[:1])
    with pytest.raises(CertificateError, match="not signed by a pinned authority root"):
        check(first, [(1, a.public, ca)], authority.crl())
    # the old root's key is kept: it still revokes what it issued
    authority.revoke(next(r["serial"] for r in authority.listing() if r["subject"] == "dev-a"))
    with pytest.raises(CertificateError, match="is revoked"):
        check(anchors, [(1, a.public, ca)], authority.crl())


def test_a_bad_root_bundle_is_a_config_error(tmp_path, authority):
    with pytest.raises(ConfigError, match="not PEM X.509"):
        TrustAnchors.from_pem(b"nothing")
    _, cert = enrol(authority, "dev-a")
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    leaf = x509.load_der_x509_certificate(cert).public_bytes(Encoding.PEM)
    with pytest.raises(ConfigError, match="not a self-signed CA"):
        TrustAnchors.from_pem(leaf)
    assert der(authority.roots_path.read_bytes())  # the bundle is PEM certificates


def test_the_server_view_refuses_uncertified_and_skips_revoked_clients(tmp_path, authority):
    from secagg.net.server_authority import ServerAuthority

    a, ca = enrol(authority, "dev-a")
    b, cb = enrol(authority, "dev-b")
    crl = tmp_path / "crl.pem"
    crl.write_bytes(authority.crl())
    server = ServerAuthority(authority.roots_path, crl)
    server.check(ca, a.public)
    with pytest.raises(CertificateError, match="no certificate"):
        server.check(b"", ClientIdentity().public)
    with pytest.raises(CertificateError, match="another key"):
        server.check(ca, b.public)
    keys, certs = {1: a.public, 2: b.public, 3: ClientIdentity().public}, {1: ca, 2: cb}
    assert server.eligible([1, 2, 3], keys, certs) == [1, 2] and server.stale() is None
    authority.revoke(next(r["serial"] for r in authority.listing() if r["subject"] == "dev-b"))
    crl.write_bytes(authority.crl())  # the operator replaces the file; no restart
    assert server.eligible([1, 2, 3], keys, certs) == [1]
    assert server.revocation_lists() == crl.read_bytes()
    with pytest.raises(CertificateError, match="is revoked"):
        server.check(cb, b.public)
    crl.write_bytes(backdated_crl(authority, utcnow() - 10 * DAY, utcnow() - 8 * DAY))
    assert "stale" in server.stale()
