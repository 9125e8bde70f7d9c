"""What a model file's card says about it: the name and the training data a leaderboard row shows.

``dustbench export`` writes ``NAME.card.json`` beside ``NAME.pt`` (:mod:`dustbench.train.export`).
A card counts only when its ``sha256`` is that of the file (a re-exported file with an old card
beside it is another model). Without a card a file is named ``file:NAME.pt`` and its training data
is whatever ``--train-data`` said.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..hashing import file_sha256


def card_path(model_path) -> Path:
    path = Path(model_path)
    return path.with_name(f"{path.stem}.card.json")


def read_card(model_path, sha256: str | None = None) -> dict | None:
    """The card beside ``model_path`` when there is a readable one for these very bytes, else None."""
    path = card_path(model_path)
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        sha256 = sha256 or file_sha256(model_path)
    except (OSError, ValueError):
        return None
    if not isinstance(card, dict) or not card.get("model") or card.get("sha256") != sha256:
        return None
    return card


def fmt_duration(seconds) -> str:
    """``4h05m``, ``15m00s`` or ``42s``: how cards, boards and the CLI write a wall time."""
    s = int(round(float(seconds)))
    return f"{s // 3600}h{(s % 3600) // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def card_train_data(card: dict) -> str:
    """One line on what the model was trained on, e.g. ``builtin-train (*_scan_*), 861 steps, 15m00s on 1× cpu``."""
    t = card.get("training") or {}
    data, cfg = t.get("data") or {}, t.get("train_config") or {}
    name = data.get("name") or cfg.get("data") or "unknown data"
    presets = data.get("presets") or cfg.get("presets")
    scale = cfg.get("scan_scale")
    what = f"{name} ({presets}" + (f", scan scale {scale}" if scale else "") + ")" if presets else str(name)
    parts = [what]
    if t.get("steps") is not None:
        parts.append(f"{t['steps']} steps")
    if t.get("wall_time_s") is not None:
        parts.append(f"{fmt_duration(t['wall_time_s'])} on {t.get('world_size') or 1}× {t.get('device') or '?'}")
    if cfg.get("init_from"):
        parts.append(f"from {cfg['init_from']}")
    return ", ".join(parts)


_BUILTIN_NAMES = ("builtin", "builtin-train")
_BUILTIN_ONLY = "trained on a handful of built-in images: expect over-fitting to those scenes"


def _clean_kinds(data) -> tuple[set, set]:
    """({"builtin", "procedural", "own"} present, procedural kinds named) in a training data record:
    a stream's ``sources`` spec (parts joined by ``+``) or a patch pool's image ids."""
    if not isinstance(data, dict):
        return ({"builtin"} if "builtin-train" in str(data) else set()), set()
    parts = str(data["sources"]).split("+") if data.get("sources") else [str(i) for i in data.get("images") or []]
    present, drawn = set(), set()
    for part in parts:
        name, _, arg = part.partition(":")
        if part in _BUILTIN_NAMES or name == "skimage":
            present.add("builtin")
        elif name == "procedural":
            present.add("procedural")
            drawn.add(arg.partition(":")[0] or "every kind")
        else:  # a folder or a dataset: the user's own images, of which the record says nothing
            present.add("own")
    return present, drawn


def clean_images_caveat(data) -> str | None:
    """What the clean images a model learned from lack, read from its training data record (None when
    they include the user's own images, or the record does not say): the card's caveat line."""
    present, drawn = _clean_kinds(data)
    if not present or "own" in present:
        return None
    if present == {"builtin"}:
        return _BUILTIN_ONLY
    scenes = ("procedural scenes of every kind" if "every kind" in drawn
              else f"procedural scenes ({', '.join(sorted(drawn))})")
    if present == {"procedural"}:
        return f"trained on {scenes} only, no photograph or film scan: expect a gap on real scans"
    return (f"trained on a handful of built-in photographs and {scenes}, no film scan: expect a gap on real "
            "scans' grain and texture")


def card_name(card: dict, model_path) -> str:
    """The row's method name: the name the file was exported (published) under, as its card records it,
    so a user's evaluation of ``gated.pt`` reproduces the board's ``gated`` row, not segnet's (same
    family, other operating point). Cards that record no file name: the family, with the file's name
    when that differs."""
    published = card.get("name") or (Path(str(card["file"])).stem if card.get("file") else None)
    if published:
        return str(published)
    path = Path(model_path)
    return card["model"] if path.stem == card["model"] else f"{card['model']} ({path.name})"


def card_record(card: dict, model_path) -> dict:
    """What ``summary.json`` keeps of the card (``model_card``)."""
    return {"card": str(card_path(model_path)), "model": card["model"], "name": card_name(card, model_path),
            "sha256": card["sha256"], "parameters": card.get("parameters"), "kind": card.get("kind", "restorer"),
            "train_data": card_train_data(card)}
