"""Opening torch files that came from elsewhere without running code they carry.

The ways a model file could run code when loaded, and what we do about each:

* **Pickles.** ``torch.load`` without ``weights_only`` unpickles arbitrary Python (a
  ``__reduce__`` that calls ``os.system``). :func:`load_weights` always passes
  ``weights_only=True`` and reports a refused global as *unsafe*, naming it.
* **torch.export archives (.pt2).** ``torch.export.load`` unpickles weights and constants marked
  ``use_pickle`` with ``weights_only=False``, falls back to ``weights_only=False`` for sample
  inputs that fail the safe load, unpickles custom/opaque objects, feeds expression strings to
  ``sympy.sympify`` (an ``eval``), ``exec``s the program's ``guards_code``, and resolves node
  targets by walking attributes of ``torch`` (``torch.os.system`` is reachable that way).
  :func:`check_export_archive` reads the archive with :func:`open_archive` and :mod:`json` first
  and refuses anything outside a plain exported program: unknown members, pickled payloads, custom
  objects, call targets other than allowed ``torch.ops.{aten,prims}`` operators (see TorchScript
  below) and a few ``operator`` and ``math`` functions, expressions that are not arithmetic over
  shape symbols, guards that are not comparisons of input sizes. :func:`load_export_program`
  then loads it with ``torch.load`` held to ``weights_only=True`` for the duration, as a second
  line.
* **Zip archives** (.pt2, TorchScript, checkpoints) are read by torch's own zip reader, which can
  pick another copy of a member than :mod:`zipfile` does. :func:`open_archive` is the one reader
  dustbench inspects archives with: it refuses any archive whose member names could be read two
  ways (duplicates, also after case folding; ``..``, ``.``, backslashes, leading ``/``, NULs) or
  whose layout could (data before it, a trailing comment), so the check sees the bytes torch reads.
* **TorchScript** runs only its own TorchScript code, but that code may call any registered operator
  (``aten::from_file(..., shared=True)`` writes to a file, ``aten::save`` creates one) and
  ``__setstate__`` runs while torch loads the file. :func:`load_script_module` refuses code that
  defines ``__setstate__`` before loading, then walks every method and forward hook of every
  submodule (inlined graphs) and refuses any operator outside :data:`dustbench.model_ops.ALLOWED_OPS`, what a
  restoration network needs; the operators an exported program calls are held to the same list.

Torch is imported inside the functions: importing this module costs nothing.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from .errors import DustbenchError
from .model_archive import UnsafeModelError, open_archive, read_member, read_model_file  # noqa: F401  (re-exported)
from .model_archive import unsafe as _unsafe
from .model_ops import ALLOWED_HIGHER_ORDER, allowed_op


# -- pickles ----------------------------------------------------------------------------------------
_GLOBAL = re.compile(r"GLOBAL\s+([\w.]+)", re.IGNORECASE)


def load_weights(source, where, map_location="cpu"):
    """``torch.load(source, weights_only=True)``; an unsafe pickle is an :class:`UnsafeModelError`.

    ``source`` is a path or bytes; ``where`` names it in messages. Other read failures (corrupt,
    truncated, not a torch file) are DustbenchErrors that say so.
    """
    import pickle

    import torch

    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else str(source)
    try:
        return torch.load(stream, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = _GLOBAL.search(text)
        if found or "weights only load failed" in text.lower():
            what = f"it holds a pickled Python object ({found.group(1)})" if found else \
                "it holds pickled Python objects"
            raise _unsafe(where, f"{what} that only arbitrary unpickling could load") from None
        raise DustbenchError(f"{where}: not a readable torch file (corrupt or truncated?)") from None
    except (RuntimeError, OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        brief = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise DustbenchError(f"{where}: not a readable torch file (corrupt, truncated or another format: "
                             f"{brief})") from None


def _refused_op(path, op: str) -> UnsafeModelError:
    return _unsafe(path, f"the model calls operator {op!r}, which a restoration network does not need "
                         "(dustbench allows tensor operators only: no files, processes or extensions)")


def _graph_kinds(block, out: set) -> set:
    """Node kinds of a TorchScript graph or block, nested blocks (if/loop bodies) included."""
    for node in block.nodes():
        out.add(node.kind())
        for inner in node.blocks():
            _graph_kinds(inner, out)
    return out


def _script_functions(module) -> Iterator[Any]:
    """Every compiled method and forward (pre-)hook of a TorchScript module and its submodules:
    calling the module runs its hooks too, outside forward's graph."""
    for _, sub in module.named_modules():
        yield from (sub._c._get_method(name) for name in sub._c._method_names())
        yield from sub._c._get_forward_pre_hooks()
        yield from sub._c._get_forward_hooks()


def check_script_module(module, path) -> None:
    """Refuse a loaded TorchScript module if any method or hook of any submodule calls an operator
    outside the allow-list. Graphs are inlined, so called functions and methods count; a call
    that cannot be inlined (an interface) stays a prim::CallMethod and is refused."""
    kinds: set = set()
    for function in _script_functions(module):
        _graph_kinds(function.inlined_graph, kinds)
    for kind in sorted(kinds):
        namespace, _, name = kind.partition("::")
        if not allowed_op(namespace, name):
            raise _refused_op(path, kind)


def _check_code(archive: zipfile.ZipFile, path) -> None:
    """torch runs ``__setstate__`` while it loads a TorchScript file, before any check can see
    the loaded module: refuse code that defines it."""
    for name in archive.namelist():  # lower(): torch finds code/x.py under CODE/X.PY too
        if "/code/" in name.lower() and b"__setstate__" in read_member(archive, name, path):
            raise _unsafe(path, f"{name} defines __setstate__, code that torch runs while loading the file")


def load_script_module(path, map_location=None, extra_files=None):
    """``torch.jit.load`` of a TorchScript file that passed :func:`open_archive`, has no
    ``__setstate__`` and calls only allowed operators (checked before it runs anything else)."""
    import torch

    data = read_model_file(path)
    with open_archive(path, data) as archive:
        _check_code(archive, path)
    extra_files = {} if extra_files is None else extra_files  # torch fills it in
    module = torch.jit.load(io.BytesIO(data), map_location=map_location, _extra_files=extra_files)
    check_script_module(module, path)
    return module


# -- torch.export archives --------------------------------------------------------------------------
# Members of an archive written by torch.export.save, relative to its top folder.
_MEMBERS = [re.compile(p) for p in (
    r"archive_format", r"archive_version", r"byteorder", r"\.data/version", r"\.data/serialization_id",
    r"models/(?P<model>\w+)\.json", r"data/weights/(?P<wcfg>\w+)_weights_config\.json", r"data/weights/weight_\d+",
    r"data/constants/(?P<ccfg>\w+)_constants_config\.json", r"data/constants/tensor_\d+",
    r"data/sample_inputs/(?P<inputs>\w+)\.pt", r"extra/[\w.\-]+")]
_PAYLOAD = {"weights": re.compile(r"weight_\d+"), "constants": re.compile(r"tensor_\d+")}
# Call targets a restoration network needs; anything else (torch.os.system, torch.ops.load_library,
# torch.hub.load, an extension operator) is refused.
_OP = re.compile(r"torch\.ops\.(?P<ns>aten|prims)\.(?P<name>\w+)\.\w+|torch\.ops\.higher_order\.(?P<hop>\w+)",
                 re.ASCII)
_PY_TARGETS = {f"_operator.{n}" for n in (
    "getitem", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos", "abs", "eq", "ne",
    "lt", "le", "gt", "ge", "and_", "or_", "not_")} | {f"math.{n}" for n in ("ceil", "floor", "trunc", "sqrt")}
# What an expression string may use (sympify evaluates it as Python): shape symbols (s0, u3, ...),
# numbers, arithmetic, and calls of sympy's and torch's symbolic constructors, as srepr writes them.
_SYMBOL = re.compile(r"[a-z]{1,3}\d+")
_SYMPY_NAMES = {"Symbol", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Max", "Min", "Abs", "Mod",
                "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt", "FloorToInt",
                "CeilDiv", "IntTrueDiv", "FloatTrueDiv", "ToFloat", "TruncToInt", "TruncToFloat", "Identity",
                "OpaqueUnaryFn_sqrt", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "oo", "zoo", "nan",
                "true", "false", "True", "False"}
_ASSUMPTIONS = {"positive", "negative", "nonnegative", "nonpositive", "integer", "real", "finite", "zero",
                "nonzero", "even", "odd", "commutative", "precision"}
_EXPR_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.keyword, ast.Name, ast.Load,
               ast.Constant, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.USub, ast.UAdd,
               ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_SIZE_ATTRS = ("size", "stride", "storage_offset", "dim")


def _members(archive: zipfile.ZipFile, path) -> tuple[str, dict[str, str]]:
    """(top folder, {relative name: kind}) after checking every member against :data:`_MEMBERS`."""
    names = archive.namelist()
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) != 1 or not all("/" in n for n in names):
        raise _unsafe(path, "its members do not share one top folder as torch.export.save writes them")
    top = tops.pop()
    found: dict[str, str] = {}
    for name in names:
        rel = name[len(top) + 1:]
        if name.endswith("/") and not rel:
            continue
        parts = PurePosixPath(rel).parts
        if ".." in parts or rel.startswith("/"):
            raise _unsafe(path, f"member {name!r} points outside the archive")
        match = next((m for m in (p.fullmatch(rel) for p in _MEMBERS) if m), None)
        if match is None:
            raise _unsafe(path, f"member {rel!r} is not part of a plain torch.export program (a legacy "
                                "pickled payload, compiled code or an unknown file)")
        found[rel] = next((k for k, v in match.groupdict().items() if v), "")
    if "archive_format" not in found:
        raise _unsafe(path, "it has no archive_format member")
    return top, found


def _check_payloads(archive: zipfile.ZipFile, top: str, rel: str, kind: str, path) -> None:
    try:
        config = json.loads(read_member(archive, f"{top}/{rel}", path))["config"]
        items = list(config.items())
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DustbenchError(f"{path}: unreadable {rel} ({exc})") from None
    for name, meta in items:
        if not isinstance(meta, dict) or meta.get("use_pickle") is not False:
            raise _unsafe(path, f"{kind} entry {name!r} is stored as a pickle")
        if not _PAYLOAD[kind].fullmatch(str(meta.get("path_name", ""))):
            raise _unsafe(path, f"{kind} entry {name!r} is a custom or opaque Python object "
                                f"({meta.get('path_name')!r}), not a tensor")


def _check_expression(text: Any, path, what: str) -> None:
    """Arithmetic over shape symbols and sympy constructors only: sympify evaluates the text."""
    text = str(text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        tree = None
    for node in ast.walk(tree) if tree is not None else [None]:
        ok = isinstance(node, _EXPR_NODES)
        if isinstance(node, ast.Name):
            ok = bool(_SYMBOL.fullmatch(node.id)) or node.id in _SYMPY_NAMES
        elif isinstance(node, ast.Call):
            ok = isinstance(node.func, ast.Name)
        elif isinstance(node, ast.keyword):
            ok = node.arg in _ASSUMPTIONS and isinstance(node.value, ast.Constant)
        elif isinstance(node, ast.Constant):
            ok = isinstance(node.value, (int, float, bool)) or (
                isinstance(node.value, str) and re.fullmatch(r"[\w.+\-]*", node.value) is not None)
        if not ok:
            raise _unsafe(path, f"{what} {text[:80]!r} is not an arithmetic expression over shape symbols")


_GUARD_NODES = (ast.Expression, ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.USub,
                ast.Not, ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Div, ast.Constant, ast.Subscript,
                ast.Attribute, ast.Call, ast.Name, ast.Load, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt,
                ast.GtE)


def _check_guard(code: Any, path) -> None:
    """A guard is exec'd as Python: allow only comparisons of L[...] input sizes and numbers.

    torch also pastes the guard's text into a double-quoted message, so quotes and backslashes
    that could end that literal are refused too."""
    if any(c in str(code) for c in '"\\\n'):
        raise _unsafe(path, f"guard {str(code)[:80]!r} holds quotes or escapes")
    try:
        tree = ast.parse(str(code), mode="eval")
    except SyntaxError:
        raise _unsafe(path, f"guard {str(code)[:80]!r} is not an expression") from None
    for node in ast.walk(tree):
        ok = isinstance(node, _GUARD_NODES)
        if isinstance(node, ast.Name):
            ok = node.id == "L"
        elif isinstance(node, ast.Attribute):
            ok = node.attr in _SIZE_ATTRS
        elif isinstance(node, ast.Call):
            ok = isinstance(node.func, ast.Attribute) and not node.keywords and all(
                isinstance(a, ast.Constant) for a in node.args)
        elif isinstance(node, ast.Constant):
            ok = isinstance(node.value, (int, float, bool)) or (
                isinstance(node.value, str) and re.fullmatch(r"[A-Za-z_]\w*", node.value) is not None)
        if not ok:
            raise _unsafe(path, f"guard {str(code)[:80]!r} is more than a comparison of input sizes")


def _walk(obj: Any) -> Iterator[tuple[str, Any, Any]]:
    """(key, value, parent) for every dict entry of a JSON tree."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k, v, obj
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def _check_target(target: str, path) -> None:
    """A call target: an allowed aten/prims operator, higher-order op, or operator/math function."""
    if target in _PY_TARGETS:
        return
    op = _OP.fullmatch(target)
    if op is None:
        raise _unsafe(path, f"the graph calls {target!r}, which is not a tensor operator")
    if not (allowed_op(op["ns"], op["name"]) if op["ns"] else op["hop"] in ALLOWED_HIGHER_ORDER):
        raise _refused_op(path, target)


def _check_program(archive: zipfile.ZipFile, top: str, rel: str, path) -> None:
    try:
        program = json.loads(read_member(archive, f"{top}/{rel}", path))
    except ValueError as exc:
        raise DustbenchError(f"{path}: unreadable {rel} ({exc})") from None
    if not isinstance(program, dict):
        raise DustbenchError(f"{path}: {rel} is not an exported program")
    for code in program.get("guards_code") or []:
        _check_guard(code, path)
    for key in program.get("range_constraints") or {}:
        _check_expression(key, path, "range constraint")
    for key, value, parent in _walk(program.get("graph_module")):
        if key == "target" and "inputs" in parent:
            _check_target(str(value), path)
        elif key == "expr_str":
            _check_expression(value, path, "shape expression")


def check_export_archive(path, data: bytes | None = None) -> None:
    """Raise :class:`UnsafeModelError` unless ``path`` (or its bytes ``data``) is a plain torch.export
    archive (see module doc)."""
    path = Path(path)
    with open_archive(path, data) as archive:
        top, members = _members(archive, path)
        if read_member(archive, f"{top}/archive_format", path).strip() != b"pt2":
            raise _unsafe(path, "its archive_format is not 'pt2'")
        models = [rel for rel, kind in members.items() if kind == "model"]
        if not models:
            raise DustbenchError(f"{path}: the archive holds no exported program (models/*.json)")
        for rel, kind in members.items():
            if kind == "wcfg":
                _check_payloads(archive, top, rel, "weights", path)
            elif kind == "ccfg":
                _check_payloads(archive, top, rel, "constants", path)
            elif kind == "model":
                _check_program(archive, top, rel, path)
            elif kind == "inputs":  # torch retries this one with weights_only=False: it must load safely
                load_weights(archive.read(f"{top}/{rel}"), f"{path} ({rel})")


@contextlib.contextmanager
def _weights_only_torch_load() -> Iterator[None]:
    """Every ``torch.load`` inside the block behaves as ``weights_only=True`` (a second line)."""
    import torch

    original = torch.load

    def guarded(*args, **kwargs):
        kwargs["weights_only"] = True
        return original(*args, **kwargs)

    torch.load = guarded
    try:
        yield
    finally:
        torch.load = original


def load_export_program(path):
    """``(program, module)`` of a checked torch.export archive (:func:`check_export_archive` first)."""
    import torch

    data = read_model_file(path)
    check_export_archive(path, data)
    with _weights_only_torch_load():
        program = torch.export.load(io.BytesIO(data))
        return program, program.module()
