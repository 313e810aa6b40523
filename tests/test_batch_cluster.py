"""README's two-node Ray cluster, as written: a head and a worker node started with ``ray start`` on
this machine (one CPU each, token authentication as Ray 2.60 asks), and ``python -m fer.batch
--address`` on it. Every input must be in the result, and both nodes are stopped afterwards, also when
the test fails.

Isolation: HOME, and with it the token file ``~/.ray/auth_token``, and each node's Ray temp dir are
fresh temporary folders, and every port is a free one; a node is stopped by signalling the processes
its ``ray start`` left (its process group and their descendants), never with ``ray stop``, which stops
every Ray on the machine (a local Ray of another test, a user's).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

pytest.importorskip("ray", reason="batch analysis needs requirements-batch.txt")
import pyarrow.parquet as pq  # noqa: E402

from conftest import ROOT, _free_port as free_port  # noqa: E402

# the ray command of this interpreter's environment, so head, worker and driver run the same Ray
RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
START_TIMEOUT_S = 120
STOP_GRACE_S = 3  # then SIGKILL: a GCS server may take longer to honour SIGTERM, and nothing here needs saving


def ray_command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([RAY, *args], env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S)


class Node:
    """One ``ray start`` and the processes it leaves running.

    ``ray start`` (without ``--block``) exits once the node is up, leaving its daemons (GCS, raylet,
    agents) in its process group: started in a session of its own, that group holds this node's
    daemons and nothing else. The raylet starts its workers in sessions of their own, so they are
    found as the daemons' descendants.
    """

    def __init__(self, args: list[str], env: dict[str, str]):
        self.process = subprocess.Popen([RAY, "start", *args], env=env, start_new_session=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.group = self.process.pid
        # (pid, start time) of every process of the node found so far: a worker whose raylet has died
        # is still the node's, and a pid the system reused since is not
        self.seen: set[tuple[int, int]] = set()

    def wait_started(self) -> None:
        output, _ = self.process.communicate(timeout=START_TIMEOUT_S)
        if self.process.returncode != 0:
            pytest.fail(f"ray start {' '.join(self.process.args[2:])} failed:\n{output}")

    def stop(self) -> None:
        """SIGTERM to the node's processes, SIGKILL to those left after ``STOP_GRACE_S``."""
        if self.process.poll() is None:  # a `ray start` that never finished
            self.process.kill()
            self.process.communicate()
        for sig, grace in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, START_TIMEOUT_S)):
            deadline = time.monotonic() + grace
            while (alive := self.alive()) and time.monotonic() < deadline:
                for pid in alive:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, sig)
                time.sleep(0.2)

    def alive(self) -> set[int]:
        """The node's running processes: its process group and their descendants."""
        running = running_processes()
        self.seen |= {(pid, start) for pid, (_, group, start) in running.items() if group == self.group}
        while True:
            alive = {pid for pid, start in self.seen if running.get(pid, (0, 0, -1))[2] == start}
            children = {(pid, start) for pid, (parent, _, start) in running.items() if parent in alive}
            if children <= self.seen:
                return alive
            self.seen |= children


def running_processes() -> dict[int, tuple[int, int, int]]:
    """``{pid: (parent pid, process group, start time)}`` of every process but zombies (Linux's /proc)."""
    running = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # what follows "(command name)"
            if fields[0] != "Z":
                running[int(stat.parent.name)] = (int(fields[1]), int(fields[2]), int(fields[19]))
    return running


class Cluster(NamedTuple):
    address: str  # the head's, HOST:PORT
    env: dict[str, str]  # for a driver on the head: RAY_AUTH_MODE=token, HOME with the token file
    worker_temp_dir: Path


@pytest.fixture
def cluster():
    """A running head and worker node; both stopped afterwards, whatever happened."""
    if RAY is None:
        pytest.skip("the ray command is not installed")
    if not Path("/proc").is_dir():
        pytest.skip("finding a node's processes to stop it reads Linux's /proc")
    # short paths in /tmp: Ray puts Unix sockets in its temp dir, and their paths are limited to 107 bytes
    scratch = Path(tempfile.mkdtemp(prefix="fer-ray-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}  # no cluster of the caller's
    env.update(HOME=str(scratch / "home"), RAY_AUTH_MODE="token", RAY_USAGE_STATS_ENABLED="0",
               FER_MODEL="bundled", HF_HUB_OFFLINE="1")
    nodes: list[Node] = []
    try:
        generated = ray_command(["get-auth-token", "--generate"], env)  # into $HOME/.ray/auth_token
        assert generated.returncode == 0, generated.stderr
        port = free_port()
        # a node's fixed default ports (client server 10001, dashboard 8265, agent 52365) would clash
        # with the other node's or with another Ray on the machine
        nodes.append(Node([
            "--head", f"--port={port}", "--num-cpus=1", f"--temp-dir={scratch / 'head'}",
            "--include-dashboard=false", f"--dashboard-port={free_port()}",
            f"--ray-client-server-port={free_port()}", f"--dashboard-agent-listen-port={free_port()}",
            "--disable-usage-stats",
        ], env))
        nodes[0].wait_started()
        # the worker as on another machine: a HOME without the token file, the token in RAY_AUTH_TOKEN
        nodes.append(Node([
            f"--address=127.0.0.1:{port}", "--num-cpus=1", f"--temp-dir={scratch / 'worker'}",
            f"--dashboard-agent-listen-port={free_port()}", "--disable-usage-stats",
        ], {**env, "HOME": str(scratch / "worker-home"), "RAY_AUTH_TOKEN": generated.stdout.strip()}))
        nodes[1].wait_started()
        yield Cluster(f"127.0.0.1:{port}", env, scratch / "worker")
    finally:
        for node in reversed(nodes):
            node.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def photos(folder: Path, count: int) -> list[Path]:
    """``count`` small generated photos (noise and gradients: no faces, one result row each)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
        pixels[:, :, i % 3] = np.linspace(0, 255, 128, dtype=np.uint8)
        paths.append(folder / f"photo_{i}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths


def test_batch_on_a_two_node_cluster_started_with_ray_start(cluster, tmp_path):
    inputs = photos(tmp_path, 6)
    out = tmp_path / "results.parquet"
    run = subprocess.run(
        [sys.executable, "-m", "fer.batch", *map(str, inputs), "--out", str(out), "--address", cluster.address],
        cwd=ROOT, env=cluster.env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    table = pq.read_table(out)
    assert sorted(set(table.column("path").to_pylist())) == sorted(os.path.abspath(p) for p in inputs)
    assert not any(table.column("error").to_pylist())
    # one actor a CPU by default, two CPUs in the cluster: one analysed on the worker node (Ray names an
    # actor's log after it: ":actor_name:MapWorker(MapBatches(...))")
    logs = cluster.worker_temp_dir.glob("session_*/logs/worker-*.out")
    assert any(":actor_name:MapWorker(" in log.read_text(errors="replace") for log in logs), \
        "no analysis actor ran on the worker node"
