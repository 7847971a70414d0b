"""Shamir benchmark: split and batch reconstruction, against per-secret and pure-Python baselines.

    python benchmarks/bench_shamir.py [--secrets 1000] [--json FILE]

Every timed result is checked against the secrets that were shared. Times are the best of
``--repeat`` runs of process CPU time (everything runs on the calling thread, and CPU time is less
disturbed than wall time when the machine is shared); the wall time of the same run is also given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import time
from collections.abc import Callable
from typing import Any

from secagg import _core
from secagg.core import shamir

P = shamir.PRIME


def best_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Best CPU time in ms over ``repeat`` runs (and remember the wall time of that run)."""
    best, out = (float("inf"), 0.0), None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        best = min(best, (time.process_time() - c0, time.perf_counter() - w0))
    best_ms.wall = best[1] * 1e3  # type: ignore[attr-defined]
    return best[0] * 1e3, out


def python_combine(shares: list[shamir.Share]) -> bytes:
    """Textbook Lagrange interpolation at 0 in pure Python (baseline, no checks)."""
    t = shares[0].threshold
    pts = [(s.index, struct.unpack("<8Q", s.value)) for s in shares[:t]]
    out = [0] * 8
    for i, (xi, yi) in enumerate(pts):
        num = den = 1
        for j, (xj, _) in enumerate(pts):
            if j != i:
                num, den = num * xj % P, den * (xj - xi) % P
        lam = num * pow(den, P - 2, P) % P
        out = [(o + lam * y) % P for o, y in zip(out, yi)]
    return struct.pack("<8I", *out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--secrets", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []

    def row(case: str, ms: float, baseline: str = "", base_ms: float | None = None,
            wall: float = float("nan")) -> None:
        rows.append({"case": case, "ms": round(ms, 3), "wall_ms": round(wall, 3), "baseline": baseline,
                     "baseline_ms": None if base_ms is None else round(base_ms, 3),
                     "speedup": None if base_ms is None else round(base_ms / ms, 1)})

    secret = os.urandom(32)
    for t, n in [(10, 1000), (500, 1000), (100, 10_000)]:
        ms, shares = best_ms(lambda: shamir.split(secret, t, n), args.repeat)
        wall = best_ms.wall  # type: ignore[attr-defined]
        assert shamir.combine(random.sample(shares, t)) == secret
        coef = shamir._uniform_field_elements((t - 1) * 8)
        core_ms, _ = best_ms(lambda: _core.shamir_split(secret, t, n, coef), args.repeat)
        core_wall = best_ms.wall  # type: ignore[attr-defined]
        port_ms, _ = best_ms(lambda: _core.shamir_split(secret, t, n, coef, portable=True), args.repeat)
        row(f"split t={t} n={n} (Python API)", ms, wall=wall)
        row(f"split t={t} n={n} (native, auto)", core_ms, "native, portable", port_ms, core_wall)

    secrets = [os.urandom(32) for _ in range(args.secrets)]
    rng = random.Random(1)
    for t, n, m, same in [(500, 500, 500, True), (500, 1000, 1000, True), (10, 20, 15, False)]:
        groups = []
        for s in secrets:
            shares = shamir.split(s, t, n)
            groups.append(shares[:m] if same else rng.sample(shares, m))
        label = f"combine_many {len(secrets)} secrets t={t} m={m} ({'one' if same else 'random'} index set)"
        ms, out = best_ms(lambda: shamir.combine_many(groups), args.repeat)
        wall = best_ms.wall  # type: ignore[attr-defined]
        assert out == secrets
        k = 20
        per_ms, out = best_ms(lambda: [shamir.combine(g) for g in groups[:k]], 1)
        assert out == secrets[:k]
        row(label, ms, f"combine() per secret (x{len(groups) // k} from {k})", per_ms * len(groups) / k,
            wall)
        k = 3
        py_ms, out = best_ms(lambda: [python_combine(g) for g in groups[:k]], 1)
        assert out == secrets[:k]
        row(label, ms, f"pure Python Lagrange (x{len(groups) // k} from {k})", py_ms * len(groups) / k,
            wall)

    print(f"{'case':<66} {'cpu ms':>9} {'wall ms':>9}  {'baseline (cpu)':<38} {'base ms':>9} {'speedup':>7}")
    for r in rows:
        base = "" if r["baseline_ms"] is None else f"{r['baseline_ms']:9.1f} {r['speedup']:6.1f}x"
        print(f"{r['case']:<66} {r['ms']:9.2f} {r['wall_ms']:9.2f}  {r['baseline']:<38} {base}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "cpu_count": os.cpu_count()}, f, indent=2)


if __name__ == "__main__":
    main()
