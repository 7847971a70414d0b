"""Shared helpers: an in-process server + threaded clients, and the exact-sum reference check."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from secagg.core.quantize import quantize
from secagg.net.client import NetClient
from secagg.net.server import NetServer
from secagg.net.settings import ServerSettings
from secagg.net.store import Store
from secagg.rec.client import LocalConfig
from secagg.rec.model import ItemModel


class RandomTrainer:
    """A stand-in for local training: a random clipped update (test data, numpy.random on purpose)."""

    def __init__(self, seed: int, clip: float = 1.0, model_shape: tuple[int, int] = (20, 3)) -> None:
        self.rng = np.random.default_rng(seed)
        self.clip = clip
        self.n_items, self.factors = model_shape  # declared at registration (settings() default)

    def train(self, model: ItemModel, config: LocalConfig) -> np.ndarray:
        v = self.rng.normal(0, 0.1, model.size)
        n = np.linalg.norm(v)
        if n > config.clip_norm:
            v *= config.clip_norm / n
        return v.astype(np.float32)


def settings(**kw) -> ServerSettings:
    """Small rounds. A stage closes as soon as every client replied, so the deadlines and the
    liveness window only bound a round when something is wrong: they are generous, so that a
    slow or loaded machine never turns an honest client into a dropout."""
    base = dict(n_items=20, factors=3, clients_per_round=6, min_clients=6, stage_timeout=60.0,
                training_timeout=60.0, liveness_timeout=15.0, poll_wait=0.3)
    base.update(kw)
    return ServerSettings(**base)


def start_server(tmp: Path, certs, s: ServerSettings, rounds: int | None, **kw) -> NetServer:
    """A server; open enrolment unless the test gives a token or the authority's roots."""
    if kw.get("enroll_token") is None and kw.get("authority_roots") is None:
        kw.setdefault("open_enrolment", True)
    return NetServer(s, db=tmp / "server.db", cert=certs.cert, key=certs.key, **kw).start(rounds=rounds)


class ClientThreads:
    def __init__(self, tmp: Path, certs, port: int, n: int, *, dump: Path | None = None,
                 cls: type[NetClient] = NetClient, first: int = 0,
                 model_shape: tuple[int, int] = (20, 3), **options) -> None:
        self.clients = [cls(f"127.0.0.1:{port}", ca=certs.ca, state_dir=tmp / f"c{first + i}",
                            trainer=RandomTrainer(first + i, model_shape=model_shape), poll_wait=0.3,
                            on_update=None if dump is None else dump_updates(dump),
                            backoff=(0.05, 0.5), trust_server_keys=True, **options)
                        for i in range(n)]
        self.errors: dict[int, BaseException] = {}  # index -> what ended that client's run
        # max_seconds only ends a client that stop() never reached; far longer than any test
        self.threads = [threading.Thread(target=self._run, args=(i, c), daemon=True)
                        for i, c in enumerate(self.clients)]
        for t in self.threads:
            t.start()

    def _run(self, index: int, client: NetClient) -> None:
        try:
            client.run(max_seconds=900)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to inspect
            self.errors[index] = exc

    def stop(self) -> None:
        for c in self.clients:
            c.stop()
        for t in self.threads:
            t.join(60)
        for c in self.clients:
            c.close()


def dump_updates(directory: Path):
    """An ``on_update`` callback that saves each round's plaintext update (tests only: the product
    never writes an update anywhere)."""
    def save(rec) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        extra = {} if rec.quantized is None else {"quantized": rec.quantized}
        np.savez(directory / f"r{rec.round}_c{rec.client_id}.npz", update=rec.update,
                 rounding_seed=np.frombuffer(rec.rounding_seed, dtype=np.uint8),
                 session_id=np.frombuffer(rec.session_id, dtype=np.uint8), float_update=rec.float_update, **extra)
    return save


def check_exact_sums(db: Path, dump: Path) -> int:
    """Every completed round's sum equals the sum of its included clients' quantized updates
    (recomputed in process from their dumped updates and rounding seeds). Returns rounds checked."""
    store = Store(db)
    checked = 0
    try:
        for rec in store.rounds():
            if rec.status != "completed":
                continue
            acc = np.zeros_like(rec.quantized_sum, dtype=np.uint64)
            for cid in rec.included:
                f = np.load(dump / f"r{rec.round}_c{cid}.npz")
                assert bytes(f["session_id"]) == rec.session_id
                if "quantized" in f.files:  # DP: the client's integers
                    acc += f["quantized"].astype(np.uint64)
                    continue
                q = quantize(f["update"], clipping_range=1.0, quantization_range=2**16,
                             rounding_seed=bytes(f["rounding_seed"]))
                acc += q.astype(np.uint64)
            acc &= np.uint64(rec.modulus_range - 1)
            assert np.array_equal(acc, rec.quantized_sum), f"round {rec.round}: sum differs"
            checked += 1
    finally:
        store.close()
    return checked
