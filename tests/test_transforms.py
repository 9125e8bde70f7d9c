"""dustbench.transforms.FilmDamage: damage on a crop is the frame's damage cut at the same place,
inside albumentations pipelines and torch Datasets; deterministic per seed; any dtype and layout."""
from __future__ import annotations

import json
import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # importing albumentations: no version check online

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dustbench import regenerate, sample_params, synthesize  # noqa: E402
from dustbench.errors import DustbenchError  # noqa: E402
from dustbench.io import read_image  # noqa: E402
from dustbench.sources import builtin_sources  # noqa: E402
from dustbench.synth.crop import crop_params  # noqa: E402
from dustbench.transforms import FilmDamage, replay  # noqa: E402


@pytest.fixture(scope="module")
def frame():
    return np.ascontiguousarray(read_image(builtin_sources()[0].path)[40:340, 10:460])  # 300×450 RGB uint8


def _albumentations():
    return pytest.importorskip("albumentations")


@pytest.mark.parametrize("preset", ["negative_scan_heavy", "*_scan_*"])
def test_crop_in_compose_is_the_frames_damage_cut_there(frame, preset):
    A = _albumentations()
    aug = A.Compose([A.RandomCrop(128, 160), FilmDamage(preset, seed=3)], save_applied_params=True, seed=0)
    for _ in range(3):
        out = aug(image=frame)
        record = out["damage_params"]
        x0, y0, x1, y1 = out["applied_transforms"][0][1]["crop_coords"]  # where RandomCrop cut
        assert record["place"] == "recorded" and record["params"]["crop"]["box"] == [y0, x0, y1 - y0, x1 - x0]
        # the whole frame damaged from the same seed, then cut where the crop was taken
        frame_params = sample_params(preset, frame.shape, np.random.default_rng(record["seed"]))
        full = regenerate(frame, frame_params)
        cut = (slice(y0, y1), slice(x0, x1))
        assert np.array_equal(out["image"], full.damaged[cut])
        assert np.array_equal(out["labels"], full.labels[cut])
        np.testing.assert_allclose(out["mask"], full.mask[cut], atol=1e-2)
        assert np.array_equal(out["clean"], frame[cut])
        # which is crop_params' record of that box drawn on the crop alone
        on_crop = regenerate(frame[cut], crop_params(frame_params, frame.shape, (y0, x0, y1 - y0, x1 - x0)))
        assert np.array_equal(out["image"], on_crop.damaged)


def test_naive_crop_damage_is_denser_than_the_frames(frame):
    """The reason the transform exists: a crop damaged as a frame is damaged several times over."""
    crop = np.ascontiguousarray(frame[:128, :128])
    naive = np.mean([(synthesize(crop, "negative_scan_heavy", np.random.default_rng(i)).mask > 0).mean()
                     for i in range(40)])
    t = FilmDamage("negative_scan_heavy", scan_scale=2268, seed=0)
    aware = np.mean([(t(image=crop)["mask"] > 0).mean() for _ in range(40)])
    assert naive > 2 * aware > 0


def test_deterministic_per_seed(frame):
    A = _albumentations()

    def run(seed, compose_seed=0):
        aug = A.Compose([A.RandomCrop(96, 96), FilmDamage("*_scan_*", seed=seed)], save_applied_params=True,
                        seed=compose_seed)
        return [aug(image=frame) for _ in range(3)]

    a, b, c = run(5), run(5), run(6)
    for x, y in zip(a, b):
        assert np.array_equal(x["image"], y["image"]) and x["damage_params"] == y["damage_params"]
    assert any(not np.array_equal(x["image"], z["image"]) for x, z in zip(a, c))
    # without its own seed it follows albumentations' (Compose(seed=...))
    d, e = run(None, 7), run(None, 7)
    assert all(np.array_equal(x["image"], y["image"]) for x, y in zip(d, e))


def test_damage_seed_fixes_one_sample_whatever_came_before(frame):
    t = FilmDamage("negative_scan_medium", scan_scale=3780, seed=1)
    first = t(image=frame, damage_seed=(2, 17))
    t(image=frame)  # the transform's own stream moves on
    again = FilmDamage("negative_scan_medium", scan_scale=3780, seed=99)(image=frame, damage_seed=(2, 17))
    assert np.array_equal(first["image"], again["image"])
    assert first["damage_params"]["seed"] == [2, 17]


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("layout", ["grey", "rgb", "grey1"])
def test_dtypes_layouts_and_replay(frame, dtype, layout):
    img = {"grey": frame[..., 1], "rgb": frame, "grey1": frame[..., 1:2]}[layout]
    img = {"uint8": img, "uint16": img.astype(np.uint16) * 257, "float32": (img / 255).astype(np.float32)}[dtype]
    img = np.ascontiguousarray(img)
    t = FilmDamage("negative_scan_heavy", scan_scale=2268, seed=4)
    out = t(image=img)
    assert out["image"].dtype == img.dtype and out["image"].shape == img.shape
    assert out["mask"].shape == img.shape[:2] and out["labels"].dtype == np.uint8
    assert np.array_equal(out["clean"], img) and (out["mask"] > 0).any()
    changed = np.abs(out["image"].astype(np.float64) - img).reshape(*img.shape[:2], -1).max(axis=2) > 0
    assert not (changed & (out["mask"] == 0)).any()  # nothing changes outside the damage
    # a fixed scan scale on the whole image is synthesize(..., scan_scale=S) from the same seed
    record = out["damage_params"]
    ref = synthesize(img, "negative_scan_heavy", np.random.default_rng(record["seed"]), scan_scale=2268)
    assert np.array_equal(out["image"], ref.damaged)
    assert np.array_equal(replay(img, out["damage_params"])["image"], out["image"])


def test_explicit_frame_shape_places_the_crop_in_that_frame(frame):
    A = _albumentations()
    shape = (900, 1400)
    aug = A.Compose([A.RandomCrop(100, 120), FilmDamage("negative_scan_heavy", frame_shape=shape, seed=2)],
                    save_applied_params=True, seed=1)
    out = aug(image=frame)
    record = out["damage_params"]
    x0, y0 = out["applied_transforms"][0][1]["crop_coords"][:2]
    rng = np.random.default_rng(record["seed"])
    fy, fx = int(rng.integers(0, shape[0] - frame.shape[0] + 1)), int(rng.integers(0, shape[1] - frame.shape[1] + 1))
    big = np.zeros((*shape, 3), np.uint8)
    big[fy:fy + frame.shape[0], fx:fx + frame.shape[1]] = frame  # the input, where it sits in the frame
    full = regenerate(big, sample_params("negative_scan_heavy", shape, rng))
    assert record["params"]["crop"] == {"frame_shape": list(shape), "box": [fy + y0, fx + x0, 100, 120]}
    assert np.array_equal(out["image"], full.damaged[fy + y0:fy + y0 + 100, fx + x0:fx + x0 + 120])
    with pytest.raises(DustbenchError, match="smaller than the image"):
        FilmDamage("dust_fine", frame_shape=(100, 100))(image=frame)
    with pytest.raises(DustbenchError, match="not both"):
        FilmDamage("dust_fine", frame_shape=(100, 100), scan_scale=3000)


def test_geometry_the_damage_cannot_follow_is_an_error_naming_it(frame):
    """A free rotation or a warp before FilmDamage used to drop the record and damage a random place
    silently; now the pipeline stops with the transform's name."""
    A = _albumentations()
    for geometric in (A.Perspective(p=1), A.ElasticTransform(p=1), A.GridDistortion(p=1)):
        aug = A.Compose([geometric, FilmDamage("negative_scan_heavy", seed=0)], save_applied_params=True, seed=1)
        with pytest.raises(DustbenchError, match=f"cannot follow {type(geometric).__name__}"):
            aug(image=frame)
    assert issubclass(FilmDamage, A.DualTransform)


TURNS = ["HorizontalFlip", "VerticalFlip", "Transpose", "RandomRotate90", "D4"]


@pytest.mark.parametrize("turn", TURNS)
def test_flips_and_turns_after_a_crop_carry_the_frames_damage(frame, turn):
    """The issue's case: Crop, then HorizontalFlip (or any 90° turn), then FilmDamage used to damage a
    random place; now it is the frame's damage in the crop's box, turned as the crop was."""
    A = _albumentations()
    for seed in range(3):
        aug = A.Compose([A.Crop(40, 30, 200, 130), getattr(A, turn)(p=1), FilmDamage("negative_scan_heavy", seed=7)],
                        save_applied_params=True, seed=seed)
        out = aug(image=frame)
        record = out["damage_params"]
        assert record["place"] == "recorded" and record["params"]["crop"]["box"] == [30, 40, 100, 160]
        frame_params = sample_params("negative_scan_heavy", frame.shape, np.random.default_rng(record["seed"]))
        full = regenerate(frame, frame_params)
        # the same turn, applied by albumentations to the whole frame's damaged crop, gives our output
        again = A.Compose([A.Crop(40, 30, 200, 130), getattr(A, turn)(p=1)], seed=seed)
        want = again(image=full.damaged, mask=full.labels)
        assert np.array_equal(out["image"], want["image"]) and np.array_equal(out["labels"], want["mask"])
        assert np.array_equal(replay(out["clean"], out["damage_params"])["image"], out["image"])


def test_probability_and_undamaged_samples(frame):
    t = FilmDamage("negative_scan_heavy", p=0.5, seed=0)
    outs = [t(image=frame) for _ in range(20)]
    applied = [o["damage_params"]["applied"] for o in outs]
    assert 0 < sum(applied) < 20
    for o, a in zip(outs, applied):
        if not a:
            assert np.array_equal(o["image"], frame) and not o["mask"].any() and not o["labels"].any()


def test_torch_dataset_and_default_collate(frame):
    torch = pytest.importorskip("torch")

    class Crops(torch.utils.data.Dataset):
        def __init__(self):
            self.damage = FilmDamage("*_scan_*", scan_scale=3780, params_as="json")  # collated as text

        def __len__(self):
            return 4

        def __getitem__(self, i):
            crop = np.ascontiguousarray(frame[i * 20:i * 20 + 64, :64])
            return self.damage(image=crop, damage_seed=(0, i))  # per sample: the same in any worker

    batch = next(iter(torch.utils.data.DataLoader(Crops(), batch_size=4)))
    assert tuple(batch["image"].shape) == (4, 64, 64, 3) and tuple(batch["labels"].shape) == (4, 64, 64)
    assert len(batch["damage_params"]) == 4
    again = Crops()[2]
    assert np.array_equal(batch["image"][2].numpy(), again["image"])


def test_works_without_albumentations():
    """With albumentations missing the transform is a plain callable giving the same sample."""
    import subprocess
    import sys

    code = ("import sys, json, numpy as np; sys.modules['albumentations'] = None\n"
            "from dustbench.transforms import FilmDamage\n"
            "img = np.full((64, 96, 3), 120, np.uint8)\n"
            "out = FilmDamage('negative_scan_heavy', scan_scale=500, seed=3)(image=img)\n"
            "print(FilmDamage.__mro__[1].__name__, "
            "int(out['image'].astype(int).sum()), out['damage_params']['seed'])")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    base, total, seed = res.stdout.split()
    img = np.full((64, 96, 3), 120, np.uint8)
    out = FilmDamage("negative_scan_heavy", scan_scale=500, seed=3)(image=img)
    assert base == "_Plain" and int(seed) == out["damage_params"]["seed"]
    assert int(total) == int(out["image"].astype(int).sum())


def test_damage_params_is_a_dict_or_json_on_request(frame):
    """albumentations users read parameters as dicts; a torch DataLoader's default collate needs text."""
    crop = np.ascontiguousarray(frame[:64, :64])
    as_dict = FilmDamage("negative_scan_heavy", seed=1)(image=crop)["damage_params"]
    as_json = FilmDamage("negative_scan_heavy", seed=1, params_as="json")(image=crop)["damage_params"]
    assert isinstance(as_dict, dict) and json.loads(as_json) == json.loads(json.dumps(as_dict))
    with pytest.raises(DustbenchError, match="params_as"):
        FilmDamage("negative_scan_heavy", params_as="yaml")


@pytest.mark.parametrize("steps", ["resized_crop", "resize_then_flip", "crop_turn_resize"])
def test_resizes_carry_the_frames_damage_scaled(frame, steps):
    """A resized crop shows the frame's damage of its box at its own resolution (presets are fractions
    of the short side, so drawing at the new size is scaling it): compared with the whole frame's
    damage cut at the box and resized the same way."""
    import cv2
    A = _albumentations()
    pipeline = {"resized_crop": [A.RandomResizedCrop((120, 150), scale=(0.3, 0.6), ratio=(1.2, 1.3), p=1)],
                "resize_then_flip": [A.Resize(200, 300), A.HorizontalFlip(p=1)],
                "crop_turn_resize": [A.Crop(50, 40, 290, 200), A.RandomRotate90(p=1), A.LongestMaxSize(120)]}[steps]
    # (resizes that keep the aspect ratio: one that changes it moves the artifacts with it but keeps
    # their shapes, so a pixel comparison with a stretched frame would not apply)
    for seed in range(3):
        out = A.Compose(pipeline + [FilmDamage("negative_scan_heavy", seed=4)], save_applied_params=True,
                        seed=seed)(image=frame)
        record = out["damage_params"]
        y0, x0, h, w = record["params"]["crop"]["box"]
        full = regenerate(frame, sample_params("negative_scan_heavy", frame.shape,
                                               np.random.default_rng(record["seed"])))
        turned = full.mask[y0:y0 + h, x0:x0 + w].astype(np.float32)
        for name, params in out["applied_transforms"]:  # the turns the image took, on the frame's damage
            turned = {"HorizontalFlip": lambda a: a[:, ::-1], "RandomRotate90": lambda a: np.rot90(a, params.get("factor", 0))
                      }.get(name, lambda a: a)(turned)
        turned = np.ascontiguousarray(turned)
        want = cv2.resize(turned, out["mask"].shape[::-1], interpolation=cv2.INTER_AREA)
        got = out["mask"].astype(np.float32)
        assert got.any() and np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.7, steps
        assert np.array_equal(replay(out["clean"], record)["image"], out["image"])


@pytest.mark.parametrize("transform", ["Rotate", "Affine"])
def test_affine_transforms_carry_the_frames_damage_warped(frame, transform):
    """Rotate and Affine record their matrix: the frame's damage is drawn for the box they show and
    warped onto the image as they warped it (compared with albumentations warping the frame's own
    damage mask), and pixels no artifact reaches keep their exact bytes."""
    A = _albumentations()
    geometric = {"Rotate": lambda: A.Rotate(limit=(20, 35), p=1),
                 "Affine": lambda: A.Affine(rotate=(-25, -10), scale=(0.8, 0.9), translate_px=(-10, 10), p=1)}[transform]
    for seed in range(2):
        out = A.Compose([A.Crop(60, 50, 380, 270), geometric(), FilmDamage("negative_scan_heavy", seed=5)],
                        save_applied_params=True, seed=seed)(image=frame)
        record = out["damage_params"]
        assert "warp" in record["view"]
        full = regenerate(frame, sample_params("negative_scan_heavy", frame.shape,
                                               np.random.default_rng(record["seed"])))
        want = A.Compose([A.Crop(60, 50, 380, 270), geometric()], seed=seed)(image=full.mask.astype(np.float32))["image"]
        got = out["mask"].astype(np.float32)
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.8
        untouched = got == 0
        assert np.array_equal(out["image"][untouched], out["clean"][untouched])
        assert np.array_equal(replay(out["clean"], record)["image"], out["image"])
