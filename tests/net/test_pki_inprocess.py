"""An in-process server with the enrolment authority: a renewed certificate reaches the server
when the client restarts, so the server keeps sampling it after the old one expires."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("grpc")

from secagg.net.authority import Authority, make_request  # noqa: E402
from secagg.net.client import NetClient  # noqa: E402

from .conftest import wait_for  # noqa: E402
from .helpers import settings, start_server  # noqa: E402
from .pki_helpers import der, enrol_state_dir  # noqa: E402


def test_a_renewed_certificate_reaches_the_server_on_restart(tmp_path, certs):
    authority = Authority.init(tmp_path / "A")
    state = tmp_path / "dev0"
    first = der(enrol_state_dir(authority, state, "dev0").read_bytes())
    crl = tmp_path / "crl.pem"
    crl.write_bytes(authority.crl())
    server = start_server(tmp_path, certs, settings(), rounds=None, authority_roots=authority.roots_path,
                          authority_crl=crl)
    try:
        client = NetClient(f"127.0.0.1:{server.port}", ca=certs.ca, state_dir=state, trainer=None,
                           authority_roots=authority.roots_path, model_shape=(20, 3))
        cid = client.register()
        client.close()
        assert server.coordinator.certificates[cid] == first
        # renewal: the authority certifies the same key again; the device installs the new file
        from secagg.net.auth import load_identity

        token = authority.new_token(subject="dev0")
        (state / "identity.crt").write_bytes(authority.issue(make_request(load_identity(state), "dev0", token)))
        renewed = der((state / "identity.crt").read_bytes())
        again = NetClient(f"127.0.0.1:{server.port}", ca=certs.ca, state_dir=state, trainer=None,
                          authority_roots=authority.roots_path, poll_wait=0.2, model_shape=(20, 3))
        runner = threading.Thread(target=again.run, kwargs={"max_seconds": 300}, daemon=True)
        runner.start()
        try:
            wait_for(lambda: server.coordinator.certificates.get(cid) == renewed, 120,
                     "the renewed certificate to reach the server")
            assert again.client_id == cid  # the same identity, not a new one
        finally:
            again.stop()
            runner.join(60)
            again.close()
    finally:
        server.stop()
