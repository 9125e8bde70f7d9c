"""The real-dev contact sheet: per image, damaged / clean / each method / what each method changed.

One row per image (a crop around its damage, or the whole frame), columns titled. The change maps
colour the harness's own pixel classes (:func:`dustbench.report.real_dev.change_classes`) over a dimmed
grey copy of the input: red = changed outside the damage region (false positives: the clean-pixel
change rate), green = changed inside it, blue = visibly damaged and left unchanged (missed). The sheet
shows the data's pixels, so it belongs in a git-ignored folder (``runs/``), never in ``docs/``.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from ..io import atomic_path, read_image, to_float
from ..sheets import busiest_crop, to_display
from .real_dev import change_classes

RED, GREEN, BLUE = (235, 40, 40), (40, 215, 60), (60, 120, 255)
LEGEND = ("change maps: red = changed outside the damage region (mask dilated 3 px), green = changed inside "
          "it, blue = visibly damaged and not changed; grey = the input, dimmed")


def change_map(damaged: np.ndarray, classes: dict) -> np.ndarray:
    """uint8 RGB: the input as dimmed grey with the three change classes coloured on top."""
    f = to_float(damaged)
    grey = f.mean(axis=2) if f.ndim == 3 else f
    out = np.repeat((40 + 90 * np.clip(grey, 0, 1))[:, :, None], 3, axis=2).astype(np.uint8)
    for key, colour in (("outside", RED), ("inside", GREEN), ("missed", BLUE)):
        out[classes[key]] = colour
    return out


def crop_of(mask: np.ndarray, crop: int) -> tuple[slice, slice]:
    """A ``crop``-px square around the most damage (the whole frame for ``crop`` <= 0)."""
    m = mask.max(axis=2) if mask.ndim == 3 else mask
    if crop <= 0:
        return slice(0, m.shape[0]), slice(0, m.shape[1])
    return busiest_crop((m > 0).astype(np.float32), crop)


def _cell(fig, shape, index, image, title=None, xlabel=None, ylabel=None):
    ax = fig.add_subplot(*shape, index)
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title("\n".join(textwrap.wrap(title, 18, break_on_hyphens=False)), fontsize=8)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=6.5)
    if ylabel:
        ax.set_ylabel("\n".join(textwrap.wrap(ylabel, 16, break_on_hyphens=False)), fontsize=7)
    return ax


def _row_cells(data: Path, image_id: str, entries: list[tuple], crop: int) -> list[tuple]:
    """(image, column title, caption) for one image's row."""
    damaged, clean, mask = (read_image(data / part / f"{image_id}.png") for part in ("damaged", "clean", "mask"))
    sl = crop_of(mask, crop)
    cells = [(to_display(damaged[sl]), "damaged", None), (to_display(clean[sl]), "clean (reference)", None)]
    maps = []
    for label, images, per_image in entries:
        restored = read_image(images / f"{image_id}.png")
        stats = per_image.get(image_id, {})
        cells.append((to_display(restored[sl]), label, f"{min(stats.get('psnr', np.nan), 100):.2f} dB (whole)"))
        classes = change_classes(damaged, restored, clean, mask)
        n_out = max(int((~classes["region"]).sum()), 1)
        rate = 100 * classes["outside"].sum() / n_out
        hit = classes["visible"].sum() - classes["missed"].sum()
        recall = f"{hit / classes['visible'].sum():.2f}" if classes["visible"].any() else "–"
        maps.append((change_map(damaged[sl], {k: v[sl] for k, v in classes.items()}), f"changed: {label}",
                     f"out {rate:.2f} % · R {recall}"))
    return cells + maps


def contact_sheet(data: Path, ids: list[str], entries: list[tuple], path: Path, crop: int = 128,
                  title: str = "real-dev") -> Path:
    """Write the sheet to ``path``. ``entries`` are ``(label, folder of restored images, per-image
    stats {id: {"psnr": ...}})``, one per method column (identity is left out by the caller: it is the
    damaged column)."""
    from matplotlib.figure import Figure  # deferred: matplotlib is only needed for the picture

    n_cols = 2 + 2 * len(entries)
    fig = Figure(figsize=(1.55 * n_cols, 1.75 * len(ids) + 1.2))
    where = "whole frames" if crop <= 0 else f"{crop}×{crop} px crops around the most damage"
    fig.suptitle(f"{title}: {where}; PSNR under each output is the whole image's", fontsize=10)
    for r, image_id in enumerate(ids):
        for c, (image, col_title, caption) in enumerate(_row_cells(data, image_id, entries, crop)):
            _cell(fig, (len(ids), n_cols), r * n_cols + c + 1, image, col_title if r == 0 else None, caption,
                  image_id if c == 0 else None)
    fig.text(0.01, 0.005, LEGEND + ".\nreal-dev pixels (GPL-3.0 / MIT): a development check only; keep this file "
             "out of the repository.", fontsize=7, va="bottom", ha="left")
    fig.subplots_adjust(left=0.05, right=0.995, top=1 - 0.9 / fig.get_figheight(), bottom=0.6 / fig.get_figheight(),
                        wspace=0.06, hspace=0.32)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path
