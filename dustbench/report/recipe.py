"""The published leaderboard's recipe as data: which methods, and how each learned model is trained.

Plain values only (no imports), so the command line can show them without loading the trainer.
"""
LEARNED = ("dust_gan", "pix2pix", "segnet")
CLASSICAL = ("identity", "median", "median_tuned", "oracle_inpaint", "oracle_unblend")
# Every learned model: same data, patches, batch, seed and validation (TrainConfig fields).
SHARED_TRAIN = {"data": "builtin-train", "patch": 128, "batch_size": 8, "seed": 0, "val": "builtin"}
# Per family: network size for a CPU budget (defaults are the papers'), its optimiser settings.
RECIPES = {
    "dust_gan": {"model_config": {}, "task_options": {"d_width": 32}, "lr": 5e-4},
    "pix2pix": {"model_config": {"ngf": 8}, "task_options": {"d_width": 32}, "lr": 2e-4},
    "segnet": {"model_config": {"width": 8}, "task_options": {}, "lr": 5e-4},
}
RECIPE_KEYS = ("data", "model_config", "task_options", "patch", "batch_size", "lr", "seed", "presets", "pool")
