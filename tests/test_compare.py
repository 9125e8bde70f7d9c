"""`dustbench leaderboard compare`: do two test sets rank the methods alike (hand-made result folders)."""
from __future__ import annotations

import json

import pytest

from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.evaluation.rows import rows_to_csv
from dustbench.report.compare import compare_rankings


def write_result(folder, method, test_set, psnrs, config="", oracle=False, created="2024-01-01T00:00:00"):
    """The two files `evaluate` writes, with only what the leaderboard reads."""
    folder.mkdir(parents=True)
    rows = [{"image_id": f"i{k}", "psnr": p, "ssim": 0.9, "psnr_input": 30.0, "megapixels": 1.0, "runtime_s": 0.1,
             "output_fixes": 0} for k, p in enumerate(psnrs)]
    (folder / "per_image.csv").write_text(rows_to_csv(rows))
    summary = {"schema": "dustbench.evaluate/1", "method": method, "config": config, "test_set": test_set,
               "data": {"fingerprint": test_set.encode().hex()}, "param_count": 0, "is_oracle": oracle,
               "runtime": {"ms_per_megapixel": 100.0}, "peak_memory": {"rss_mib": 10.0}, "created": created}
    (folder / "summary.json").write_text(json.dumps(summary))


@pytest.fixture
def sides(tmp_path):
    # A ranks m1 > m2 > m3 > m4; B ranks m1 > m3 > m2 > m4: exactly one pair (m2, m3) swaps.
    a = {"m1": [40, 42], "m2": [38, 38], "m3": [35, 36], "m4": [30, 31]}
    b = {"m1": [33, 34], "m2": [29, 30], "m3": [31, 31], "m4": [25, 26], "only_b": [20, 20]}
    for m, v in a.items():
        write_result(tmp_path / "a" / m, m, "builtin:test", v)
    for m, v in b.items():
        write_result(tmp_path / "b" / m, m, "real:test", v)
    write_result(tmp_path / "a" / "oracle", "oracle_x", "builtin:test", [60, 60], oracle=True)
    write_result(tmp_path / "b" / "oracle", "oracle_x", "real:test", [10, 10], oracle=True)
    return tmp_path


def test_tau_and_the_swapped_pair(sides):
    result = compare_rankings(sides / "a", sides / "b")
    # 4 methods, 6 pairs: 5 concordant, 1 discordant, no ties -> tau = (5 - 1) / 6
    assert result["n"] == 4 and result["tau"] == pytest.approx(4 / 6)
    assert [(s["first"], s["second"]) for s in result["swaps"]] == [("m2", "m3")] and not result["agree"]
    assert result["swaps"][0]["a_diff"] == pytest.approx(2.5) and result["swaps"][0]["b_diff"] == pytest.approx(-1.5)
    assert result["only_b"] == ["only_b"] and result["a"] == "builtin:test" and result["b"] == "real:test"
    assert [m["rank_b"] for m in result["methods"]] == [1, 3, 2, 4]
    with_oracles = compare_rankings(sides / "a", sides / "b", include_oracles=True)
    assert with_oracles["n"] == 5 and len(with_oracles["swaps"]) == 5  # the oracle is first on A, last on B
    same = compare_rankings(sides / "a", sides / "a")
    assert same["agree"] and same["tau"] == pytest.approx(1.0)


def test_errors_are_clear(sides, tmp_path):
    write_result(tmp_path / "c" / "m1", "m1", "other:test", [1, 2])
    with pytest.raises(DustbenchError, match="share 1 method"):
        compare_rankings(sides / "a", tmp_path / "c")
    with pytest.raises(DustbenchError, match="several test sets"):
        compare_rankings(sides, sides / "a")
    assert compare_rankings(sides, sides / "a", a_set="real:test")["n"] == 4
    with pytest.raises(DustbenchError, match="metric"):
        compare_rankings(sides / "a", sides / "b", metric="speed")


def test_cli_compare(sides, capsys):
    assert main(["leaderboard", "compare", str(sides / "a"), str(sides / "b"), "--json", str(sides / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "Kendall tau-b = +0.667" in out and "1 of 6 pair(s) swap" in out and "m2 vs m3" in out
    assert json.loads((sides / "c.json").read_text())["swaps"][0]["first"] == "m2"


def test_printed_rows_are_named_as_on_the_board(tmp_path, capsys):
    # whole config strings made ~200-character lines; the text names rows, the JSON keeps the configs
    long = ("calibrated=psnr on builtin-v2:validation, channels=3, dilate=0, fill=telea, format=torchscript, "
            "kind=detector, label_threshold=0.2, radius=3.0, threshold=0.95")
    rows = {"gated": ([40, 41], [33, 33], long), "median_r1": ([35, 35], [31, 32], "precision=exact, radius=1"),
            "median_r2": ([30, 31], [25, 25], "precision=exact, radius=2"), "identity": ([37, 37], [30, 30], "")}
    for folder, (a, b, config) in rows.items():
        method = folder.split("_")[0]
        write_result(tmp_path / "a" / folder, method, "builtin:test", a, config=config)
        write_result(tmp_path / "b" / folder, method, "real:test", b, config=config)
    assert main(["leaderboard", "compare", str(tmp_path / "a"), str(tmp_path / "b"),
                 "--json", str(tmp_path / "c.json")]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100 and "calibrated" not in out
    table = [line.split()[0] for line in out.splitlines()[2:6]]
    assert table == ["gated", "identity", "median", "median"] and "median (radius=1)" in out
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["configs"]["gated"] == long and saved["methods"][0] == {**saved["methods"][0], "config": long}
