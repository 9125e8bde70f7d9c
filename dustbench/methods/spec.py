"""What a user's method string means, decided once at the edge (timm's ``parse_model_name`` style).

``file:PATH`` is a model file and ``method:NAME`` a registered method, whatever else exists, and so
is a ``pathlib.Path``. A bare string is a model file when it looks like one (a model suffix, a folder separator, or an existing
file) and a registered name otherwise, and refused when it is both (a file called ``median`` beside
the registered ``median``): the user says which. The parsed :class:`MethodSpec` travels on the
loaded :class:`~dustbench.methods.base.Method` as ``method.source``, so nothing below guesses again.

    >>> parse_method_spec("median")
    MethodSpec(kind='name', value='median')
    >>> parse_method_spec("file:models/gan.pt").kind
    'file'
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import DustbenchError
from .registry import MODEL_SUFFIXES, list_methods

PREFIXES = {"file:": "file", "method:": "name"}


@dataclass(frozen=True)
class MethodSpec:
    """``kind`` is ``"name"`` (a registered method), ``"file"`` (a model file; ``value`` its path as
    given, ``path`` resolved) or ``"object"`` (a Method, module or function given in code)."""

    kind: str
    value: str

    @property
    def path(self) -> Path | None:
        """The model file, resolved (None unless ``kind == "file"``)."""
        if self.kind != "file":
            return None
        path = Path(self.value).expanduser()
        return path.resolve() if path.exists() else path


def _looks_like_file(text: str) -> bool:
    return Path(text).suffix.lower() in MODEL_SUFFIXES or "/" in text or os.sep in text


def parse_method_spec(spec) -> MethodSpec:
    """A method string (or path) -> :class:`MethodSpec`; objects given in code -> kind ``"object"``."""
    if isinstance(spec, MethodSpec):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        return MethodSpec("object", type(spec).__name__)
    text = os.fspath(spec)
    for prefix, kind in PREFIXES.items():
        if text.startswith(prefix):
            value = text[len(prefix):]
            if not value:
                raise DustbenchError(f"{text!r}: nothing after {prefix!r}")
            return MethodSpec(kind, value)
    if not isinstance(spec, str):  # a Path object names a file, whatever its name
        return MethodSpec("file", text)
    is_name = text in list_methods()
    if is_name and Path(text).expanduser().is_file():
        raise DustbenchError(f"{text!r} is both a registered method and a file here: say method:{text} for the "
                             f"method or file:{text} for the model file")
    if not is_name and (_looks_like_file(text) or Path(text).expanduser().is_file()):
        return MethodSpec("file", text)
    return MethodSpec("name", text)
