"""Flower's own SecAgg+ pair against secagg.flower: same app, same engine, same n, d, k, t, one run.

The app: FedAvg over n clients, each returning one float32 array of d parameters (fixed per client)
and its num_examples. The engine: :class:`secagg.flower.LocalGrid` (every ClientApp in this
process, messages copied both ways), so the protocol's own costs are measured, not Ray's. Each
pair runs ``--rounds`` rounds; the first is a warm-up, the rest are timed. Per warm round: wall
seconds of the fit workflow, client CPU seconds (all clients, summed) and upload bytes per client
(the records of every reply). A third row runs secagg.flower with ``modulus_range=None`` (the
smallest modulus the sum cannot overflow, this library's extra). Every result are checked against the exact weighted mean (within
their quantization bounds). Ratios are Flower / secagg.flower.

    python benchmarks/bench_flower.py --n 100 --d 100000 [--rounds 3] [--json FILE]
    python benchmarks/bench_flower.py --quick        # n = 20, d = 10^4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from flwr.app import Context, RecordDict
from flwr.client import NumPyClient
from flwr.client.mod import secaggplus_mod as flower_mod
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import ServerConfig
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow
from flwr.server.workflow import SecAggPlusWorkflow as FlowerWorkflow

import secagg
from secagg.flower import LocalGrid, SecAggPlusWorkflow, secaggplus_mod


def make_app(mod, d: int) -> ClientApp:
    class Client(NumPyClient):
        def __init__(self, partition: int) -> None:
            self.update = np.random.default_rng(partition).uniform(-1, 1, d).astype(np.float32)
            self.weight = 10 + partition % 50

        def fit(self, parameters, config):
            return [self.update], self.weight, {}

    return ClientApp(client_fn=lambda ctx: Client(int(ctx.node_config["partition-id"])).to_client(), mods=[mod])


def exact_mean(n: int, d: int) -> np.ndarray:
    total, weights = np.zeros(d), 0
    for p in range(n):
        w = 10 + p % 50
        total += w * np.random.default_rng(p).uniform(-1, 1, d).astype(np.float32)
        weights += w
    return total / weights


class Timed:
    """A fit workflow wrapper recording each round's wall time."""

    def __init__(self, workflow) -> None:
        self.workflow, self.seconds = workflow, []

    def __call__(self, grid, context) -> None:
        t0 = time.perf_counter()
        self.workflow(grid, context)
        self.seconds.append(time.perf_counter() - t0)


class Final(FedAvg):
    def aggregate_fit(self, server_round, results, failures):
        parameters, metrics = super().aggregate_fit(server_round, results, failures)
        self.last = None if parameters is None else parameters_to_ndarrays(parameters)[0]
        return parameters, metrics


def run_pair(name: str, workflow, mod, n: int, d: int, rounds: int, clipping_range: float,
             quantization_range: int) -> dict:
    grid = LocalGrid(make_app(mod, d), n)
    strategy = Final(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
                     initial_parameters=ndarrays_to_parameters([np.zeros(d, np.float32)]))
    timed = Timed(workflow)
    cpu_after_warmup, bytes_after_warmup = 0.0, 0

    class Mark:  # snapshot client CPU and bytes after the warm-up round
        def __call__(self, grid_, context):
            nonlocal cpu_after_warmup, bytes_after_warmup
            timed(grid_, context)
            if len(timed.seconds) == 1:
                cpu_after_warmup = sum(grid.client_cpu.values())
                bytes_after_warmup = sum(sum(v.values()) for v in grid.reply_bytes.values())

    context = LegacyContext(Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}),
                            config=ServerConfig(num_rounds=rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=Mark())(grid, context)
    warm = rounds - 1
    error = float(np.abs(strategy.last - exact_mean(n, d)).max())
    step = 2 * clipping_range / (quantization_range - 1)
    weights = sum(10 + p % 50 for p in range(n)) / 1000.0
    bound = 2 * (n * step * (1 + 1 / (2 * clipping_range))) / weights + 1e-6
    return {"pair": name, "n": n, "d": d, "warm_rounds": warm,
            "round_s": float(np.mean(timed.seconds[1:])), "round_s_all": timed.seconds,
            "client_cpu_s": (sum(grid.client_cpu.values()) - cpu_after_warmup) / warm,
            "upload_bytes_per_client": (sum(sum(v.values()) for v in grid.reply_bytes.values())
                                        - bytes_after_warmup) / warm / n,
            "max_error": error, "bound": bound, "correct": error <= bound}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--d", type=int, default=100_000)
    ap.add_argument("--num-shares", type=int, default=None, help="default: the finder's k + 1 for n")
    ap.add_argument("--threshold", type=int, default=None, help="default: the finder's t for n")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per pair, the first a warm-up (default 3)")
    ap.add_argument("--quick", action="store_true", help="n = 20, d = 10^4")
    ap.add_argument("--json", help="write the rows as JSON to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.d = 20, 10_000
    if args.rounds < 2:
        ap.error("--rounds must be >= 2 (one warm-up)")
    n, d = args.n, args.d
    chosen = secagg.protocol.find_parameters(n)
    shares = args.num_shares or min(chosen.degree + 1, n)
    threshold = args.threshold or chosen.threshold
    c, q, r = 8.0, 2**22, 2**32  # Flower's defaults, for both
    print(f"n={n} d={d} num_shares={shares} threshold={threshold} clipping={c} Q=2**22 R=2**32 "
          f"(load {os.getloadavg()[0]:.2f})", flush=True)
    rows = [
        run_pair("flower", FlowerWorkflow(num_shares=shares, reconstruction_threshold=threshold,
                                          clipping_range=c, quantization_range=q, modulus_range=r),
                 flower_mod, n, d, args.rounds, c, q),
        run_pair("secagg.flower", SecAggPlusWorkflow(num_shares=shares, reconstruction_threshold=threshold,
                                                     clipping_range=c, quantization_range=q, modulus_range=r),
                 secaggplus_mod, n, d, args.rounds, c, q),
        # this library's extra: the smallest modulus the sum cannot overflow (29 bits at n = 100)
        run_pair("secagg.flower R=auto", SecAggPlusWorkflow(num_shares=shares, reconstruction_threshold=threshold,
                                                            clipping_range=c, quantization_range=q,
                                                            modulus_range=None),
                 secaggplus_mod, n, d, args.rounds, c, q),
    ]
    print(f"{'pair':20} {'round s':>9} {'client cpu s':>13} {'upload KB/client':>17} {'max err':>9} ok")
    for row in rows:
        print(f"{row['pair']:20} {row['round_s']:>9.3f} {row['client_cpu_s']:>13.3f} "
              f"{row['upload_bytes_per_client'] / 1e3:>17.1f} {row['max_error']:>9.2e} "
              f"{'yes' if row['correct'] else 'NO'}")
    base = rows[0]
    ratios = {}
    for ours in rows[1:]:
        ratios[ours["pair"]] = r = {"speedup_round": base["round_s"] / ours["round_s"],
                                    "speedup_client_cpu": base["client_cpu_s"] / ours["client_cpu_s"],
                                    "upload_ratio": ours["upload_bytes_per_client"] / base["upload_bytes_per_client"]}
        print(f"{ours['pair']} vs Flower: {r['speedup_round']:.2f}x faster per round, {r['speedup_client_cpu']:.2f}x "
              f"less client CPU, {r['upload_ratio']:.3f}x the upload bytes (load {os.getloadavg()[0]:.2f})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"n": n, "d": d, "num_shares": shares, "threshold": threshold, "backend": secagg.prg_backend(),
                       "load": os.getloadavg(), "rows": rows, "ratios": ratios}, fh, indent=2)
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
