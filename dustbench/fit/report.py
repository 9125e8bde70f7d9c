"""The fit report: outlines of the detected components on each scan, size histograms, statistics."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..io import atomic_path, write_image, write_json_atomic
from ..synth.families import fit_classes
from .classify import FIT_FAMILIES
from .estimate import BLOBS, preset_sizes, size_column

# One colour per fitted family (RGB, from synth/families.py), readable on photos: outlines are drawn
# 1 px, on a dark halo.
FAMILY_COLOURS = {cls: colour for cls, (_, colour) in fit_classes().items()}


def overlay(preview: np.ndarray, full_shape: tuple[int, int], outlines: list[tuple[np.ndarray, str]]) -> np.ndarray:
    """The scan's preview with every component's outline in its family's colour, and a legend."""
    out = cv2.cvtColor(preview, cv2.COLOR_RGB2BGR)
    f = preview.shape[0] / full_shape[0]
    for contour, fam in outlines:
        pts = np.rint((contour + 0.5) * f - 0.5).astype(np.int32).reshape(-1, 1, 2)
        if len(pts) == 1 or cv2.boundingRect(pts)[2:] <= (2, 2):  # too small to outline: a ring around it
            centre = tuple(int(v) for v in pts.reshape(-1, 2).mean(0))
            cv2.circle(out, centre, 4, (0, 0, 0), 2, cv2.LINE_AA)
            cv2.circle(out, centre, 4, FAMILY_COLOURS[fam][::-1], 1, cv2.LINE_AA)
            continue
        cv2.polylines(out, [pts], True, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.polylines(out, [pts], True, FAMILY_COLOURS[fam][::-1], 1, cv2.LINE_AA)
    y = 18
    present = sorted({fam for _, fam in outlines}, key=FIT_FAMILIES.index)
    for fam in present:
        cv2.putText(out, fam, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, fam, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.5, FAMILY_COLOURS[fam][::-1], 1, cv2.LINE_AA)
        y += 18
    return cv2.cvtColor(out, cv2.COLOR_BGR2RGB)


def histograms(fit, path: Path) -> None:
    """Per family: measured sizes against the fitted log-uniform law (same count)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = list(fit.stats)
    cols = min(3, len(fams))
    rows = math.ceil(len(fams) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, fam in zip(axes.flat, fams):
        col = size_column(fam) if fam != "lint" else "length per fibre"
        values = preset_sizes(fam, fit.components[fit.components["family"] == fam]).to_numpy()
        values = values[np.isfinite(values) & (values > 0)]
        key = "size" if fam in BLOBS else "length"
        lo, hi = fit.records[f"{fit.name}_{fam}"][key]
        edges = np.geomspace(min(values.min(), lo) * 0.9, max(values.max(), hi) * 1.1, 30)
        ax.hist(values, bins=edges, color=np.array(FAMILY_COLOURS[fam]) / 255, alpha=0.8, label="measured")
        # Expected count per bin of a log-uniform law on [lo, hi] with as many draws as measured.
        overlap = np.clip(np.log(np.minimum(edges[1:], hi) / np.maximum(edges[:-1], lo)), 0, None)
        expected = len(values) * overlap / max(math.log(hi / lo), 1e-12) if hi > lo else \
            len(values) * ((edges[:-1] <= lo) & (edges[1:] > lo))
        ax.step(edges[:-1], expected, where="post", color="k", label="fitted")
        ax.set_xscale("log")
        ax.set_title(f"{fam} ({len(values)})")
        ax.set_xlabel(f"{col} / short side")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(fams):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def write_report(run, folder: str | Path, stats: dict) -> list[Path]:
    """Overlays (one PNG per scan), size histograms and the statistics JSON into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    comps = run.fit.components
    # Every piece of a joined scratch is drawn in the scratch's family.
    families = {} if comps.empty else {(im, m): fam for im, members, fam in
                                       zip(comps["image"], comps["members"], comps["family"]) for m in members}
    shapes = {im.id: im.shape for im in run.fit.images}
    for image_id, preview in run.previews.items():
        outlines = [(c, families[key]) for key, c in run.outlines.items() if key[0] == image_id and key in families]
        path = folder / "components" / f"{image_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, overlay(preview, shapes[image_id], outlines))
        written.append(path)
    if run.fit.stats:
        histograms(run.fit, folder / "sizes.png")
        written.append(folder / "sizes.png")
    if not comps.empty:
        table = comps.drop(columns=["bbox", "colour", "frame", "stem_ends", "members", "path"], errors="ignore").assign(
            bbox=[" ".join(map(str, b)) for b in comps["bbox"]],
            colour=[" ".join(f"{v:.3f}" for v in c) for c in comps["colour"]],
            stem_ends=[" ".join(f"{v:.1f}" for v in e) for e in comps["stem_ends"]],
            members=[" ".join(map(str, m)) for m in comps["members"]])
        with atomic_path(folder / "components.csv") as tmp:
            table.to_csv(tmp, index=False, float_format="%.6g")
        written.append(folder / "components.csv")
    write_json_atomic(folder / "fit.json", stats)
    written.append(folder / "fit.json")
    return written
