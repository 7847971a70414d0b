"""``secagg status``: a summary of a server's database (works while the server runs or not)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .store import Store


def summary(db: str | Path) -> dict[str, Any]:
    """Rounds done/aborted, clients registered, the last round's survivors and stage timings,
    the kept model versions and the rollbacks."""
    path = Path(db)
    if not path.is_file():
        raise ConfigError(f"{path}: no server database here (start `secagg server --db {path}`)")
    try:
        store = Store(path)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{path}: not a secagg server database ({exc})") from None
    try:
        rounds = store.rounds()
        last = rounds[-1] if rounds else None
        versions = store.versions()
        return {
            "db": str(path),
            "run_id": store.get_meta("run_id"),
            "rounds_recorded": len(rounds),
            "rounds_completed": sum(r.status == "completed" for r in rounds),
            "rounds_aborted": sum(r.status == "aborted" for r in rounds),
            "clients_registered": len(store.client_keys()),
            "current_version": versions[-1] if versions else None,
            "kept_versions": [v["version"] for v in versions],
            "last_round": None if last is None else {
                "round": last.round, "status": last.status, "sampled": len(last.sampled),
                "survivors": len(last.included), "abort_reason": last.abort_reason,
                "seconds": round(last.finished - last.started, 4), "stages": last.stages},
            "rollbacks": [e for e in store.events() if e["kind"] == "rollback"],
            "privacy": _privacy(store),
        }
    finally:
        store.close()


def _privacy(store: Store) -> dict[str, Any] | None:
    """The last DP ledger row (both epsilons) and the stored plan's sampling, or None."""
    rows = store.privacy()
    if not rows:
        return None
    last = {k: v for k, v in rows[-1].items() if k != "participants"}
    plan = store.get_meta("dp_plan") or {}
    return {**last, "sampling": plan.get("accounting", {}).get("sampling"), "rounds_charged": len(rows)}


def format_summary(s: dict[str, Any]) -> str:
    lines = [f"database         {s['db']} (run {s['run_id']})",
             f"rounds           {s['rounds_recorded']} recorded: {s['rounds_completed']} completed, "
             f"{s['rounds_aborted']} aborted",
             f"clients          {s['clients_registered']} registered"]
    cv = s["current_version"]
    if cv:
        lines.append(f"model            version {cv['version']} (round {cv['round']}, "
                     f"{cv['hash'][:16]}), kept: {s['kept_versions']}")
    last = s["last_round"]
    if last:
        lines.append(f"last round       #{last['round']} {last['status']}: {last['survivors']} of "
                     f"{last['sampled']} included, {last['seconds']:.3f} s")
        for name, st in last["stages"].items():
            lines.append(f"  {name:<18} {st['replied']}/{st['expected']} replied, "
                         f"{st['rejected']} rejected, {st['seconds']:.3f} s")
        if last["abort_reason"]:
            lines.append(f"  aborted: {last['abort_reason']}")
    if s.get("privacy"):  # every epsilon field the ledger records (read defensively)
        p = s["privacy"]
        if "epsilon_release" in p and "epsilon_server" in p:
            busiest = p.get("max_participation")
            lines.append(f"privacy          epsilon_release {p['epsilon_release']:.4g} (observers of the models, "
                         f"{p.get('sampling', '?')} sampling), epsilon_server {p['epsilon_server']:.4g} (the "
                         f"server; {busiest if busiest is not None else '?'} rounds of the busiest client)"
                         + (f" at delta {p['delta']:.3g}" if isinstance(p.get("delta"), (int, float)) else "")
                         + (f" after round {p['round']}" if "round" in p else "")
                         + (f" (noise multiplier {p['noise_multiplier']:.4g})"
                            if isinstance(p.get("noise_multiplier"), (int, float)) else ""))
        else:
            eps = ", ".join(f"{k} {v:.4g}" for k, v in p.items()
                            if "epsilon" in k.lower() and isinstance(v, (int, float)))
            lines.append(f"privacy          {eps or 'no epsilon recorded'}"
                         + (f" at delta {p['delta']:.3g}" if isinstance(p.get("delta"), (int, float)) else "")
                         + (f" after round {p['round']}" if "round" in p else ""))
    for e in s["rollbacks"]:
        lines.append(f"rollback         to version {e['to_version']} as version {e['new_version']}")
    return "\n".join(lines)
