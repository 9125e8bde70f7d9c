"""What a training run is told, as one value (:class:`TrainConfig`), checked when it is made."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import DustbenchError
from ..synth import DEFAULT_PRESETS
from ..synth.grain import parse_grain
from ..synth.scale import ScanScale, scale_label


# How modules and batches are laid out in memory. "auto" is NHWC on CPU, where oneDNN's convolutions
# train 1.2-2.1x faster in it (docs/performance.md), and NCHW elsewhere (not measured there).
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")


def resolve_memory_format(name: str, device_type: str) -> str:
    """The layout a run uses: ``name``, with "auto" decided by the device type."""
    if name == "auto":
        return "channels_last" if device_type == "cpu" else "contiguous"
    return name


@dataclass
class TrainConfig:
    """Everything a run depends on; defaults are the paper's (section 3.1) where it gives them."""

    model: str
    out: str
    data: Any = "builtin-train"        # see dustbench.data.train_sources.open_train_data
    model_config: dict = field(default_factory=dict)
    task_options: dict = field(default_factory=dict)
    init_from: str | None = None       # start from these weights (published name or checkpoint); fresh optimizer
    epochs: int = 200
    max_steps: int | None = None
    time_budget: float | None = None   # seconds of training (validation and checkpoints included)
    batch_size: int = 32
    patch: int = 128
    lr: float = 5e-4                   # Adam; decays linearly to 0 over the run
    seed: int = 0
    presets: str = DEFAULT_PRESETS
    pool: int = 256                    # builtin-train: damaged crops synthesized once and re-cropped
    scan_scale: Any = None             # stream/builtin-train: None, S or (lo, hi) px (dustbench.synth.scale)
    grain: str | None = None           # stream/builtin-train: film grain stock added to clean images (synth.grain)
    damage_share: float | None = None  # stream: share of patches holding damage, the rest clean (None: as drawn)
    steps_per_epoch: int | None = None
    workers: int = 0
    val: Any = "auto"                  # "auto" (the data's validation split, else builtin), "builtin", "none", a folder
    val_limit: int | None = None
    val_every: int = 0                 # steps between validations; 0 = at the end of each epoch
    checkpoint_every: float = 300.0    # seconds between checkpoints (plus every epoch end)
    device: str = "auto"
    amp: str = "none"                  # "bf16": autocast the forward passes
    compile: bool = False              # torch.compile the training-time modules
    memory_format: str = "auto"        # "channels_last" (NHWC), "contiguous" (NCHW) or "auto" (NHWC on CPU)
    threads: int | None = None
    progress: bool = True
    plot: bool = True                  # redraw curves.png with every history.csv row
    tensorboard: bool = True           # TensorBoard event files in OUT/tensorboard (if tensorboard is installed)

    def __post_init__(self):  # checked where the settings enter, kept in the JSON form config.json records
        if self.memory_format not in MEMORY_FORMATS:
            raise DustbenchError(f"memory_format must be one of {', '.join(MEMORY_FORMATS)}, "
                                 f"got {self.memory_format!r}")
        self.scan_scale = scale_label(ScanScale.parse(self.scan_scale))
        self.grain = parse_grain(self.grain)
        if self.damage_share is not None:
            share = self.damage_share
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
                raise DustbenchError(f"damage_share must be a fraction in [0, 1] (or None: as drawn), got {share!r}")
            self.damage_share = float(share)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("data", "val"):
            if not isinstance(d[key], (str, type(None))):
                d[key] = f"<{type(getattr(self, key)).__name__}>"
        return d
