"""Name -> factory registries (timm-style), shared by methods and models.

``@REGISTRY.register("name")`` on a factory; ``get`` raises UnknownNameError with a "did you
mean"; ``check_options`` rejects keyword options the factory does not take, with a suggestion
(:func:`check_keys`, also what a training task's options go through).
"""
from __future__ import annotations

import fnmatch
import inspect
from typing import Any, Callable

from .errors import DustbenchError, UnknownNameError, did_you_mean


def option_params(factory: Callable[..., Any]) -> list[inspect.Parameter]:
    """The keyword options a factory (function or class) accepts."""
    sig = inspect.signature(factory)  # for a class this is __init__ without self
    return [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def check_keys(owner: str, options, valid, word: str = "option") -> None:
    """Raise DustbenchError for the first key of ``options`` not in ``valid``: ``"{owner} has no
    {word} 'k'; did you mean 'x'? (valid: ...)"``."""
    valid = list(valid)
    for key in options:
        if key not in valid:
            raise DustbenchError(f"{owner} has no {word} {key!r}{did_you_mean(key, valid)} "
                                 f"(valid: {', '.join(valid) or 'none'})")


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


class Registry:
    """Factories registered by name for one `kind` of thing ("method", "model", "task")."""

    def __init__(self, kind: str, option_word: str = "option"):
        self.kind, self.option_word = kind, option_word
        self._factories: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering a factory under `name`; returns the factory unchanged."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")

        def decorator(factory: Callable[..., Any]) -> Callable[..., Any]:
            old = self._factories.get(name)
            # Re-registering the same object (a module reloaded in a test) is harmless; two
            # different owners fighting over one name is a bug.
            if old is not None and _qualname(old) != _qualname(factory):
                raise ValueError(f"{self.kind} {name!r} is already registered by {_qualname(old)}")
            self._factories[name] = factory
            return factory

        return decorator

    def names(self, pattern: str | list[str] | None = None) -> list[str]:
        """Registered names, sorted; ``pattern`` keeps those matching an fnmatch glob (or any of a list)."""
        names = sorted(self._factories)
        if pattern is None:
            return names
        patterns = [pattern] if isinstance(pattern, str) else list(pattern)
        return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]

    def __contains__(self, name: str) -> bool:
        return name in self._factories

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._factories) from None

    def check_options(self, name: str, options: dict) -> None:
        """Raise DustbenchError for an option the factory of `name` does not take (unless **kwargs)."""
        factory = self.get(name)
        if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values()):
            return  # the factory takes **options: it validates itself
        check_keys(f"{self.kind} {name!r}", options, [p.name for p in option_params(factory)], self.option_word)
