"""PNG plot of NDCG@10 per round, with the centralized baseline as a horizontal line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError


def plot_ndcg(history: list[dict[str, Any]], path: str | Path, *, baseline: float | None = None,
              popularity: float | None = None, title: str = "Federated MF") -> Path:
    """Write the plot to ``path`` (matplotlib, Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    points = [(r["round"], r["metrics"]["ndcg@10"]) for r in history if "metrics" in r]
    if not points:
        raise ConfigError("no evaluated rounds to plot (was eval_every 0?)")
    rounds, ndcg = zip(*points)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(rounds, ndcg, marker="o", markersize=3, label="federated")
    if baseline is not None:
        ax.axhline(baseline, color="tab:red", linestyle="--", label="centralized")
    if popularity is not None:
        ax.axhline(popularity, color="tab:gray", linestyle=":", label="popularity")
    ax.set_xlabel("round")
    ax.set_ylabel("NDCG@10 (full ranking)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
