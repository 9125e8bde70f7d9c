"""The published leaderboard's recipe as data: which methods, and how each learned model is trained.

Plain values only (no imports), so the command line can show them without loading the trainer.
"""
LEARNED = ("dust_gan", "pix2pix", "segnet")
# Rows exported from another model's checkpoint at their own operating point, chosen on validation:
# `segnet` (the paper's detect-then-inpaint baseline) at the threshold of best detection F1, and
# `gated`, the do-no-harm method: the same detector at the threshold (and dilation) of best
# restoration PSNR; every pixel it does not flag is returned exactly as it came.
OPERATING_POINTS = {"segnet": ("segnet", "f1"), "gated": ("segnet", "psnr")}
# What a detector that detects should reach (#16): precision and recall of its flags against the
# visible damage, pixels of synthesis opacity >= "opacity" (also what segnet's F1 point is chosen on).
DETECTION_TARGET = {"opacity": 0.25, "precision": 0.7, "recall": 0.5}
VISIBLE_DAMAGE = f"visible damage (opacity >= {DETECTION_TARGET['opacity']:g})"
CLASSICAL = ("identity", "median", "median_tuned", "oracle_inpaint", "oracle_unblend")
TEST_DATA = "builtin-v2"  # the standard suite: full-resolution photographs, damage at scan scale
# Every learned model: the same data, scale, patches, batch, seed and validation (TrainConfig fields).
# Damage is drawn fresh for every patch (the stream) on every image that ships offline except the
# test photographs, as crops of 35 mm frames scanned at 2000-4200 px on the short side (log-uniform):
# the pixel sizes of the suite's two scanners (2268 and 3780 px) and around them.
SHARED_TRAIN = {"data": "stream:builtin-train", "scan_scale": [2000, 4200], "presets": "*_scan_*", "patch": 128,
                "batch_size": 32, "seed": 0, "val": TEST_DATA, "workers": 1}
# Per family: network size for a CPU budget (defaults are the papers'), its optimiser settings.
RECIPES = {
    "dust_gan": {"model_config": {}, "task_options": {"d_width": 32}, "lr": 5e-4},
    "pix2pix": {"model_config": {"ngf": 8}, "task_options": {"d_width": 32}, "lr": 2e-4},
    # labels: visible damage (opacity > 0.2), what the detection target and the fill are about
    "segnet": {"model_config": {"width": 8}, "task_options": {"label_threshold": 0.2}, "lr": 5e-4},
    # the CPU-budget detector (#27): its default size, segnet's labels and loss
    "fastdet": {"model_config": {}, "task_options": {"label_threshold": 0.2}, "lr": 2e-3},
}
RECIPE_KEYS = ("data", "model_config", "task_options", "patch", "batch_size", "lr", "seed", "presets", "pool",
               "scan_scale")
