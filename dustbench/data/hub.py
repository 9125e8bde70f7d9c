"""``make-dataset --push-to-hub REPO``: the files of a finished dataset that go to the Hub.

The upload keeps the ``save_to_disk`` layout, so both ways of reading it work: ``load_dataset(REPO)``
(the card's ``configs`` point at each split's Arrow files) and ``load_from_disk`` of a download
(``huggingface_hub.snapshot_download(REPO, repo_type="dataset")``), which keeps 16-bit images.
"""
from __future__ import annotations

from pathlib import Path

from .codec import MANIFEST, SPLITS, read_dataset_manifest

TOP_FILES = ("README.md", "preview.png", MANIFEST, "dataset_dict.json")


def dataset_files(out) -> dict[str, Path]:
    """Repository path -> local file for a finished make-dataset folder (nothing from ``.work``)."""
    root = Path(out)
    read_dataset_manifest(root)  # DustbenchError unless the dataset is finished
    files = {name: root / name for name in TOP_FILES if (root / name).is_file()}
    for split in SPLITS:
        files.update({f"{split}/{p.name}": p for p in sorted((root / split).iterdir()) if p.is_file()})
    return files
