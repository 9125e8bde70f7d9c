"""Do two test sets rank methods alike? Kendall's tau and the pairs that swap.

A synthetic suite is only useful if it orders methods the way real damage does. Evaluate the same
methods on both (say ``builtin:test`` and your own real pairs), then
``compare_rankings(a_results, b_results)`` matches the methods (name and config), ranks them by
a metric on each side and reports Kendall's tau-b (``scipy.stats.kendalltau``, ties allowed)
and every pair whose order differs. Oracles are left out unless asked for: they are references,
not competitors.
"""
from __future__ import annotations

import csv
import math
from itertools import combinations
from pathlib import Path

import pandas as pd
from scipy.stats import kendalltau

from ..errors import DustbenchError
from .leaderboard import find_results, leaderboard_table

METRICS = ("psnr", "ssim", "masked_psnr_in", "masked_psnr_out", "touch_f1", "touch_precision", "touch_recall")


def _side(results, test_set: str | None, what: str, include_oracles: bool) -> tuple[str, pd.DataFrame]:
    """One side's rows: the results' single test set (or the one named), oracles dropped unless asked."""
    df = leaderboard_table(find_results(results if isinstance(results, (list, tuple)) else [results]))
    sets = list(dict.fromkeys(df["test_set"]))
    if test_set is None:
        test_set = _board_set(results, sets)
    if test_set is None:
        if len(sets) > 1:
            raise DustbenchError(f"{what} holds results on several test sets ({', '.join(sets)}): pick one "
                                 f"(--{what.lower()}-set, or {what.lower()}_set=)")
        test_set = sets[0]
    elif test_set not in sets:
        raise DustbenchError(f"{what} has no results on test set {test_set!r} (it has: {', '.join(sets)})")
    part = df[df["test_set"] == test_set]
    if not include_oracles:
        part = part[~part["is_oracle"].astype(bool)]
    keys = [r["method"] + (f" ({r['config']})" if r["config"] else "") for _, r in part.iterrows()]
    return test_set, part.assign(key=keys).set_index("key")


def _board_set(results, sets: list[str]) -> str | None:
    """A published board's own test set (the first of its leaderboard.csv; the sections after it are
    tracks beside it, ``leaderboard extend --data``) when ``results`` is such a board, else None."""
    table = Path(results) / "leaderboard.csv" if isinstance(results, (str, Path)) else None
    if len(sets) < 2 or table is None or not table.is_file():
        return None
    with open(table, newline="", encoding="utf-8") as f:
        first = next(csv.DictReader(f), {}).get("test_set")
    return first if first in sets else None


NAME_WIDTH = 40  # a printed row name longer than this is numbered instead (configs go to the JSON)


def _options(config: str) -> dict:
    return dict(kv.split("=", 1) if "=" in kv else (kv, "") for kv in config.split(", ") if kv)


def row_names(rows: dict) -> dict:
    """``{key: (method, config)}`` -> ``{key: name}``: the method's name as on the board; a method seen
    with several configs adds the options that tell them apart, or ``#n`` when those run long
    (whole configs made ~200-character lines)."""
    by_method: dict = {}
    for key, (method, config) in rows.items():
        by_method.setdefault(method, []).append(key)
    names = {}
    for method, keys in by_method.items():
        if len(keys) == 1:
            names[keys[0]] = method
            continue
        opts = {k: _options(rows[k][1]) for k in keys}
        differ = sorted({o for k in keys for o in opts[k] if len({opts[j].get(o) for j in keys}) > 1})
        tags = {k: ", ".join(f"{o}={opts[k].get(o, '–')}" for o in differ) for k in keys}
        longest = max(len(method) + len(t) + 3 for t in tags.values())
        numbered = len(set(tags.values())) < len(keys) or longest > NAME_WIDTH
        for i, k in enumerate(sorted(keys), 1):
            names[k] = f"{method} #{i}" if numbered else f"{method} ({tags[k]})"
    return names


def compare_rankings(a_results, b_results, metric: str = "psnr", *, a_set: str | None = None,
                     b_set: str | None = None, include_oracles: bool = False) -> dict:
    """Compare how two sets of ``evaluate`` results rank the methods they share.

    ``a_results``/``b_results``: a result folder, a folder holding results, or a list of them,
    each covering one test set (or name it with ``a_set``/``b_set``). Higher ``metric`` is
    better. Returns the test sets, ``methods`` (row name as on the board, config, both scores and
    ranks; see :func:`row_names`), ``configs`` (row name -> full config), ``only_a`` /
    ``only_b`` (unmatched methods), ``tau`` and ``p_value`` (NaN when undefined, e.g. all tied),
    ``swaps`` (pairs ordered one way on A and the other way on B, with both differences) and
    ``agree`` (no pair swaps).
    """
    if metric not in METRICS:
        raise DustbenchError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    a_name, a = _side(a_results, a_set, "A", include_oracles)
    b_name, b = _side(b_results, b_set, "B", include_oracles)
    shared = [k for k in a.index if k in b.index and not (math.isnan(a.at[k, metric]) or math.isnan(b.at[k, metric]))]
    if len(shared) < 2:
        raise DustbenchError(f"{a_name} and {b_name} share {len(shared)} method(s) with a {metric}; "
                             "evaluate at least two of the same methods (same config) on both")
    sa, sb = a.loc[shared, metric].astype(float), b.loc[shared, metric].astype(float)
    tau, p = kendalltau(sa.to_numpy(), sb.to_numpy())
    rank_a, rank_b = sa.rank(ascending=False, method="min"), sb.rank(ascending=False, method="min")
    rows = {k: (side.at[k, "method"], side.at[k, "config"]) for side in (a, b) for k in side.index}
    name = row_names(rows)
    order = sorted(shared, key=lambda k: (rank_a[k], rank_b[k], k))
    methods = [{"method": name[k], "config": rows[k][1], "a": float(sa[k]), "b": float(sb[k]),
                "rank_a": int(rank_a[k]), "rank_b": int(rank_b[k])} for k in order]
    swaps = [{"first": name[i], "second": name[j], "a_diff": float(sa[i] - sa[j]), "b_diff": float(sb[i] - sb[j])}
             for i, j in combinations(order, 2) if (sa[i] - sa[j]) * (sb[i] - sb[j]) < 0]
    return {"a": a_name, "b": b_name, "metric": metric, "n": len(shared), "methods": methods,
            "only_a": sorted(name[k] for k in set(a.index) - set(shared)),
            "only_b": sorted(name[k] for k in set(b.index) - set(shared)),
            "configs": {name[k]: rows[k][1] for k in sorted(rows)},
            "tau": float(tau), "p_value": float(p), "swaps": swaps, "agree": not swaps}


def format_comparison(result: dict) -> str:
    """The comparison as text: a table of scores and ranks, tau, and the pairs that swap."""
    m, width = result["metric"], max(len(x["method"]) for x in result["methods"])
    digits = 2 if "psnr" in m else 4
    lines = [f"A = {result['a']}, B = {result['b']}: {result['n']} shared method(s), ranked by {m} (higher is better)",
             f"  {'method':<{width}}  {'A ' + m:>15}  {'B ' + m:>15}"]
    for x in result["methods"]:
        lines.append(f"  {x['method']:<{width}}  {x['a']:>10.{digits}f} (#{x['rank_a']})  "
                     f"{x['b']:>10.{digits}f} (#{x['rank_b']})")
    tau = "undefined (all tied)" if math.isnan(result["tau"]) else f"{result['tau']:+.3f} (p = {result['p_value']:.3g})"
    lines.append(f"Kendall tau-b = {tau}")
    pairs = result["n"] * (result["n"] - 1) // 2
    if any(result.get("configs", {}).values()):
        lines.append("(rows are named as on the board; their configs are in the --json output)")
    if result["agree"]:
        lines.append(f"The rankings agree: none of the {pairs} pair(s) swaps.")
    else:
        lines.append(f"{len(result['swaps'])} of {pairs} pair(s) swap:")
        for s in result["swaps"]:
            lines.append(f"  {s['first']} vs {s['second']}: A {s['a_diff']:+.{digits}f}, B {s['b_diff']:+.{digits}f} "
                         f"({m}, first − second)")
    for side in ("a", "b"):
        if result[f"only_{side}"]:
            lines.append(f"Only on {side.upper()} (not compared): {', '.join(result[f'only_{side}'])}")
    return "\n".join(lines)
