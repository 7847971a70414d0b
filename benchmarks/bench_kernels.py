"""Benchmark of the fused quantize-and-mask kernel against a numpy reference and openssl.

    python benchmarks/bench_kernels.py [--json FILE] [--repeat N]

For d in {1e5, 1e6} and k in {0, 16, 64} peers (plus one self mask) it measures, in one run:

* the fused native kernel (secagg.quantize_and_mask) with 1 and 2 threads (wall clock, best of
  N), and with 1 thread also the calling thread's CPU time (robust when the machine is shared);
* mask throughput = (k + 1) * d * 4 bytes of keystream per second (modulus 2**32);
* the straightforward numpy + `cryptography` reference (secagg.reference), and the speed-up;
* the single-core `openssl speed -evp aes-256-ctr` figure for 16384-byte buffers, both with
  -elapsed (wall clock, the usual figure) and without (CPU time), and our ratio to it;
* every AES backend the CPU has (secagg.core.prg.available_backends(): the constant-time
  bitsliced "portable" and "bitsliced-avx2" software paths and the hardware ones), each running
  the fused kernel for d = 1e5, k = 16 on one thread, with its slowdown against the fastest
  backend and its share of openssl, all in the same run.

Every fused result is checked against the reference output before it is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time

import numpy as np

import secagg
from secagg.core import reference
from secagg.core.prg import available_backends, set_backend

CLIP, QRANGE, MODULUS = 3.0, 2**16, 2**32


def openssl_speed(elapsed: bool, seconds: int = 3) -> float | None:
    """AES-256-CTR bytes/s of `openssl speed` for 16384-byte buffers (None if unavailable)."""
    exe = shutil.which("openssl")
    if exe is None:
        return None
    cmd = [exe, "speed"] + (["-elapsed"] if elapsed else []) + [
        "-seconds", str(seconds), "-bytes", "16384", "-evp", "aes-256-ctr"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_openssl(out)


def parse_openssl(text: str) -> float | None:
    """The 16384-byte column of openssl's result table, in bytes/s (values are in 1000s of B/s)."""
    header, row = None, None
    for line in text.splitlines():
        if line.startswith("type"):
            header = re.findall(r"(\d+) bytes", line)
        elif line.upper().startswith("AES-256-CTR") and header:
            row = re.findall(r"([\d.]+)k", line)
    if not header or not row or "16384" not in header:
        return None
    return float(row[header.index("16384")]) * 1000.0


def best_of(fn, repeat: int, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def bench_case(d: int, k: int, repeat: int) -> dict:
    rng = np.random.default_rng(d + k)
    x = rng.normal(0, 1, d).astype(np.float32)
    kw = dict(clipping_range=CLIP, quantization_range=QRANGE, modulus_range=MODULUS,
              self_seed=os.urandom(32), peer_seeds=[os.urandom(32) for _ in range(k)],
              peer_signs=[1 if j % 2 else -1 for j in range(k)], rounding_seed=os.urandom(32))
    t0 = time.perf_counter()
    want = reference.quantize_and_mask(x, **kw)
    ref_first = time.perf_counter() - t0
    ref_repeat = max(1, min(repeat, int(2.0 / max(ref_first, 1e-3))))
    ref_time = min(ref_first, best_of(lambda: reference.quantize_and_mask(x, **kw), ref_repeat))
    for threads in (1, 2):
        got = secagg.quantize_and_mask(x, threads=threads, **kw)
        if not np.array_equal(got, want):
            raise SystemExit(f"fused kernel disagrees with the reference at d={d}, k={k}")
    t1 = best_of(lambda: secagg.quantize_and_mask(x, threads=1, **kw), repeat)
    t1_cpu = best_of(lambda: secagg.quantize_and_mask(x, threads=1, **kw), repeat, time.thread_time)
    t2 = best_of(lambda: secagg.quantize_and_mask(x, threads=2, **kw), repeat)
    mask_bytes = (k + 1) * d * 4
    return {
        "d": d, "k": k, "mask_bytes": mask_bytes,
        "fused_1t_s": t1, "fused_1t_cpu_s": t1_cpu, "fused_2t_s": t2,
        "gbps_1t": mask_bytes / t1 / 1e9, "gbps_1t_cpu": mask_bytes / t1_cpu / 1e9,
        "gbps_2t": mask_bytes / t2 / 1e9, "threads_speedup": t1 / t2,
        "reference_s": ref_time, "speedup_vs_reference": ref_time / t1,
    }


def bench_backends(repeat: int, d: int = 10**5, k: int = 16) -> list[dict]:
    """The fused kernel (1 thread) on every available AES backend; outputs checked identical."""
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, d).astype(np.float32)
    kw = dict(clipping_range=CLIP, quantization_range=QRANGE, modulus_range=MODULUS,
              self_seed=os.urandom(32), peer_seeds=[os.urandom(32) for _ in range(k)],
              peer_signs=[1 if j % 2 else -1 for j in range(k)], rounding_seed=os.urandom(32))
    want = reference.quantize_and_mask(x, **kw)
    kw["threads"] = 1
    rows = []
    try:
        for b in available_backends():
            set_backend(b)
            if not np.array_equal(secagg.quantize_and_mask(x, **kw), want):
                raise SystemExit(f"backend {b} disagrees with the reference")
            n = repeat if b not in ("portable", "bitsliced-avx2") else max(1, min(repeat, 3))
            wall = best_of(lambda: secagg.quantize_and_mask(x, **kw), n)
            cpu = best_of(lambda: secagg.quantize_and_mask(x, **kw), n, time.thread_time)
            rows.append({"backend": b, "d": d, "k": k, "wall_s": wall, "cpu_s": cpu,
                         "gbps_cpu": (k + 1) * d * 4 / cpu / 1e9})
    finally:
        set_backend("auto")
    fastest = min(r["cpu_s"] for r in rows)
    for r in rows:
        r["slowdown_vs_fastest"] = r["cpu_s"] / fastest
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--repeat", type=int, default=9, help="timed runs per case (best is kept)")
    args = ap.parse_args(argv)

    ossl_wall = openssl_speed(elapsed=True)
    ossl_cpu = openssl_speed(elapsed=False)
    rows = [bench_case(d, k, args.repeat) for d in (10**5, 10**6) for k in (0, 16, 64)]
    for r in rows:
        r["vs_openssl_wall"] = r["gbps_1t"] * 1e9 / ossl_wall if ossl_wall else None
        r["vs_openssl_cpu"] = r["gbps_1t_cpu"] * 1e9 / ossl_cpu if ossl_cpu else None

    def f(v, fmt):
        return "n/a" if v is None else format(v, fmt)

    print(f"secagg {secagg.__version__}  backend={secagg.prg_backend()}  cpu={platform.processor() or platform.machine()}"
          f"  cores={os.cpu_count()}  load={os.getloadavg()[0]:.1f}")
    print(f"openssl aes-256-ctr, 16384-byte buffers, 1 core: {f(ossl_wall and ossl_wall / 1e9, '.2f')} GB/s "
          f"(-elapsed), {f(ossl_cpu and ossl_cpu / 1e9, '.2f')} GB/s (CPU time)")
    head = (f"{'d':>8} {'k':>3} | {'1T ms':>8} {'1T GB/s':>8} {'cpu GB/s':>8} | {'2T ms':>8} "
            f"{'2T GB/s':>8} {'2T/1T':>6} | {'ref ms':>9} {'speedup':>8} | {'%ossl':>6} {'%ossl cpu':>9}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['d']:>8} {r['k']:>3} | {r['fused_1t_s'] * 1e3:>8.2f} {r['gbps_1t']:>8.2f} "
              f"{r['gbps_1t_cpu']:>8.2f} | {r['fused_2t_s'] * 1e3:>8.2f} {r['gbps_2t']:>8.2f} "
              f"{r['threads_speedup']:>6.2f} | {r['reference_s'] * 1e3:>9.1f} "
              f"{r['speedup_vs_reference']:>7.1f}x | {f(r['vs_openssl_wall'] and 100 * r['vs_openssl_wall'], '>5.0f')}% "
              f"{f(r['vs_openssl_cpu'] and 100 * r['vs_openssl_cpu'], '>8.0f')}%")
    print("mask GB/s = (k+1)*d*4 bytes / time; 'cpu' = the calling thread's CPU time (excludes time "
          "the OS gave to other processes); ref = numpy + cryptography reference; all outputs verified.")
    backends = bench_backends(args.repeat)
    for r in backends:
        r["vs_openssl_cpu"] = r["gbps_cpu"] * 1e9 / ossl_cpu if ossl_cpu else None
    print(f"\nAES backends, fused kernel d={backends[0]['d']}, k={backends[0]['k']}, 1 thread "
          f"(load={os.getloadavg()[0]:.1f}):")
    head = f"{'backend':>15} | {'ms':>8} {'cpu ms':>8} {'cpu GB/s':>8} | {'x fastest':>9} {'%ossl cpu':>9}"
    print(head)
    print("-" * len(head))
    for r in backends:
        print(f"{r['backend']:>15} | {r['wall_s'] * 1e3:>8.2f} {r['cpu_s'] * 1e3:>8.2f} "
              f"{r['gbps_cpu']:>8.3f} | {r['slowdown_vs_fastest']:>8.1f}x "
              f"{f(r['vs_openssl_cpu'] and 100 * r['vs_openssl_cpu'], '>8.1f')}%")
    print("portable and bitsliced-avx2 are the constant-time bitsliced software AES (128-bit baseline "
          "vectors / AVX2); 'x fastest' = CPU time / the fastest backend's; outputs verified.")
    if args.json:
        meta = {"version": secagg.__version__, "backend": secagg.prg_backend(),
                "python": sys.version.split()[0], "machine": platform.machine(),
                "cores": os.cpu_count(), "loadavg": os.getloadavg(),
                "openssl_bytes_per_s_elapsed": ossl_wall, "openssl_bytes_per_s_cpu": ossl_cpu,
                "clipping_range": CLIP, "quantization_range": QRANGE, "modulus_range": MODULUS}
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "rows": rows, "backends": backends}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
