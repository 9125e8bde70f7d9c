"""The memory a training run will need, measured on a copy of its task before the first step."""
from __future__ import annotations

import json

import pytest
import torch

from dustbench.models.pretrained import initial_model
from dustbench.models.task import task_class
from dustbench.train import footprint

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def tiny_task(name="dust_gan", config=None, options=None):
    torch.manual_seed(0)
    model, _, _ = initial_model(name, {"width": 8} if config is None else config, None, None)
    task = task_class(name)(name, model, {"d_width": 8} if options is None else options, torch.device("cpu"))
    task.optimizers = task.build_optimizers(1e-3)
    return task


def test_state_is_gradients_and_adams_two_moments():
    task = tiny_task()
    fp = footprint.measure(task, batch_size=4, patch=32, device=torch.device("cpu"))
    weights = sum(p.numel() * 4 for m in task.modules().values() for p in m.parameters())
    assert fp.parameters * 4 == weights
    assert fp.state_bytes == 3 * weights  # gradients + exp_avg + exp_avg_sq (float32); weights are in the process
    assert fp.total_bytes == fp.process_bytes + fp.state_bytes + 4 * fp.activation_bytes_per_sample
    assert fp.process_bytes > 10e6  # at least the interpreter and torch


def test_activations_grow_with_the_patch_area_and_the_run_is_left_alone():
    task = tiny_task("segnet", {"width": 4, "depth": 2}, {})
    before = {k: v.clone() for k, v in task.model.state_dict().items()}
    rng = torch.get_rng_state()
    small = footprint.measure(task, 8, 32, torch.device("cpu")).activation_bytes_per_sample
    large = footprint.measure(task, 8, 64, torch.device("cpu")).activation_bytes_per_sample
    assert 3.5 < large / small < 4.5
    assert torch.equal(torch.get_rng_state(), rng)  # the run draws as if nothing had happened
    assert all(torch.equal(before[k], v) for k, v in task.model.state_dict().items())  # weights, BN statistics
    assert not any(task.optimizers["model"].state)  # the real optimizer has not stepped


def test_the_cli_says_what_a_run_will_need(tmp_path, capsys):
    from dustbench.cli import main

    out = tmp_path / "run"
    assert main(["train", "fastdet", "--out", str(out), "--max-steps", "1", "--batch-size", "2", "--patch", "32",
                 "--val", "none", "--threads", "1", "--set", "model.width=4", "--set", "model.channels=4",
                 "--set", "model.blocks=1"]) == 0
    err = capsys.readouterr().err
    assert "M parameters; batch 2 × 32² needs at least" in err
    estimate = json.loads((out / "config.json").read_text())["memory_estimate"]
    assert estimate["total_bytes"] > estimate["state_bytes"] > 0
