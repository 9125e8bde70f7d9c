"""benchmarks/bench_real_dev.py on a tiny hand-made real-dev-like folder: its table matches an
independent computation, it writes the contact sheet and the figures, and it skips cleanly without data."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from dustbench.io import read_image, write_image

def _pairs(root: Path, n: int = 3, size: int = 32) -> list[str]:
    """damaged/ clean/ mask/ PNGs like real-dev's: smooth colour images with bright specks and a hair."""
    rng = np.random.default_rng(7)
    ids = []
    yy, xx = np.mgrid[0:size, 0:size]
    for k in range(n):
        base = np.stack([60 + 3 * xx + 10 * k, 90 + 2 * yy, 140 + xx // 2], axis=2).astype(np.float64)
        clean = np.clip(base + rng.normal(0, 2, base.shape), 0, 255).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        for _ in range(3):
            y, x = rng.integers(4, size - 4, 2)
            mask[y - 1:y + 2, x - 1:x + 1] = 255
        mask[5 + k, 6:20] = 255  # a thin hair
        damaged = clean.copy()
        damaged[mask > 0] = np.minimum(255, clean[mask > 0].astype(int) + 90)
        image_id = f"img{k}"
        for part, img in (("damaged", damaged), ("clean", clean), ("mask", mask)):
            write_image(root / part / f"{image_id}.png", img)
        ids.append(image_id)
    return ids


def _independent_changed_outside(damaged, restored, mask) -> float:
    """Share of pixels outside mask > 0 (dilated 3 px) that the output changed by more than 2 levels."""
    region = cv2.dilate((mask > 0).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    touched = (np.abs(restored.astype(int) - damaged.astype(int)) > 2 * 255 / 255).any(axis=2)
    return float(touched[~region].mean())


def test_table_matches_independent_psnr_and_sheet_is_written(tmp_path, capsys, load_benchmark):
    data, out = tmp_path / "real-dev", tmp_path / "out"
    ids = _pairs(data)
    bench = load_benchmark("bench_real_dev")
    rc = bench.main(["--data", str(data), "--out", str(out), "--rows", "identity", "oracle_inpaint", "--crop", "16"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# dustbench ")  # the benchmark header first
    assert "development checks only" in printed
    figs = {f["row"]: f for f in json.loads((out / "real_dev.json").read_text())["rows"]}
    assert list(figs) == ["identity", "oracle_inpaint"]

    def clean(i):
        return read_image(data / "clean" / f"{i}.png")
    ref = {i: peak_signal_noise_ratio(clean(i), read_image(data / "damaged" / f"{i}.png"), data_range=255) for i in ids}
    oracle_images = out / "results" / "oracle_inpaint" / "images"
    ora = {i: peak_signal_noise_ratio(clean(i), read_image(oracle_images / f"{i}.png"), data_range=255) for i in ids}
    ident, oracle = figs["identity"], figs["oracle_inpaint"]
    assert np.isclose(ident["psnr"], np.mean(list(ref.values())), rtol=0, atol=1e-9)
    assert np.isclose(oracle["psnr"], np.mean(list(ora.values())), rtol=0, atol=1e-9)
    assert np.isclose(oracle["delta_psnr"], np.mean([ora[i] - ref[i] for i in ids]), rtol=0, atol=1e-9)
    assert oracle["psnr"] > ident["psnr"] + 3  # Telea on the true mask repairs these specks
    assert int(oracle["delta_psnr_wins"]) == len(ids)
    assert ident["clean_change_rate"] == 0 and ident["pooled"]["outside"] == 0
    assert ident["touch_recall"] == 0 and ident["pooled"]["recall"] == 0
    assert oracle["pooled"]["recall"] > 0.9

    rates = [_independent_changed_outside(read_image(data / "damaged" / f"{i}.png"),
                                          read_image(oracle_images / f"{i}.png"),
                                          read_image(data / "mask" / f"{i}.png")) for i in ids]
    assert np.isclose(oracle["clean_change_rate"], np.mean(rates), rtol=0, atol=1e-12)

    line = next(ln for ln in printed.splitlines() if ln.startswith("identity "))
    assert f"{np.mean(list(ref.values())):.2f}" in line
    line = next(ln for ln in printed.splitlines() if ln.startswith("oracle_inpaint [oracle]"))
    assert f"{np.mean(list(ora.values())):.2f}" in line and f"{oracle['delta_psnr']:+.2f}" in line

    sheet = out / "contact_sheet.png"
    assert sheet.is_file()
    image = read_image(sheet)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300


def test_skips_cleanly_without_the_folder(tmp_path, capsys, load_benchmark):
    out = tmp_path / "out"
    assert load_benchmark("bench_real_dev").main(["--data", str(tmp_path / "absent"), "--out", str(out)]) == 0
    assert "not found" in capsys.readouterr().out
    assert not out.exists()


def test_refuses_to_write_into_docs(tmp_path, capsys, load_benchmark):
    data = tmp_path / "real-dev"
    _pairs(data, n=1)
    bench = load_benchmark("bench_real_dev")
    assert bench.main(["--data", str(data), "--out", str(bench.ROOT / "docs" / "real_dev_out")]) == 2
    assert not (bench.ROOT / "docs" / "real_dev_out").exists()
