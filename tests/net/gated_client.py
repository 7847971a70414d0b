"""``secagg client`` whose local training waits until a gate file exists - tests only: it keeps
the first stage of a round open (this client owes its keys) for as long as a test needs.

    python tests/net/gated_client.py GATE_FILE <secagg client options>
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from secagg.cli import build_parser
from secagg.net.cli import build_client, run_client


class GatedTrainer:
    def __init__(self, inner, gate: Path, limit: float = 120.0) -> None:
        self.inner, self.gate, self.limit = inner, gate, limit
        self.n_items, self.factors = inner.n_items, inner.factors

    def train(self, model, config):
        end = time.monotonic() + self.limit  # bounded: an abandoned test never hangs a process
        while not self.gate.exists() and time.monotonic() < end:
            time.sleep(0.05)
        return self.inner.train(model, config)


def main(argv: list[str]) -> int:
    gate, options = Path(argv[0]), argv[1:]
    args = build_parser().parse_args(["client", *options])
    client = build_client(args)
    client.trainer = GatedTrainer(client.trainer, gate)
    return run_client(client, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
