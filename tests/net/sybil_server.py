"""A malicious ``secagg server`` - tests only. It registers any identity whatever its certificate
(the Sybils whose keys its operator holds) and, to look honest, relays the authority's genuine
fresh CRL file to clients. Everything else is the stock server.

    python tests/net/sybil_server.py <secagg server options, with --authority-roots/--authority-crl>
"""

from __future__ import annotations

import sys

import secagg.net.server as server_module
from secagg.cli import main
from secagg.net.server_authority import ServerAuthority


class RelayAnything(ServerAuthority):
    """Relays the CRL file like the honest server, but lets every identity in."""

    def check(self, certificate: bytes, public_key: bytes, **_: object) -> None:
        return None

    def eligible(self, clients, keys, certificates):
        return list(clients)


if __name__ == "__main__":
    server_module.ServerAuthority = RelayAnything  # type: ignore[misc]
    sys.exit(main(["server", *sys.argv[1:]]))
