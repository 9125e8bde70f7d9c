"""DistributedDataParallel: two CPU processes (gloo, 127.0.0.1) launched by torchrun train one model."""
from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

from dustbench.io import write_image

from test_trainer import tiny_pairs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

WORKER = textwrap.dedent("""
    import os, sys, warnings
    import torch
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    from dustbench.train import TrainConfig, train
    out, data = sys.argv[1], sys.argv[2]
    result = train(TrainConfig("dust_gan", out=out, data=data, model_config={"width": 8},
                               task_options={"d_width": 8}, batch_size=2, patch=32, max_steps=3,
                               steps_per_epoch=2, val="none", progress=False, plot=False, device="cpu"))
    rank = os.environ["RANK"]
    params = {f"{m}.{k}": p.detach() for m, mod in result.task.modules().items()
              for k, p in mod.named_parameters()}
    torch.save({"params": params, "step": result.step}, os.path.join(sys.argv[3], f"rank{rank}.pt"))
""")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_on_cpu(tmp_path):
    data = tmp_path / "pairs"
    for i, (d, c, _) in enumerate(tiny_pairs(size=40)):
        write_image(data / "damaged" / f"{i}.png", d)
        write_image(data / "clean" / f"{i}.png", c)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    states = tmp_path / "states"
    states.mkdir()
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "2",
           "--master-addr", "127.0.0.1", "--master-port", str(free_port()), str(script), str(out), str(data),
           str(states)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    r0, r1 = torch.load(states / "rank0.pt"), torch.load(states / "rank1.pt")
    assert r0["step"] == r1["step"] == 3
    # gradients were averaged: both ranks hold the same weights after 3 steps on different data
    for k, v in r0["params"].items():
        assert torch.equal(v, r1["params"][k]), k
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["world_size"] == 2 and cfg["data"]["world_size"] == 2
    # only rank 0 wrote: one checkpoint, one log (and one TensorBoard event file), no stray temporary files
    logs = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []  # the `dev` extra installs it
    assert sorted(p.name for p in out.iterdir()) == [".dustbench.lock", "checkpoint.pt", "config.json", "history.csv",
                                                     *logs]  # the lock: rank 0's claim on the folder
    assert all(len(list((out / d).iterdir())) == 1 for d in logs)
