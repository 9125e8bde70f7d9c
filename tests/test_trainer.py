"""The shared trainer: run files, exact resume, schedule, stopping, data order, CLI parsing."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from torch import nn

from dustbench.errors import DustbenchError
from dustbench.models import register_model
from dustbench.data import Sample
from dustbench.train import TrainConfig, train
from dustbench.models.checkpoint import read_checkpoint
from dustbench.data.train_sources import MemoryPairs
from dustbench.train.batches import TrainData

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def tiny_pairs(size: int = 48, seed: int = 0):
    """Two small damaged/clean/mask triples synthesized on crops of scikit-image photos."""
    import skimage.data

    from dustbench import synthesize
    from dustbench.synth.presets import library, resolve_presets

    presets = resolve_presets("negative_scan_heavy,slide_scan_heavy", library())
    rng = np.random.default_rng(seed)
    out = []
    for i, img in enumerate((skimage.data.astronaut(), skimage.data.coffee())):
        crop = np.ascontiguousarray(img[100:100 + size, 150:150 + size])
        s = synthesize(crop, presets[i], rng)
        out.append((s.damaged, s.clean, s.mask))
    return out


@pytest.fixture(scope="module")
def pairs():
    return tiny_pairs()


def config(tmp_path, pairs, name="run", **kw):
    base = dict(model="dust_gan", out=str(tmp_path / name), data=MemoryPairs(pairs, patch=32, seed=0,
                                                                             samples_per_epoch=8),
                model_config={"width": 8}, task_options={"d_width": 8}, batch_size=2, patch=32, epochs=2,
                val="none", progress=False, plot=False, lr=1e-3)
    base.update(kw)
    return TrainConfig(**base)


def test_run_writes_logs_checkpoint_and_validation(tmp_path, pairs):
    val = [Sample(f"v{i}", d, c, m) for i, (d, c, m) in enumerate(pairs)]
    result = train(config(tmp_path, pairs, val=val, plot=True))
    out = result.out
    assert result.stop_reason == "epochs" and result.step == 8 and result.epoch == 2
    for name in ("config.json", "checkpoint.pt", "history.csv", "curves.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "history.csv")))
    assert [int(r["step"]) for r in rows] == [4, 8]
    for r in rows:  # every row says the perceptual term is off, and has validation against identity
        assert r["note_perceptual"].startswith("off: no VGG-19 weights")
        assert float(r["val_psnr"]) > 10 and float(r["val_psnr_identity"]) > 10 and "val_psnr_in" in r
        assert float(r["loss_total"]) > 0 and float(r["loss_d"]) > 0
    from dustbench.methods import load_model_file

    method = load_model_file(out / "checkpoint.pt")  # the training checkpoint is evaluable as is
    restored = method(pairs[0][1].astype(np.float32) / 255)
    assert restored.shape == pairs[0][1].shape


def _states(path):
    ckpt = read_checkpoint(path)
    ts = ckpt["train_state"]
    return ckpt["state_dict"], ts["modules"]["discriminator"], ts["optimizers"], ts["position"]


def _assert_same(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and where.endswith("elapsed_s"):
        pass  # wall time differs, of course
    else:
        assert a == b, where


def test_resume_is_bit_exact(tmp_path, pairs):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # same kernels in both runs
    try:
        straight = train(config(tmp_path, pairs, "straight", max_steps=5, epochs=3))
        first = train(config(tmp_path, pairs, "resumed", max_steps=5, epochs=3), stop_after=2)
        assert first.step == 2 and first.stop_reason == "stop_after"
        resumed = train(config(tmp_path, pairs, "resumed", max_steps=5, epochs=3), resume=True)
    finally:
        torch.set_num_threads(threads)
    assert straight.step == resumed.step == 5  # crosses an epoch boundary (4 steps per epoch)
    _assert_same(_states(straight.checkpoint), _states(resumed.checkpoint))
    # Same log too, apart from the extra partial-epoch row written when the first part stopped.
    def rows(result):
        kept = [r for r in result.rows if r["epoch_complete"]] + result.rows[-1:]
        return [{k: v for k, v in r.items() if k != "time_s"} for r in kept]

    assert rows(straight) == rows(resumed)
    assert [r["step"] for r in resumed.rows] == [2, 4, 5]
    again = train(config(tmp_path, pairs, "resumed", max_steps=5, epochs=3), resume=True)
    assert again.step == 5 and again.stop_reason == "max_steps"  # a finished run stays finished


def test_sigterm_saves_a_checkpoint_and_resume_equals_an_uninterrupted_run(tmp_path, pairs, monkeypatch):
    """A batch scheduler's SIGTERM (or Ctrl-C) ends the run after the current step with a consistent
    checkpoint; resuming gives the weights of a run that was never interrupted."""
    import os
    import signal

    from dustbench.models.dust_gan import DustGanTask

    original = DustGanTask.training_step

    def step_then_term(self, batch, step):
        out = original(self, batch, step)
        if step == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        straight = train(config(tmp_path, pairs, "straight", max_steps=5, epochs=3))
        monkeypatch.setattr(DustGanTask, "training_step", step_then_term)
        stopped = train(config(tmp_path, pairs, "term", max_steps=5, epochs=3))
        monkeypatch.undo()
        assert stopped.stop_reason == "signal:SIGTERM" and stopped.step == 2
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone afterwards
        resumed = train(config(tmp_path, pairs, "term", max_steps=5, epochs=3), resume=True)
    finally:
        torch.set_num_threads(threads)
    _assert_same(_states(straight.checkpoint), _states(resumed.checkpoint))


def test_a_signal_before_the_weights_move_drops_the_step_at_once(tmp_path, pairs, monkeypatch):
    """One SIGINT in the middle of a step (after a forward pass has moved BatchNorm statistics and
    drawn random numbers, before any optimizer step) stops at once: the step is dropped, the
    checkpoint holds the last completed one, and resuming equals a run never interrupted."""
    import os
    import signal

    from dustbench.models.dust_gan import DustGanTask

    original = DustGanTask.training_step
    calls = []

    def forward_then_int(self, batch, step):
        if step == 2:
            self.model(batch["damaged"])  # BatchNorm buffers move, as in a real step's first half
            torch.rand(3)  # and the RNG
            os.kill(os.getpid(), signal.SIGINT)
            calls.append("not dropped")  # never reached: the handler raises at the next bytecode
        return original(self, batch, step)

    threads = torch.get_num_threads()
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in a background job
    torch.set_num_threads(1)
    try:
        straight = train(config(tmp_path, pairs, "straight", max_steps=5, epochs=3))
        two = train(config(tmp_path, pairs, "two", max_steps=5, epochs=3), stop_after=2)
        monkeypatch.setattr(DustGanTask, "training_step", forward_then_int)
        stopped = train(config(tmp_path, pairs, "int", max_steps=5, epochs=3))
        monkeypatch.undo()
        assert stopped.stop_reason == "signal:SIGINT" and stopped.step == 2 and calls == []
        rng = [read_checkpoint(r.checkpoint)["train_state"]["rng"]["torch"] for r in (two, stopped)]
        assert torch.equal(*rng)  # the dropped step's random draws were put back
        assert signal.getsignal(signal.SIGINT) is before  # the trainer's handler is gone again
        resumed = train(config(tmp_path, pairs, "int", max_steps=5, epochs=3), resume=True)
    finally:
        torch.set_num_threads(threads)
    _assert_same(_states(straight.checkpoint), _states(resumed.checkpoint))


def test_a_second_signal_in_a_step_that_cannot_be_dropped_keeps_the_last_checkpoint(tmp_path, pairs, monkeypatch):
    """The first signal arrives once the discriminator has stepped (the step must finish), the
    second before the generator has: the run stops at once and writes no half-stepped checkpoint."""
    import os
    import signal

    from dustbench.models.dust_gan import DustGanTask

    original = DustGanTask.training_step

    def two_signals(self, batch, step):
        if step == 3:
            for opt in self.optimizers.values():  # as if D had just stepped: the step cannot be dropped
                opt.zero_grad(set_to_none=True)
            self.optimizers["discriminator"].step()
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch, step)

    run = train(config(tmp_path, pairs, "two", max_steps=3, epochs=3))  # a checkpoint at step 3
    before = (run.checkpoint.read_bytes(), run.checkpoint.stat().st_mtime_ns)
    monkeypatch.setattr(DustGanTask, "training_step", two_signals)
    with pytest.raises(KeyboardInterrupt):
        train(config(tmp_path, pairs, "two", max_steps=6, epochs=3), resume=True)
    assert (run.checkpoint.read_bytes(), run.checkpoint.stat().st_mtime_ns) == before


def test_a_signal_while_a_batch_loads_stops_before_its_step(tmp_path, pairs, monkeypatch):
    import os
    import signal

    original = TrainData.batches

    def term_at_the_third(self, epoch, start=0):
        for i, batch in enumerate(original(self, epoch, start), start):
            if i == 2:
                os.kill(os.getpid(), signal.SIGTERM)  # arrives between steps
            yield batch

    monkeypatch.setattr(TrainData, "batches", term_at_the_third)
    stopped = train(config(tmp_path, pairs, "load", max_steps=5, epochs=3))
    assert stopped.stop_reason == "signal:SIGTERM" and stopped.step == 2


def test_resume_refuses_changed_data_or_batch_size(tmp_path, pairs):
    train(config(tmp_path, pairs, max_steps=1, data="builtin-train", pool=2, patch=32))
    with pytest.raises(DustbenchError, match="batch_size=2 .asked 4."):
        train(config(tmp_path, pairs, max_steps=2, data="builtin-train", pool=2, patch=32, batch_size=4), resume=True)
    with pytest.raises(DustbenchError, match="data='builtin-train' .asked 'stream'."):
        train(config(tmp_path, pairs, max_steps=2, data="stream", pool=2, patch=32), resume=True)


def test_existing_run_needs_resume_or_overwrite(tmp_path, pairs):
    train(config(tmp_path, pairs, max_steps=1))
    with pytest.raises(DustbenchError, match="--resume"):
        train(config(tmp_path, pairs, max_steps=1))
    train(config(tmp_path, pairs, max_steps=1), overwrite=True)
    with pytest.raises(DustbenchError, match="no such checkpoint"):
        train(config(tmp_path, pairs, "nothing"), resume=True)


def test_lr_decays_linearly_to_zero_and_time_budget_stops(tmp_path, pairs):
    result = train(config(tmp_path, pairs, max_steps=4, task_options={"d_width": 8, "w_adversarial": 0}))
    ckpt = read_checkpoint(result.checkpoint)
    lr = ckpt["train_state"]["optimizers"]["model"]["param_groups"][0]["lr"]
    assert math.isclose(lr, 1e-3 * (1 - 3 / 4))  # lr of the last (4th) step
    assert "discriminator" not in ckpt["train_state"]["modules"]  # w_adversarial = 0: no D at all
    timed = train(config(tmp_path, pairs, "timed", time_budget=0.3, epochs=1000))
    assert timed.stop_reason == "time_budget" and timed.step >= 1


@register_model("test_trainer_tiny")
def _tiny(width: int = 4) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1),
                         nn.Sigmoid())


def test_models_without_a_task_train_supervised(tmp_path, pairs):
    result = train(config(tmp_path, pairs, model="test_trainer_tiny", model_config={}, task_options={"loss": "l1"},
                          max_steps=3))
    assert result.step == 3 and "loss_total" in result.rows[-1]
    with pytest.raises(DustbenchError, match="no option"):
        train(config(tmp_path, pairs, "bad", model="test_trainer_tiny", model_config={}, task_options={"d_width": 8}))


def test_data_order_is_seeded_and_sharded(pairs):
    src = MemoryPairs(pairs, patch=32, seed=0, samples_per_epoch=12)
    r0, r1 = TrainData(src, 2, seed=5, rank=0, world=2), TrainData(src, 2, seed=5, rank=1, world=2)
    assert r0.steps_per_epoch == 3
    o0, o1 = r0.order(0), r1.order(0)
    assert sorted(np.concatenate([o0, o1]).tolist()) == list(range(12))  # disjoint, complete
    assert not np.array_equal(r0.order(0), r0.order(1))  # a new order every epoch
    b1 = [b["damaged"] for b in r0.batches(1)]
    b1_resumed = [b["damaged"] for b in r0.batches(1, start=2)]
    assert torch.equal(b1[2], b1_resumed[0])  # resuming mid-epoch gives the same batch
    assert b1[0].shape == (2, 3, 32, 32)


def test_cli_parsing():
    from dustbench.cli import build_parser
    from dustbench.cli.train import build_config, parse_duration

    assert parse_duration("45m") == 2700 and parse_duration("1h30m") == 5400 and parse_duration("90") == 90
    args = build_parser().parse_args(["train", "dust_gan", "--data", "stream", "--out", "r", "--time-budget", "2m",
                                      "--set", "model.width=16", "--set", "task.w_adversarial=0",
                                      "--set", "train.pool=64", "--batch-size", "4"])
    cfg = build_config(args)
    assert cfg.time_budget == 120 and cfg.model_config == {"width": 16} and cfg.pool == 64
    assert cfg.task_options == {"w_adversarial": 0} and cfg.batch_size == 4 and cfg.data == "stream"
    with pytest.raises(DustbenchError, match="model.KEY"):
        build_config(build_parser().parse_args(["train", "dust_gan", "--out", "r", "--set", "width=3"]))


def test_task_uses_wrapped_modules_whatever_their_truth_value():
    from dustbench.models.task import SupervisedTask

    task = SupervisedTask("x", nn.Conv2d(3, 3, 1))
    empty = nn.Sequential()  # len() == 0: falsy, like a compiled module whose len() raises
    task.wrap(lambda m: empty)
    assert task.net("model") is empty


def test_config_checks_its_settings_and_keeps_them_as_json():
    import json

    from dustbench.synth import ScanScale
    cfg = TrainConfig("fastdet", out="x", scan_scale=ScanScale(2000, 4000), damage_share=1)
    assert cfg.scan_scale == [2000, 4000] and cfg.damage_share == 1.0
    again = TrainConfig(**json.loads(json.dumps(cfg.to_dict())))  # what a resumed run reads back
    assert again.scan_scale == [2000, 4000]
    assert TrainConfig("fastdet", out="x", scan_scale="35mm@4000dpi").scan_scale == TrainConfig(
        "fastdet", out="x", scan_scale=ScanScale.parse("35mm@4000dpi")).scan_scale
    for bad, match in (({"damage_share": "half"}, "damage_share must be a fraction"),
                       ({"damage_share": 1.5}, "damage_share must be a fraction"),
                       ({"grain": "portra40"}, "portra400"), ({"scan_scale": 3}, "scan")):
        with pytest.raises(DustbenchError, match=match):
            TrainConfig("fastdet", out="x", **bad)



@register_model("test_layout_probe")
class LayoutProbe(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.out = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):  # in [0, 1], as every registered model's output (tests/test_models.py)
        return (x + 0.1 * self.out(torch.relu(self.conv(x)))).clamp(0.0, 1.0)


def test_channels_last_trains_the_same_network_as_contiguous(tmp_path, pairs, monkeypatch):
    """The layout changes where values sit, not what is learned: after 3 steps the weights of an NHWC
    and an NCHW run agree to float rounding. The run records the layout it used ("auto": NHWC on CPU);
    its parameters and batches are in that layout while it trains; a resumed run may change it."""
    import json

    from dustbench.models.task import SupervisedTask
    from dustbench.train import RESUME_OVERRIDES

    def nhwc(t):
        return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()

    seen, step = [], SupervisedTask.training_step

    def spy(self, batch, i):
        seen.append((nhwc(self.model.conv.weight), nhwc(batch["damaged"])))
        return step(self, batch, i)

    monkeypatch.setattr(SupervisedTask, "training_step", spy)
    results = {}
    for layout in ("auto", "contiguous"):
        results[layout] = train(config(tmp_path, pairs, layout, model="test_layout_probe", model_config={},
                                       task_options={}, max_steps=3, epochs=1, memory_format=layout))
        written = json.loads((tmp_path / layout / "config.json").read_text())
        assert written["memory_format"] == ("channels_last" if layout == "auto" else "contiguous")
    # the memory estimate's step on a copy (trainer.footprint) comes first, in the run's layout too
    assert seen == [(True, True)] * 4 + [(False, False)] * 4
    a, b = (read_checkpoint(r.checkpoint)["state_dict"] for r in results.values())
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-6), k
    assert "memory_format" in RESUME_OVERRIDES
    with pytest.raises(DustbenchError, match="memory_format must be one of auto, channels_last, contiguous"):
        TrainConfig("fastdet", out="x", memory_format="nhwc")


@register_model("test_layout_5d")
class FiveDimensional(LayoutProbe):
    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, 1, 1, 1, 1))  # cannot be channels_last

    def forward(self, x):
        return super().forward(x) * self.gain[0]


def test_layouts_on_resume_and_models_that_cannot_be_nhwc(tmp_path, pairs):
    """A checkpoint saved before layouts existed resumes NCHW, as it was trained; a run resumed in
    another layout moves the optimizer's moments too; a model with a 5-D weight trains NCHW under
    "auto" and is a clear error when channels_last is asked for."""
    import json

    def cfg(name, **kw):
        return config(tmp_path, pairs, name, model="test_layout_probe", model_config={}, task_options={},
                      max_steps=4, epochs=2, **kw)

    def layout(name):
        return json.loads((tmp_path / name / "config.json").read_text())["memory_format"]

    first = train(cfg("old", memory_format="contiguous"), stop_after=2)
    saved = torch.load(first.checkpoint, weights_only=False)  # our own file: drop the key, as old files lack it
    del saved["train_state"]["train_config"]["memory_format"]
    torch.save(saved, first.checkpoint)
    train(cfg("old"), resume=True)
    assert layout("old") == "contiguous"

    train(cfg("moved", memory_format="contiguous"), stop_after=2)
    moved = train(cfg("moved", memory_format="channels_last"), resume=True)
    assert layout("moved") == "channels_last"
    moments = [v for s in moved.task.optimizers["model"].state.values() for v in s.values()
               if torch.is_tensor(v) and v.ndim == 4]
    assert moments and all(v.is_contiguous(memory_format=torch.channels_last) and not v.is_contiguous()
                           for v in moments)

    five = dict(model="test_layout_5d", model_config={}, task_options={}, max_steps=1)
    assert train(config(tmp_path, pairs, "five", **five)).step == 1 and layout("five") == "contiguous"
    with pytest.raises(DustbenchError, match="cannot train with memory_format=channels_last"):
        train(config(tmp_path, pairs, "five_nhwc", memory_format="channels_last", **five))
