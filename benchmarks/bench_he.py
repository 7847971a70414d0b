"""HE benchmark: he-bfv and he-ckks beside secagg+ on the same inputs, in the same run.

    python benchmarks/bench_he.py [--json FILE] [--points n:d ...] [--measure-clients K]

For each (n, d) every aggregator sums the same float updates in [-1, 1] (clipping_range 1,
quantization_range 2**16) and the result is checked against the exact float sum within the
aggregator's ``error_bound``. Reported per aggregator: client time per client (encryption for HE,
all protocol rounds for secagg+), bytes uploaded per client and the expansion over the plain
32-bit update (4*d bytes), server time (HE: checking and adding ciphertexts; secagg+: everything
the server does, including unmasking), key-holder decryption time (HE only).

``--measure-clients K`` encrypts only K distinct clients and reuses their uploads (and inputs) for
the other n-K, so server and decryption costs are measured for all n while the per-client
encryption cost is measured on K clients; such rows are marked ``extrapolated``.

Finally the adapter overhead: the per-ciphertext cost of ``Client.encrypt`` on a vector of full
ciphertexts against TenSEAL's bare ``bfv_vector(ctx, list).serialize()`` / ``ckks_vector`` for one
full ciphertext (the adapter adds quantization/clipping, chunking, framing and a checksum).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from secagg import create_aggregator
from secagg.errors import SecAggError

CLIP, Q = 1.0, 2**16
POINTS = [(10, 10**4), (100, 10**4), (10, 10**5), (100, 10**5)]
NAMES = ("he-bfv", "he-ckks", "secagg+")


def make_updates(n: int, d: int, distinct: int, seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)  # synthetic data only
    base = [rng.uniform(-CLIP, CLIP, d) for _ in range(min(n, distinct))]
    return {cid: base[cid % len(base)] for cid in range(n)}


def run_he(name: str, updates: dict[int, np.ndarray], distinct: int) -> dict:
    agg = create_aggregator(name, clipping_range=CLIP, quantization_range=Q, max_clients=1024)
    n, d = len(updates), len(next(iter(updates.values())))
    ids = sorted(updates)
    tag = agg.new_round_tag()
    measured = ids[:distinct]
    start = time.perf_counter()
    encrypted = {cid: agg.client.encrypt(updates[cid], round_tag=tag) for cid in measured}
    client_s = (time.perf_counter() - start) / len(measured)
    payloads = {cid: encrypted[measured[cid % len(measured)]] for cid in ids}
    result = agg.aggregate_payloads(payloads, dim=d, round_tag=tag)
    return finish(name, agg, updates, result, client_s, extrapolated=len(measured) < n,
                  decrypt_s=result.seconds["keyholder"], context_bytes=agg.public_context_bytes)


def run_secagg_plus(updates: dict[int, np.ndarray]) -> dict:
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q)
    result = agg.aggregate(updates)
    return finish("secagg+", agg, updates, result, result.seconds["client"] / len(updates),
                  extrapolated=False, decrypt_s=None, context_bytes=None)


def finish(name, agg, updates, result, client_s, *, extrapolated, decrypt_s, context_bytes) -> dict:
    n, d = len(updates), len(next(iter(updates.values())))
    expected = np.sum([updates[c] for c in result.included], axis=0)
    err = float(np.max(np.abs(result.total - expected)))
    up = float(np.mean([sum(result.bytes_sent[c].values()) for c in result.included]))
    return {"aggregator": name, "n": n, "d": d, "included": len(result.included),
            "client_s": client_s, "upload_bytes": up, "expansion": up / (4 * d),
            "server_s": result.seconds["server"], "decrypt_s": decrypt_s,
            "public_context_bytes": context_bytes, "max_error": err,
            "error_bound": float(agg.error_bound(len(result.included))),
            "correct": err <= agg.error_bound(len(result.included)) and len(result.included) == n,
            "extrapolated": extrapolated}


def adapter_overhead(name: str, chunks: int = 8, repeats: int = 5) -> dict:
    """Per-ciphertext cost of the adapter vs TenSEAL's bare encryption of one full ciphertext."""
    import tenseal as ts

    agg = create_aggregator(name, clipping_range=CLIP, quantization_range=Q)
    slots = agg.scheme.slots
    rng = np.random.default_rng(1)
    update = rng.uniform(-CLIP, CLIP, slots * chunks)
    ctx = agg.client._context
    if name == "he-bfv":
        values = rng.integers(0, Q, slots).tolist()
        bare = lambda: ts.bfv_vector(ctx, values).serialize()  # noqa: E731
    else:
        values = rng.uniform(-CLIP, CLIP, slots).tolist()
        bare = lambda: ts.ckks_vector(ctx, values).serialize()  # noqa: E731
    bare_times, ours = [], []
    for _ in range(repeats):  # interleaved, best of: robust to other load on the machine
        start = time.perf_counter()
        for _ in range(chunks):
            bare()
        bare_times.append((time.perf_counter() - start) / chunks)
        start = time.perf_counter()
        agg.client.encrypt(update, round_tag=0)
        ours.append((time.perf_counter() - start) / chunks)
    b, o = min(bare_times), min(ours)
    return {"aggregator": name, "bare_ms": b * 1e3, "adapter_ms": o * 1e3, "ratio": o / b}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the rows as JSON to this file")
    ap.add_argument("--points", nargs="*", default=None, help="n:d pairs, e.g. 100:100000")
    ap.add_argument("--measure-clients", type=int, default=None,
                    help="encrypt only this many distinct clients and reuse their uploads")
    args = ap.parse_args(argv)
    points = ([(int(n), int(float(d))) for n, d in (p.split(":") for p in args.points)]
              if args.points else POINTS)
    print(f"{'aggregator':10} {'n':>4} {'d':>7} {'client s':>9} {'upload KB':>10} {'expand':>7} "
          f"{'server s':>9} {'decrypt s':>9} {'max err':>9} {'bound':>9} ok")
    rows, missing = [], []
    for n, d in points:
        distinct = min(n, args.measure_clients or n)
        updates = make_updates(n, d, distinct)
        for name in NAMES:
            try:
                row = run_secagg_plus(updates) if name == "secagg+" else run_he(name, updates,
                                                                               distinct)
            except (ImportError, SecAggError) as exc:
                if name == "secagg+":
                    missing.append(f"secagg+ unavailable: {exc}")
                    continue
                raise
            rows.append(row)
            dec = "-" if row["decrypt_s"] is None else f"{row['decrypt_s']:.3f}"
            mark = " (client s extrapolated)" if row["extrapolated"] else ""
            print(f"{name:10} {n:>4} {d:>7} {row['client_s']:>9.4f} "
                  f"{row['upload_bytes'] / 1e3:>10.1f} {row['expansion']:>6.2f}x "
                  f"{row['server_s']:>9.3f} {dec:>9} {row['max_error']:>9.2e} "
                  f"{row['error_bound']:>9.2e} {'yes' if row['correct'] else 'NO'}{mark}",
                  flush=True)
    for line in missing:
        print(line)
    print("\nadapter overhead per full ciphertext (best of 5, interleaved):")
    overhead = []
    for name in ("he-bfv", "he-ckks"):
        o = adapter_overhead(name)
        overhead.append(o)
        print(f"  {name:8} bare TenSEAL {o['bare_ms']:.2f} ms, adapter {o['adapter_ms']:.2f} ms, "
              f"ratio {o['ratio']:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "adapter_overhead": overhead, "missing": missing}, fh,
                      indent=2)
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
