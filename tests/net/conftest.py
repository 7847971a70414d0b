"""Fixtures for the networked tests: TLS material made in the test, real server/client processes
on 127.0.0.1 with ephemeral ports, and finalizers that kill every process they started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("grpc")

from secagg.net.certs import make_certificates  # noqa: E402

N_ITEMS_ARGS = ["--data", "synthetic"]
FACTORS = "4"
# The server's training settings that the checks depend on, pinned rather than left to the CLI's
# defaults: helpers.check_exact_sums quantizes with clipping range 1.0 and the model replay in
# test_processes applies FedAvg with server learning rate 1.0.
TRAINING_ARGS = ["--factors", FACTORS, "--clip-norm", "1.0", "--server-lr", "1.0", "--local-epochs", "1"]


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("tls"), ("localhost", "127.0.0.1"))


class Procs:
    """Starts ``python -m secagg ...`` processes and kills all of them at teardown."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen] = []

    def spawn(self, args: list[str], log: Path, program: list[str] | None = None) -> subprocess.Popen:
        fh = open(log, "ab")
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        # cwd outside the repository: `python -m` puts the working directory first on sys.path,
        # which would shadow the installed package (with its compiled core) by the source tree.
        program = program or ["-m", "secagg.cli"]
        p = subprocess.Popen([sys.executable, *program, *args], stdout=fh, stderr=fh,
                             stdin=subprocess.DEVNULL, env=env, start_new_session=True,
                             cwd=self.root)
        fh.close()
        self.procs.append(p)
        return p

    def server(self, certs, db: Path, *extra: str, name: str = "server") -> tuple[subprocess.Popen, int]:
        """A server process; open enrolment unless ``extra`` names a token or the authority's roots."""
        port_file = self.root / f"{name}.port"
        port_file.unlink(missing_ok=True)
        if not {"--enroll-token-file", "--authority-roots"} & set(extra):
            extra = ("--insecure-open-enrolment", *extra)
        p = self.spawn(["server", "--db", str(db), "--cert", str(certs.cert), "--key", str(certs.key),
                        "--address", "127.0.0.1:0", "--port-file", str(port_file), *N_ITEMS_ARGS,
                        *TRAINING_ARGS, "--log-file", str(self.root / f"{name}.jsonl"), *extra],
                       self.root / f"{name}.out")
        # the port file is written atomically once the server listens (or the server exits)
        wait_for(lambda: port_file.exists() or p.poll() is not None, 120, f"{name} to listen",
                 interval=0.05)
        if not port_file.exists():
            raise AssertionError(f"server exited: {(self.root / f'{name}.out').read_text()[-2000:]}")
        return p, int(port_file.read_text())

    def client(self, certs, port: int, user: int, *extra: str, max_seconds: float = 900,
               dump: Path | None = None, gate: Path | None = None,
               name: str | None = None, helper: tuple[Path, Path] | None = None) -> subprocess.Popen:
        """A client process (trusting the server's peer keys unless ``extra`` pins the authority's
        roots). ``max_seconds`` only stops a client orphaned by a killed test run
        (the fixture kills every client at teardown): far longer than any test, never a limit.
        ``dump``: save its plaintext updates there (tests/net/dumping_client.py; the product cannot).
        ``gate``: its training waits until that file exists (tests/net/gated_client.py). ``name``
        names its log files (default ``client{user}``); the state directory is always the user's.
        ``helper``: run this client script with this first argument instead (e.g. slow_client.py)."""
        d = self.root / f"client{user}"
        name = name or f"client{user}"
        if "--authority-roots" not in extra:
            extra = ("--insecure-trust-server-keys", *extra)
        options = ["--server", f"127.0.0.1:{port}", "--ca", str(certs.ca),
                   "--state-dir", str(d), *N_ITEMS_ARGS, "--user", str(user), "--factors", FACTORS,
                   "--poll-wait", "0.5", "--max-seconds", str(max_seconds),
                   "--log-file", str(self.root / f"{name}.jsonl"), *extra]
        if helper is not None:  # (script, its first argument): a test variant of the client
            return self.spawn([str(helper[1]), *options], self.root / f"{name}.out",
                              program=[str(helper[0])])
        if gate is not None:
            return self.spawn([str(gate), *options], self.root / f"{name}.out",
                              program=[str(Path(__file__).with_name("gated_client.py"))])
        if dump is None:
            return self.spawn(["client", *options], self.root / f"{name}.out")
        return self.spawn([str(dump), *options], self.root / f"{name}.out",
                          program=[str(Path(__file__).with_name("dumping_client.py"))])

    def kill_all(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                pass


@pytest.fixture
def procs(tmp_path):
    ps = Procs(tmp_path)
    yield ps
    ps.kill_all()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
