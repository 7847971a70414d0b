"""``secagg client`` whose plaintext updates are saved for the exact-sum checks - tests only: the
product has no such option (a device's update never leaves it unmasked).

    python tests/net/dumping_client.py DUMP_DIR <secagg client options>
"""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import dump_updates

from secagg.cli import build_parser
from secagg.net.cli import build_client, run_client


def main(argv: list[str]) -> int:
    dump, options = Path(argv[0]), argv[1:]
    args = build_parser().parse_args(["client", *options])
    return run_client(build_client(args, on_update=dump_updates(dump)), args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
