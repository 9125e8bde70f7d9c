"""The package's shape: dependencies point down (no import cycle), deferred imports only where they
defer something heavy and say what, light entry points stay light, no oversized files or functions.
Read from the source with ``ast`` (nothing is imported); every check takes the package root, so the
tests at the end run them on edited scratch copies of the tree and see them fail.

The graph holds module-level *and* deferred (function-level) imports, plus the parent-package edges
Python adds: importing ``a.b.c`` first runs ``a/__init__`` and ``a/b/__init__``. (An import does not
add an edge to the importer's own parent packages, which are already running when it runs; naming
one explicitly, ``from .. import name``, does.)

A function-level import of a dustbench module must say why, in a way checked here::

    from ..models import list_models  # deferred: imports torch

``imports X`` (``imports X, Y``, ``X and Y``, ``X/Y``; anywhere in the comment) holds when each X is a
heavy dependency listed in :data:`HEAVY` (a dotted name such as ``scipy.stats`` narrows it) that the
deferred import loads (its target's module-level imports, transitively) and that is not already
loaded when the function can run (by the importer's module-level imports, or its parent packages').
A third-party module imported in a function with a ``# deferred:`` comment must itself be heavy and
not already loaded; other third-party imports in functions are not checked.
"""
from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dustbench"
MAX_FILE_LINES = 420
MAX_FUNCTION_LINES = 60
# heavy (slow to import, or optional) dependencies a deferral may name: top-level module names
HEAVY = frozenset({"torch", "torchvision", "pandas", "matplotlib", "datasets", "pyarrow", "scipy", "skimage",
                   "albumentations", "tifffile", "huggingface_hub", "tensorboard", "torchmetrics", "numba"})
# entry points that must not load these at module level (`import dustbench`; `dustbench --help`, which
# imports every module of dustbench.cli to build its parser; the registered methods, which never need torch)
LIGHT = {"dustbench": HEAVY, "dustbench.cli": HEAVY, "dustbench.cli.*": HEAVY, "dustbench.__main__": HEAVY,
         "dustbench.methods": frozenset({"torch", "pandas", "matplotlib", "datasets", "pyarrow"})}
_NAME = r"[A-Za-z_][\w.]*"


@dataclass(frozen=True)
class Import:
    importer: str  # the dustbench module the statement is in
    path: Path
    lineno: int
    deferred: bool  # inside a function
    targets: tuple[str, ...]  # dustbench modules it names
    external: tuple[str, ...]  # other modules it names, dotted ("scipy.stats" for `from scipy import stats`)
    comment: str  # the text after "# deferred:" on its first line ("" when there is none)


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under the package folder ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _names(mods: dict, module: str, path: Path, node) -> tuple[list[str], list[str]]:
    """(package modules, other modules) an import statement loads (a package's submodule when it names one)."""
    top = module.split(".")[0]
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
        return [n for n in names if n.split(".")[0] == top], [n for n in names if n.split(".")[0] != top]
    if node.level == 0 and (node.module or "").split(".")[0] != top:
        return [], [f"{node.module}.{a.name}" for a in node.names]
    if node.level == 0:
        base = node.module
    else:
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        base = ".".join(parts + ([node.module] if node.module else []))
    return list(dict.fromkeys(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names)), []


def _walk(node, in_function: bool = False):
    """(import statement, inside a function?) for every import under ``node``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, in_function
        yield from _walk(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                  ast.Lambda)))


@lru_cache(maxsize=None)
def imports(root: Path) -> tuple[Import, ...]:
    mods = modules(root)
    out = []
    for module, path in mods.items():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node, deferred in _walk(ast.parse("\n".join(lines))):
            targets, external = _names(mods, module, path, node)
            line = lines[node.lineno - 1]
            comment = line.split("# deferred:", 1)[1].strip() if "# deferred:" in line else ""
            out.append(Import(module, path, node.lineno, deferred, tuple(t for t in targets if t in mods),
                              tuple(external), comment))
    return tuple(out)


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _edges(imp: Import) -> set[str]:
    """The package modules an import runs: its targets and their parent packages (less the importer's own)."""
    own = {*_parents(imp.importer), imp.importer}
    out = set(imp.targets)
    for t in imp.targets:
        out.update(p for p in _parents(t) if p not in own)
    out.discard(imp.importer)
    return out


@lru_cache(maxsize=None)
def graph(root: Path, deferred: bool = True) -> dict[str, frozenset[str]]:
    """module -> the modules importing it runs (module level; with ``deferred``, function level too)."""
    out: dict[str, set[str]] = {m: set() for m in modules(root)}
    for imp in imports(root):
        if deferred or not imp.deferred:
            out[imp.importer] |= _edges(imp)
    return {m: frozenset(e) for m, e in out.items()}


def find_cycle(g: dict[str, frozenset[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(g[m]):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            found = visit(n) if n not in state else None
            if found:
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        found = visit(m) if m not in state else None
        if found:
            return found
    return None


def loaded(root: Path, start) -> tuple[set[str], set[str]]:
    """(package modules, other modules) that importing ``start`` loads at module level."""
    g = graph(root, deferred=False)
    seen, todo = set(), list(start)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(g[m])
    return seen, {e for imp in imports(root) if not imp.deferred and imp.importer in seen for e in imp.external}


def _has(names, wanted: str) -> bool:
    return any(n == wanted or n.startswith(wanted + ".") for n in names)


def _claimed(comment: str) -> list[str] | None:
    """The dependencies an ``imports X, Y`` reason names (the list stops at the first word not in HEAVY)."""
    match = re.search(rf"\bimports ({_NAME}(?:(?:, | and |/){_NAME})*)", comment)
    if not match:
        return None
    names = []
    for name in re.split(r", | and |/", match.group(1)):
        if name.split(".")[0] not in HEAVY:
            break
        names.append(name)
    return names


def deferral_problem(root: Path, imp: Import) -> str | None:
    """Why a function-level import's reason does not hold (None when it holds or none is needed)."""
    if not imp.targets and not imp.comment:
        return None  # a third-party import in a function that claims nothing
    if not imp.comment:
        return "a dustbench module imported in a function without '# deferred: imports X'"
    before_mods, before = loaded(root, {imp.importer, *_parents(imp.importer)})
    if imp.targets and set(imp.targets) <= before_mods:
        return f"{', '.join(imp.targets)} is already loaded at module level: import it there"
    claimed = _claimed(imp.comment)
    if not claimed and imp.targets:
        return f"reason {imp.comment!r} names no heavy dependency ('imports X', X one of HEAVY)"
    loads = loaded(root, _edges(imp))[1] | set(imp.external)
    for name in claimed or imp.external:
        if name.split(".")[0] not in HEAVY:
            return f"{name} is not a heavy dependency (HEAVY lists them)"
        if not _has(loads, name):
            return f"the deferred import does not load {name}"
        if _has(before, name):
            return f"{name} is already loaded at module level"
    return None


def deferral_problems(root: Path) -> list[str]:
    return [f"{imp.path.relative_to(root.parent)}:{imp.lineno}: {problem}" for imp in imports(root)
            if imp.deferred and (problem := deferral_problem(root, imp))]


def heaviness_problems(root: Path) -> list[str]:
    out = []
    light = [(m, banned) for pattern, banned in LIGHT.items() for m in modules(root)
             if m == pattern or (pattern.endswith(".*") and m.startswith(pattern[:-1]))]
    for module, banned in light:
        _, external = loaded(root, {module, *_parents(module)})
        heavy = sorted(n for n in banned if _has(external, n))
        if heavy:
            out.append(f"importing {module} loads {', '.join(heavy)} at module level")
    return out


def size_problems(root: Path) -> list[str]:
    too_long = []
    for path in modules(root).values():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_FILE_LINES:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.name}:{node.lineno} {node.name}(): {n} lines")
    return too_long


def cycle_problems(root: Path) -> list[str]:
    cycle = find_cycle(graph(root))
    return [f"import cycle (module-level, deferred and parent-package edges): {' -> '.join(cycle)}"] if cycle else []


def problems(root: Path) -> list[str]:
    """Everything the structure checks find wrong with the package tree at ``root``."""
    return cycle_problems(root) + deferral_problems(root) + heaviness_problems(root) + size_problems(root)


# --- the checks, on this tree ---

def test_no_import_cycles():
    assert not cycle_problems(PACKAGE)


def test_deferred_imports_give_true_reasons():
    assert not deferral_problems(PACKAGE), "\n".join(deferral_problems(PACKAGE))


def test_light_entry_points_stay_light():
    assert not heaviness_problems(PACKAGE), "\n".join(heaviness_problems(PACKAGE))


def test_files_and_functions_stay_small():
    assert not size_problems(PACKAGE), "split these: " + "; ".join(size_problems(PACKAGE))


def test_models_do_not_depend_on_the_trainer_or_the_methods():
    for module, edges in graph(PACKAGE).items():
        if module.startswith("dustbench.models"):
            assert not any(e.startswith(("dustbench.train", "dustbench.methods")) for e in edges), (module, edges)


# --- the checks fail on edits that fooled the old ones (issue #26), each on a scratch copy ---

def _edit(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """A copy of the package under ``tmp_path`` with each (file, old text, new text) edit applied."""
    root = tmp_path / "dustbench"
    shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__"))
    for file, old, new in edits:
        path = root / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{file}: the edit's anchor {old!r} is not there once"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return root


_FUNCTION = "\n\ndef _scratch():\n    {}\n"


def test_the_scratch_copy_itself_passes(tmp_path):
    assert problems(_edit(tmp_path)) == []


@pytest.mark.parametrize("file,old,new,expect", [
    # (a) a module-level import whose cycle (or weight) only shows through parent-package __init__s
    ("methods/base.py", "from .tiling import tiled_rows\n",
     "from .tiling import tiled_rows\nfrom ..models.checkpoint import read_checkpoint  # noqa: F401\n",
     "dustbench.methods loads torch"),
    # (b) a reason that is no reason
    ("methods/load.py", "from .loaded import load_model_file as _load  # deferred: imports torch",
     "from .loaded import load_model_file as _load  # deferred: because", "names no heavy dependency"),
    # (c) a deferred import, with a true reason, that closes a cycle (registry <- loaded)
    ("methods/registry.py", "    return method\n",
     "    return method\n" + _FUNCTION.format("from .loaded import module_method  # deferred: imports torch"),
     "import cycle"),
    # (d) a deferred import of a module the importer already loads at module level
    ("methods/load.py", "    return _load(path, device, **kwargs)\n",
     "    return _load(path, device, **kwargs)\n"
     + _FUNCTION.format("from .base import Method  # deferred: imports torch"),
     "already loaded at module level"),
    # (e) models <-> methods at package level again: segnet's fill from methods.detect_inpaint
    ("models/segnet.py", "from ..fill import check_inference_options\n",
     "from ..methods.detect_inpaint import check_inference_options\n", "import cycle"),
    # (f) a command module that loads pandas for `dustbench --help` (how fit.classify made it slow)
    ("cli/fit_preset.py", "from ..fit.settings import THRESHOLD_FLOOR, DetectionSettings\n",
     "from ..fit.classify import THRESHOLDS  # noqa: F401\n"
     "from ..fit.settings import THRESHOLD_FLOOR, DetectionSettings\n",
     "importing dustbench.cli.fit_preset loads pandas"),
    # (g) a reason naming a dependency the import does not load
    ("methods/load.py", "from .loaded import load_model_file as _load  # deferred: imports torch",
     "from .loaded import load_model_file as _load  # deferred: imports pandas", "does not load pandas"),
])
def test_checks_fail_on_fooling_edits(tmp_path, file, old, new, expect):
    found = problems(_edit(tmp_path, (file, old, new)))
    assert any(expect in p for p in found), found


def test_a_cycle_through_parent_packages_is_found_at_module_level(tmp_path):
    """Edit (a) on the old layout (segnet importing from dustbench.methods): no module names the other
    directly, yet ``import dustbench.methods`` fails: base -> models/__init__ -> segnet -> methods/__init__."""
    root = _edit(tmp_path, ("methods/base.py", "from .tiling import tiled_rows\n",
                            "from .tiling import tiled_rows\nfrom ..models.checkpoint import read_checkpoint\n"),
                 ("models/segnet.py", "from ..fill import check_inference_options\n",
                  "from ..methods.detect_inpaint import check_inference_options\n"))
    cycle = find_cycle(graph(root, deferred=False))
    assert cycle and "dustbench.methods" in cycle and "dustbench.models" in cycle, cycle
