"""``secagg status --server``: the live status of a running server over its Admin service, and
its text rendering (``secagg status --json`` prints the dict as it is)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc

from ..errors import AuthenticationError, ServerUnavailableError
from .certs import read_pem
from .proto import secagg_net_pb2 as pb
from .proto import secagg_net_pb2_grpc as pb_grpc


def fetch_status(address: str, *, ca: str | Path, token: bytes, server_name: str | None = None,
                 timeout: float = 10.0) -> dict[str, Any]:
    """The server's live status. Raises AuthenticationError if the token is missing or wrong and
    ServerUnavailableError if the server cannot be reached within ``timeout`` seconds."""
    options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
    creds = grpc.ssl_channel_credentials(root_certificates=read_pem(ca, "CA certificate"))
    with grpc.secure_channel(address, creds, options=options) as channel:
        try:
            reply = pb_grpc.AdminStub(channel).GetStatus(pb.StatusRequest(admin_token=token),
                                                          timeout=timeout)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details()
            if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                raise AuthenticationError(f"the server {address} refused the admin token "
                                          f"({code.name}: {details})") from None
            if code is grpc.StatusCode.UNIMPLEMENTED:
                raise ServerUnavailableError(f"the server {address} has no admin service (an older "
                                             "version?); use secagg status --db there") from None
            raise ServerUnavailableError(f"cannot get the status of {address}: {code.name}: "
                                         f"{details}") from None
    return json.loads(reply.status_json)


def format_live(s: dict[str, Any]) -> str:
    """A few aligned lines for a terminal."""
    lines = [f"server           {s['health']}: {s['reason']}",
             f"run              {s['run_id']} (secagg {s['server_version']}, up {s['uptime_s']:.0f} s)",
             f"clients          {s['clients']['online']} online, {s['clients']['registered']} registered"]
    r = s["rounds"]
    lines.append(f"rounds           {r['recorded']} recorded: {r['completed']} completed, {r['aborted']} "
                 f"aborted ({r['aborted_in_a_row']} in a row now)")
    cur = s.get("round")
    if cur:
        lines.append(f"in progress      round {cur['round']}, stage {cur['stage']}: {cur['replied']}/"
                     f"{cur['expected']} replied, {cur['rejected']} rejected, {cur['stage_elapsed_s']:.1f} s "
                     f"open, deadline in {cur['deadline_in_s']:.1f} s (of {cur['deadline_s']:.1f} s)")
    else:
        lines.append("in progress      no round (waiting for clients or between rounds)")
    m = s["model"]
    lines.append(f"model            version {m['current_version']}, kept: "
                 f"{[v['version'] for v in m['kept']]}")
    p = s.get("privacy")
    if p:
        eps = ", ".join(f"{k} {v:.4g}" for k, v in p.items()
                        if "epsilon" in k.lower() and isinstance(v, (int, float)))
        delta = p.get("delta")
        lines.append(f"privacy          {eps or 'no epsilon recorded'}"
                     + (f" at delta {delta:.3g}" if isinstance(delta, (int, float)) else "")
                     + (f" after round {p['round']}" if "round" in p else ""))
    pr = s["process"]
    rss = f"{pr['rss_bytes'] / 2**20:.0f} MiB RSS, " if pr.get("rss_bytes") else ""
    lines.append(f"process          pid {pr['pid']}, {pr['cpu_seconds']:.1f} CPU s, {rss}"
                 f"{pr['threads']} threads")
    if s["recent_rounds"]:
        lines.append("recent rounds")
        for rec in s["recent_rounds"]:
            line = (f"  #{rec['round']:<5} {rec['status']:<9} {rec['included']}/{rec['sampled']} "
                    f"included, {rec['seconds']:.2f} s")
            if rec["abort_reason"]:
                line += f"  reason: {rec['abort_reason'][:160]}"
            lines.append(line)
    return "\n".join(lines)
