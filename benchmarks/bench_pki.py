"""What the enrolment authority costs a client per round: checking every peer's certificate and the
CRL (``TrustAnchors.verify_peers``) against the baseline of one Ed25519 signature verification per
peer, which the protocol already does for the peers' signed key advertisements.

    python benchmarks/bench_pki.py [--peers 100 400 1000] [--repeat 5] [--json FILE]

Times are the best of ``--repeat`` runs of process CPU time (single thread). Every run is checked:
all peers verify, and a doctored peer list (one Sybil key) is refused. Also printed: the bytes a
peer entry takes in the round's first task with its certificate, against the bare 32-byte key.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from secagg.core.crypto import verify
from secagg.errors import CertificateError
from secagg.net.auth import ClientIdentity
from secagg.net.authority import Authority, make_request
from secagg.net.pki import TrustAnchors


def best_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        c0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - c0)
    return best * 1e3, out


def _der(pem: bytes) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def run(n: int, repeat: int, tmp: Path) -> dict[str, Any]:
    authority = Authority.init(tmp / f"authority{n}")
    peers = []
    message = os.urandom(64)
    signatures = []
    for i in range(n):
        ident = ClientIdentity()
        pem = authority.issue(make_request(ident, f"dev{i}"), approve=True)
        peers.append((i + 1, ident.public, _der(pem)))
        signatures.append((ident.public, ident.sign(message)))
    crl = authority.crl()
    anchors = TrustAnchors.from_file(authority.roots_path)
    age = datetime.timedelta(days=3)

    def baseline() -> int:
        for key, sig in signatures:
            verify(key, sig, message)
        return len(signatures)

    base_ms, count = best_ms(baseline, repeat)
    pki_ms, (ids, _) = best_ms(lambda: anchors.verify_peers(peers, crl, max_age=age), repeat)
    assert count == n and len(ids) == n
    sybil = [*peers[:-1], (n, ClientIdentity().public, peers[-1][2])]
    try:
        anchors.verify_peers(sybil, crl, max_age=age)
        raise AssertionError("a Sybil key with another peer's certificate was accepted")
    except CertificateError:
        pass
    cert_bytes = sum(len(p[2]) for p in peers) / n
    authority.close()
    return {"peers": n, "baseline_ms": base_ms, "verify_peers_ms": pki_ms, "ratio": pki_ms / base_ms,
            "per_peer_us": pki_ms * 1e3 / n, "cert_bytes": cert_bytes, "crl_bytes": len(crl),
            "peer_entry_bytes_ratio": (32 + cert_bytes) / 32}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peers", type=int, nargs="+", default=[100, 400, 1000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.peers:
            rows.append(run(n, args.repeat, Path(tmp)))
    print(f"load average {' '.join(load)}")
    print(f"{'peers':>6} {'Ed25519 x n':>12} {'verify_peers':>13} {'ratio':>6} {'us/peer':>8} "
          f"{'cert B':>7} {'entry vs key':>13}")
    for r in rows:
        print(f"{r['peers']:>6} {r['baseline_ms']:>10.1f}ms {r['verify_peers_ms']:>11.1f}ms {r['ratio']:>6.2f} "
              f"{r['per_peer_us']:>8.1f} {r['cert_bytes']:>7.0f} {r['peer_entry_bytes_ratio']:>12.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"load": load, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
