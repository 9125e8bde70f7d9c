"""Training and exporting the way the ecosystem expects: fine-tuning from published weights or a
checkpoint (--init-from), TensorBoard logs beside history.csv, a Hugging Face ModelCard, and the
folder `export --push-to-hub` uploads."""
from __future__ import annotations

import json
import sys

import pytest
import torch
from huggingface_hub import ModelCard

from dustbench.cli import main
from dustbench.cli.train import build_config
from dustbench.data import Sample
from dustbench.errors import DustbenchError
from dustbench.hub import stage, staged_files
from dustbench.models.checkpoint import read_checkpoint
from dustbench.train import train
from dustbench.train.export import export_model, model_files

from test_trainer import config, tiny_pairs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def pairs():
    return tiny_pairs()


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, pairs):
    """A 3-step run with validation: the weights the other runs start from."""
    tmp = tmp_path_factory.mktemp("base")
    val = [Sample(f"v{i}", d, c, m) for i, (d, c, m) in enumerate(pairs)]
    return train(config(tmp, pairs, "base", max_steps=3, val=val))


def test_init_from_a_checkpoint_loads_its_weights_with_a_fresh_optimizer(tmp_path, pairs, base_run):
    # lr 0: the parameters cannot move, so the fine-tuned run must end with exactly the starting ones
    # (batch-norm running statistics do move: they are buffers, updated by every training forward pass)
    tuned = train(config(tmp_path, pairs, "tuned", max_steps=2, lr=0.0, init_from=str(base_run.checkpoint)))
    start, end = read_checkpoint(base_run.checkpoint), read_checkpoint(tuned.checkpoint)
    params = [k for k, _ in tuned.task.modules()["model"].named_parameters()]
    assert len(params) > 10 and all(torch.equal(start["state_dict"][k], end["state_dict"][k]) for k in params)
    fresh = train(config(tmp_path, pairs, "fresh", max_steps=2, lr=0.0))  # the same run without --init-from
    assert not torch.equal(read_checkpoint(fresh.checkpoint)["state_dict"][params[0]], start["state_dict"][params[0]])
    adam = end["train_state"]["optimizers"]["model"]["state"][0]
    assert int(adam["step"]) == 2  # a fresh optimizer: its own two steps, not the base run's five
    record = end["meta"]["init_from"]
    assert record["source"] == str(base_run.checkpoint) and record["steps"] == 3
    saved = json.loads((tmp_path / "tuned" / "config.json").read_text())
    assert saved["init_from"] == record and saved["train"]["init_from"] == str(base_run.checkpoint)
    resumed = train(config(tmp_path, pairs, "tuned", max_steps=3, lr=0.0, init_from=str(base_run.checkpoint)),
                    resume=True)  # weights now come from the run's own checkpoint; the record stays
    assert read_checkpoint(resumed.checkpoint)["meta"]["init_from"] == record
    with pytest.raises(DustbenchError, match="trained with config"):
        train(config(tmp_path, pairs, "wider", max_steps=1, model_config={"width": 16},
                     init_from=str(base_run.checkpoint)))


def test_cli_init_from_reaches_the_config(tmp_path):
    from dustbench.cli import build_parser

    args = build_parser().parse_args(["train", "dust_gan", "--out", str(tmp_path), "--init-from", "dust_gan",
                                      "--no-tensorboard", "--quiet"])
    cfg = build_config(args)
    assert cfg.init_from == "dust_gan" and cfg.tensorboard is False


def test_tensorboard_events_hold_every_logged_scalar(tmp_path, pairs, base_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(base_run.out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss/total", "loss/pixel", "train/lr", "val/psnr", "val/ssim", "val/psnr_identity"} <= tags
    for tag in tags - {t for t in tags if t.startswith("train_step/")}:  # per-step scalars: below
        group, _, name = tag.partition("/")
        column = {"loss": f"loss_{name}", "val": f"val_{name}", "train": name}[group]
        logged = [(e.step, e.value) for e in events.Scalars(tag)]
        want = [(r["step"], r[column]) for r in base_run.rows if column in r]
        assert [s for s, _ in logged] == [s for s, _ in want], tag
        assert [v for _, v in logged] == pytest.approx([v for _, v in want], rel=1e-6), tag  # float32 in files


@pytest.mark.parametrize("counter", [0, 8])
def test_resumed_run_does_not_log_a_step_twice(tmp_path, pairs, monkeypatch, counter):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.summary.writer import event_file_writer

    # 8: the event files' per-process counter goes 8, 9, 10, and "…10" sorts before "…9" within a second
    monkeypatch.setattr(event_file_writer._global_uid, "_value", counter)
    run = lambda **kw: train(config(tmp_path, pairs, "r", max_steps=6, val_every=1), **kw)  # noqa: E731
    run(stop_after=2)
    at_two = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    run(resume=True, stop_after=1)  # logs step 3 ...
    (tmp_path / "r" / "checkpoint.pt").write_bytes(at_two)  # ... then "crashes" before its checkpoint lands
    final = run(resume=True)  # step 3 again: its first events must be dropped
    events = EventAccumulator(str(tmp_path / "r" / "tensorboard"))
    events.Reload()
    logged = [e.step for e in events.Scalars("loss/total")]
    assert logged == [r["step"] for r in final.rows] and logged.count(3) == 1 and logged[-1] == 6


def test_without_tensorboard_a_note_and_no_event_files(tmp_path, pairs, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    result = train(config(tmp_path, pairs, "plain", max_steps=1))
    assert "tensorboard is not installed" in capsys.readouterr().err
    assert (result.out / "history.csv").is_file() and not (result.out / "tensorboard").exists()


def test_model_card_is_a_hugging_face_model_card_and_the_push_folder(tmp_path, base_run, monkeypatch, capsys):
    model = tmp_path / "gan.pt"
    info = export_model(base_run.checkpoint, model, dataset_ids=["me/dust"], pretrained_dir=tmp_path / "published")
    card = ModelCard.load(tmp_path / "gan.card.md")
    assert card.data.library_name == "dustbench" and card.data.pipeline_tag == "image-to-image"
    assert card.data.license == "bsd-3-clause"  # the Hub asks every card for one
    assert {"dustbench", "dust_gan", "torchscript"} <= set(card.data.tags) and card.data.datasets == ["me/dust"]
    assert card.data.metrics == ["psnr", "ssim"]
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"psnr": round(info["validation"]["val_psnr"], 4), "ssim": round(info["validation"]["val_ssim"], 4)}
    assert "## Validation" in card.text and "val_psnr" in json.loads((tmp_path / "gan.card.json").read_text())["validation"]
    published = json.loads((tmp_path / "published" / "manifest.json").read_text())["models"]["dust_gan"]
    assert published["config"] == {"width": 8} and published["steps"] == 3 and published["source"] == model.as_posix()

    staged = stage(model_files(model), tmp_path / "staged")
    assert staged_files(staged) == ["README.md", "gan.card.json", "gan.pt"]
    assert (staged / "README.md").read_text() == (tmp_path / "gan.card.md").read_text()
    pushed = []
    monkeypatch.setattr("dustbench.cli._args.push", lambda folder, repo, kind, **kw: pushed.append(
        (staged_files(folder), repo, kind, kw)) or "url")
    out = tmp_path / "cli.pt"
    assert main(["export", str(base_run.checkpoint), "--out", str(out), "--push-to-hub", "me/gan", "--private"]) == 0
    assert pushed == [(["README.md", "cli.card.json", "cli.pt"], "me/gan", "model", {"private": True})]
    assert main(["export", str(base_run.checkpoint), "--out", str(out), "--no-card", "--push-to-hub", "me/gan"]) == 2


def test_tensorboard_shows_a_run_from_its_first_step(tmp_path, pairs):
    """A short run used to show nothing until its first logged row: every step's losses and lr are
    scalars now (train_step/...), flushed at once for the first step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train(config(tmp_path, pairs, "short", max_steps=3))
    events = EventAccumulator(str(result.out / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train_step/total")] == [1, 2, 3]
    assert len(events.Scalars("train_step/lr")) == 3


def test_a_resumed_runs_event_file_sorts_after_the_earlier_ones(tmp_path):
    # readers take event files in name order: second, host, pid, then a counter written as text
    pytest.importorskip("tensorboard")
    import os
    import socket
    import time

    from dustbench.train.runlog import summary_writer

    folder = tmp_path / "tb"
    folder.mkdir()
    # this process's own name pattern, with a counter ("999999999") that sorts after any it will use
    earlier = folder / f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.999999999"
    earlier.write_bytes(b"")
    writer = summary_writer(folder, [{"step": 3}])
    writer.close()
    names = sorted(p.name for p in folder.iterdir())
    assert names[0] == earlier.name and len(names) == 2
    future = folder / f"events.out.tfevents.{int(time.time()) + 60:010d}.host.1.1"  # a clock that ran ahead
    future.write_bytes(b"")
    start = time.monotonic()
    summary_writer(folder, [{"step": 3}]).close()
    assert time.monotonic() - start < 2.5  # waits at most 1.5 s, not the minute
