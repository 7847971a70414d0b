"""``secagg client`` that, handed its SHARE_KEYS task, stays silent until a gate file exists -
tests only: a device still computing a protocol stage (no heartbeat, as in the real client).

    python tests/net/slow_client.py GATE_FILE <secagg client options>
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from secagg.cli import build_parser
from secagg.net.cli import build_client, run_client
from secagg.protocol.stage import Stage


def main(argv: list[str]) -> int:
    gate, options = Path(argv[0]), argv[1:]
    args = build_parser().parse_args(["client", *options])
    client = build_client(args)
    handle = client._handle

    def slow_handle(task):
        if task.stage == int(Stage.SHARE_KEYS) and not gate.exists():
            gate.with_name(f"{gate.name}.computing.{os.getpid()}").touch()
            end = time.monotonic() + 120  # bounded: an abandoned test never hangs a process
            while not gate.exists() and time.monotonic() < end:
                time.sleep(0.05)
        return handle(task)

    client._handle = slow_handle
    return run_client(client, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
