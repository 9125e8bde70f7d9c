"""The dataset card (``README.md``) and preview grid (``preview.png``) of a make-dataset output."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..io import write_image, write_text_atomic
from ..sheets import contact_sheet
from ..synth.families import FAMILIES, TABLE
from .codec import SPLITS, decode_image, features, load_split, split_families

# Display colours of the family ids 0..N (none, then each family's colour from synth/families.py).
PALETTE = np.array([(0, 0, 0), *(f.colour for f in TABLE)], dtype=np.uint8)
MAX_SOURCE_ROWS = 1000  # longer source lists are summarised in the card (all are in dustbench.json)


def colour_labels(labels: np.ndarray) -> np.ndarray:
    return PALETTE[np.minimum(labels, len(PALETTE) - 1)]


def _shrink(image: np.ndarray, height: int, interp: int) -> np.ndarray:
    """Scale down to `height` in the image's own dtype before display (24 MP rows stay cheap)."""
    h, w = image.shape[:2]
    if h <= height:
        return image
    return cv2.resize(image, (max(1, round(w * height / h)), height), interpolation=interp)


def write_preview(out: Path, per_split: dict[str, int] | None = None, height: int = 192) -> Path | None:
    """A grid of damaged | clean | mask | family labels for the first rows of each split."""
    per_split = per_split or {"test": 2, "validation": 1, "train": 4}
    rows, captions = [], []
    for split, n in per_split.items():
        ds = load_split(out, split)
        picks = sorted({i * len(ds) // n for i in range(n)}) if len(ds) else []  # spread over the sources
        meta = ds.select_columns(["id", "presets", "source", "families"])
        for i in picks:
            row = meta[i]
            small = []
            for col in ("damaged", "clean", "mask", "labels"):  # one full-size image in memory at a time
                image = decode_image(ds.select_columns([col])[i][col])
                small.append(_shrink(image, height, cv2.INTER_NEAREST if col == "labels" else cv2.INTER_AREA))
                del image
            small[3] = colour_labels(small[3])
            rows.append(small)
            fams = ",".join(split_families(row["families"])) or "none"
            captions.append([f"{row['id']} {row['presets'][0]}", row["source"], "mask", fams])
    if not rows:
        return None
    path = out / "preview.png"
    write_image(path, contact_sheet(rows, captions, height=height))
    return path


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _scale_note(scale) -> str:
    if scale is None:
        return "Scale: every source image is drawn as a whole film frame (sizes relative to its short side)."
    what = f"{scale[0]}–{scale[1]} px (log-uniform per row)" if isinstance(scale, list) else f"{scale} px"
    return (f"Scale: every source image is a crop of a film frame whose short side is {what}; damage has the "
            "pixel size and density of that scan (each row's `params` records its `scan_scale`).")


TAGS = ["dustbench", "film-restoration", "image-restoration", "synthetic"]
PRETTY_NAME = "dustbench synthetic dust & scratch damage"


def _size_category(rows: int) -> str:
    """The Hub's ``size_categories`` bucket of a row count."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if rows < limit:
            return name
    return "10M<n<100M"


def card_metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML front matter: Hub fields, ``configs`` (the Arrow files of each split, as
    ``save_to_disk`` writes them, so ``load_dataset(REPO)`` reads a pushed folder) and ``dataset_info``."""
    import datasets as hf  # the YAML form of the features is datasets' own, so its parser reads it back

    splits = manifest["splits"]
    info = hf.DatasetInfo(features=features(manifest["storage"], bool(manifest.get("infrared"))), splits=hf.SplitDict(
        {s: hf.SplitInfo(s, num_bytes=int(splits[s].get("num_bytes", 0)), num_examples=int(splits[s]["rows"]))
         for s in SPLITS}), dataset_size=sum(int(splits[s].get("num_bytes", 0)) for s in SPLITS))
    # The images' licences are their sources' (often several, or not given): the Hub's "other" with
    # a name and a link to the card's own table of them, as its metadata check asks.
    return {"license": "other", "license_name": "licences-of-the-source-images",
            "license_link": "README.md#sources-and-licences", "task_categories": ["image-to-image"], "tags": TAGS,
            "pretty_name": PRETTY_NAME,
            "size_categories": [_size_category(sum(splits[s]["rows"] for s in SPLITS))],
            "configs": [{"config_name": "default", "default": True,
                         "data_files": [{"split": s, "path": f"{s}/data-*.arrow"} for s in SPLITS]}],
            "dataset_info": info._to_yaml_dict()}


def _storage_note(manifest: dict[str, Any]) -> str:
    channels = {"3": "3 channels (RGB; grey sources repeated)", "1": "1 channel (grey; RGB sources as BT.601 luma)",
                "keep": "the channels of each source"}[manifest.get("channels", "keep")]
    uniform = len(manifest.get("image_channels") or []) == 1
    collate = (" Images of a split have one channel count (train patches also one size), and `families` is one "
               "`;`-joined string, so torch's default `collate_fn` batches train rows."
               if uniform else " The sources mix grey and RGB (`--channels keep`): rows differ in channels.")
    if manifest["storage"] == "image":
        return ("`datasets.Image()` columns of lossless PNG bytes (8-bit, or 16-bit grey): `ds[i]['clean']` is a PIL "
                f"image and `.with_format('torch')` yields integer C×H×W tensors. `damaged`/`clean` have {channels}."
                + collate)
    return ("`Value('binary')` columns of lossless **16-bit** PNG bytes, because `datasets.Image` would decode "
            "16-bit RGB to 8 bits. Decode with `dustbench.data.decode_image(bytes)`, or read with "
            f"`dustbench.data.iter_split` / `dustbench.data.as_torch`. `damaged`/`clean` have {channels}." + collate)


def _infrared_note(manifest: dict[str, Any]) -> str:
    """What the ``infrared`` column holds, for a dataset made with ``--infrared`` ("" otherwise)."""
    film = manifest.get("infrared")
    if not film:
        return ""
    return (f" `infrared`: the infrared plane a film scanner would see of `damaged` on film type `{film}` "
            "(16-bit grey PNG, one H×W plane; dust and dirt dark in it, see dustbench's docs/infrared.md), "
            "drawn with `params['infrared']`, so `regenerate` rebuilds it too; `dustbench evaluate` hands it "
            "to the methods of the infrared track.")


def _loading(manifest: dict[str, Any]) -> list[str]:
    return [
        "## Loading", "",
        "```python", "import datasets, torch, dustbench.data",
        "dd = datasets.load_from_disk(PATH)                      # train / validation / test",
        "for row in dustbench.data.iter_split(PATH, 'test'):    # numpy, source dtype (16-bit kept)",
        "    row['damaged'], row['clean'], row['mask'], row['labels'], row['families']",
        "train = dustbench.data.as_torch(PATH)['train']          # float32 C×H×W tensors in [0, 1]",
        "loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)",
        "```", "",
        f"Storage: {_storage_note(manifest)} Columns: `id`, `damaged`, `clean`, `mask` (artifact opacity in the "
        "source's bit depth, rounded up: `mask > 0` is the artifact region), `labels` (uint8 family ids, 0 = none, "
        + ", ".join(f"{f.id} = {f.name}" for f in TABLE) + "), `families` (present in the row, "
        "`;`-joined), `presets`, `params` (JSON: `dustbench.regenerate(clean, json.loads(params))` rebuilds the "
        "row), `source`, `sample_seed` (`SeedSequence(sample_seed)` drew the row), `frame_shape`, `box` "
        "(the row's crop of the source), `dtype`." + _infrared_note(manifest)
        + " Train rows are grouped by source: shuffle them for training.", ""]


def card_text(manifest: dict[str, Any], presets, preview: bool) -> str:
    """The whole card: a ``huggingface_hub.DatasetCard`` (YAML front matter, then markdown)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    plan, splits = manifest["plan"], manifest["splits"]
    cfg = manifest["config"]
    by_id = {r["id"]: (name, r) for name, recs in plan["splits"].items() for r in recs}
    licences = Counter(r.get("licence") or "unknown (not given by the source)" for _, r in by_id.values())
    parts = [
        f"# {PRETTY_NAME}", "",
        "Clean photographs with procedurally synthesised film damage (dust, dirt, hair, lint, scratches, "
        "blotches): training patches and full-size validation/test images, split by source photograph.", "",
        "## How it was made", "", "```", manifest["command"], "```", "",
        f"dustbench {manifest['dustbench_version']}, seed {cfg['seed']}, clean source `{manifest['clean']}`, "
        f"train patches {cfg['patch']}×{cfg['patch']} px, `--channels {manifest.get('channels', 'keep')}`. "
        "Re-running the command gives the same bytes (any `--num-proc`, any `--shard i/n`).", "",
        _scale_note(manifest.get("scan_scale")), "",
        *([f"Infrared: every row has an `infrared` column, the scanner's infrared plane for film type "
           f"`{manifest['infrared']}` (see Loading).", ""] if manifest.get("infrared") else []),
        "## Splits", "",
        _table(["split", "rows", "source images", "rows are", "fingerprint"],
               [[s, splits[s]["rows"], len(splits[s]["sources"]),
                 f"{cfg['patch']}×{cfg['patch']} patches" if s == "train" else "full-size images",
                 f"`{splits[s]['fingerprint']}`"] for s in SPLITS]), "",
        "No source image (and no identical copy of one) appears in two splits.", "",
        *_loading(manifest),
        "## Counts per family", "",
        "Rows with at least one labelled pixel of the family, and artifacts drawn into those rows.", "",
        _table(["family"] + [f"{s} rows" for s in SPLITS] + [f"{s} artifacts" for s in SPLITS],
               [[f] + [splits[s]["rows_with"].get(f, 0) for s in SPLITS]
                + [splits[s]["artifacts"].get(f, 0) for s in SPLITS] for f in FAMILIES]), "",
        "## Presets", "", f"Each row draws one of these {len(presets)} presets at random:", "",
        _table(["preset", "family", "description"], [[p.name, p.family, p.description] for p in presets]), "",
        "## Sources and licences", "",
        _table(["licence", "images"], [[k, v] for k, v in sorted(licences.items())]), "",
    ]
    parts += _sources_and_left_out(manifest, by_id)
    if preview:
        parts += ["## Preview", "", "damaged | clean | mask | family labels", "", "![preview](preview.png)", ""]
    data = DatasetCardData(**card_metadata(manifest))
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(parts)))


def _sources_and_left_out(manifest: dict[str, Any], by_id: dict) -> list[str]:
    """The source table (first MAX_SOURCE_ROWS) and what was left out, and why."""
    plan, splits, cfg = manifest["plan"], manifest["splits"], manifest["config"]
    ids = sorted(by_id)
    shown = ids[:MAX_SOURCE_ROWS]
    parts = [_table(["source", "split", "licence", "size", "dtype"],
                     [[i, by_id[i][0], by_id[i][1].get("licence") or "unknown",
                       "×".join(str(v) for v in by_id[i][1]["shape"]), by_id[i][1]["dtype"]] for i in shown])]
    if len(ids) > len(shown):
        parts += ["", f"({len(ids) - len(shown)} more: see `dustbench.json`.)"]
    skipped = [s for sp in SPLITS for s in splits[sp]["skipped"]]
    parts += ["", "## Left out", "",
              f"- {len(plan['duplicates'])} duplicate image(s) (identical to another source, which was kept)"
              + "".join(f"\n  - `{a}` = `{b}`" for a, b in plan["duplicates"][:50]),
              f"- {len(plan['too_small'])} image(s) smaller than the {cfg['patch']}-px patch"
              + "".join(f"\n  - `{a}` ({'×'.join(map(str, s))})" for a, s in plan["too_small"][:50]),
              f"- {len(plan['unreadable'])} unreadable file(s)"
              + "".join(f"\n  - {e}" for _, e in plan["unreadable"][:50]),
              f"- {len(skipped)} row(s) skipped while writing" + "".join(f"\n  - {a}: {e}" for a, e in skipped[:50]),
              ""]
    return parts


def write_card(out: Path, manifest: dict[str, Any], presets) -> Path:
    preview = write_preview(out) is not None
    path = out / "README.md"
    write_text_atomic(path, card_text(manifest, presets, preview))
    return path
