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

Finally the adapter overhead: the per-ciphertext cost of ``Client.encrypt`` (quantization or
clipping, chunking, encryption, serialization, framing, checksum) on a vector of full
ciphertexts, against TenSEAL's bare cost of encrypting and serializing one full ciphertext from a
ready list, through its public API and through its C++ vector class directly.
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


def adapter_overhead(name: str, chunks: int = 25, repeats: int = 15) -> dict:
    """Per-ciphertext cost of the adapter vs TenSEAL's bare encryption of one full ciphertext.

    Three baselines, each encrypting one ciphertext's values and serializing: TenSEAL's public API
    (``ts.bfv_vector`` / ``ts.ckks_vector``) given the numpy chunk, the same given a ready-made
    Python list, and its C++ vector constructor given a ready list (the strictest: no TenSEAL
    Python layer, and the numpy-to-list conversion every path needs is not counted).
    Each repetition times all four back to back on the same values; the ratios reported are the
    medians of the per-repetition ratios (paired, so load changes between repetitions cancel).
    """
    import tenseal as ts

    agg = create_aggregator(name, clipping_range=CLIP, quantization_range=Q)
    scheme = agg.scheme
    slots = scheme.slots
    rng = np.random.default_rng(1)
    update = rng.uniform(-CLIP, CLIP, slots * chunks)
    arrays = [np.ascontiguousarray(c) for c in
              np.split(scheme.check_encoded(scheme.encode(update)), chunks)]
    lists = [a.tolist() for a in arrays]
    ctx = agg.client._context
    if name == "he-bfv":
        api, core_class = ts.bfv_vector, ts._ts_cpp.BFVVector
    else:
        api, core_class = ts.ckks_vector, ts._ts_cpp.CKKSVector

    # CPU time of this process, not wall time: on a shared machine the wall clock mostly
    # measures how long we waited for a core.
    def per_ct(fn) -> float:
        start = time.process_time()
        fn()
        return (time.process_time() - start) / chunks

    runs = {
        "numpy": lambda: [api(ctx, a).serialize() for a in arrays],
        "public": lambda: [api(ctx, v).serialize() for v in lists],
        "core": lambda: [core_class(ctx.data, v).serialize() for v in lists],
        "adapter": lambda: agg.client.encrypt(update, round_tag=0),
    }
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for key, fn in runs.items():
            times[key].append(per_ct(fn))
    t = {k: np.array(v) for k, v in times.items()}
    ratio = {k: float(np.median(t["adapter"] / t[k])) for k in ("numpy", "public", "core")}
    extra = adapter_only_work(agg, update, chunks, repeats)
    best_core = float(t["core"].min())
    return {"aggregator": name, "public_api_numpy_ms": float(t["numpy"].min()) * 1e3,
            "public_api_ms": float(t["public"].min()) * 1e3, "core_ms": best_core * 1e3,
            "adapter_ms": float(t["adapter"].min()) * 1e3,
            "ratio_vs_core": ratio["core"], "ratio_vs_public_api": ratio["public"],
            "ratio_vs_public_api_numpy": ratio["numpy"],
            "ratio_vs_core_iqr": [float(np.percentile(t["adapter"] / t["core"], q))
                                  for q in (25, 75)],
            "adapter_only_ms": extra * 1e3, "ratio_core_plus_adapter_only": 1 + extra / best_core}


def adapter_only_work(agg, update: np.ndarray, chunks: int, repeats: int) -> float:
    """CPU seconds per ciphertext of everything the adapter does besides TenSEAL's encryption.

    Measured piece by piece (encoding, numpy-to-Python numbers, framing + checksum), so it is not drowned
    in the run-to-run noise of the encryption itself on a busy machine.
    """
    from secagg.he.packing import split
    from secagg.he.wire import Upload

    scheme = agg.scheme
    encoded = scheme.check_encoded(scheme.encode(update))
    cts = [scheme.encrypt_chunk(agg.client._context, c) for c in split(encoded, scheme.slots)]

    def best(fn) -> float:
        out = []
        for _ in range(repeats):
            start = time.process_time()
            for _ in range(5):
                fn()
            out.append((time.process_time() - start) / 5)
        return min(out)

    encode = best(lambda: scheme.check_encoded(scheme.encode(update)))
    # upper bound on handing values to TenSEAL: the C++ constructor reads a memoryview element
    # by element, creating one Python number each (here: those numbers plus a list)
    to_list = best(lambda: [list(memoryview(c)) for c in split(encoded, scheme.slots)])
    frame = best(lambda: Upload(scheme.name, agg.client.key_id, 0, len(encoded),
                                tuple(cts)).to_bytes())
    return (encode + to_list + frame) / chunks


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
    print("\nadapter overhead per full ciphertext (CPU ms, best of 15; ratios: median of 15 "
          "paired runs):")
    overhead = []
    for name in ("he-bfv", "he-ckks"):
        o = adapter_overhead(name)
        overhead.append(o)
        print(f"  {name:8} adapter {o['adapter_ms']:.2f} ms | TenSEAL API(numpy) "
              f"{o['public_api_numpy_ms']:.2f} ms -> ratio {o['ratio_vs_public_api_numpy']:.3f} | "
              f"API(list) {o['public_api_ms']:.2f} ms -> {o['ratio_vs_public_api']:.3f} | "
              f"C++ core(list) {o['core_ms']:.2f} ms -> {o['ratio_vs_core']:.3f} "
              f"(IQR {o['ratio_vs_core_iqr'][0]:.3f}-{o['ratio_vs_core_iqr'][1]:.3f})\n"
              f"  {'':8} upper bound of adapter-only work {o['adapter_only_ms']:.3f} ms/ciphertext -> "
              f"(core + adapter-only) / core = {o['ratio_core_plus_adapter_only']:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "adapter_overhead": overhead, "missing": missing}, fh,
                      indent=2)
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
