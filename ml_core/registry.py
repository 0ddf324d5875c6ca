"""Parts registered by name (BasicSR style), one small helper for every kind of part.

Architectures, datasets, losses, render presets and benchmarks each keep a :class:`Registry`; a module adds its
parts where it defines them, so a new task brings new files and edits no list::

    LOSSES = Registry("loss")

    @LOSSES.register("hdr_l1")          # a function or class, under a name
    def hdr_l1(pred, target, exposure): ...

    PRESETS.add("denoise", RenderConfig(frames=1))   # a value, under a name
    LOSSES.get("hdr_l1")                             # unknown names raise UnknownName (a ValueError) naming the choices

:func:`import_submodules` imports every module of a package, so registrations in new files take effect
without an import list to keep.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownName(ValueError, KeyError):
    """A name no part is registered under; ``str()`` is one line naming the choices."""

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    """Name -> part, for one kind of part (``kind`` names it in errors: "unknown loss 'x'")."""

    def __init__(self, kind: str):
        self.kind = kind
        self._parts: dict[str, T] = {}

    def add(self, name: str, part: T) -> T:
        if name in self._parts:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._parts[name] = part
        return part

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register a function or class under ``name`` (default: its ``__name__``)."""
        def decorate(part: T) -> T:
            return self.add(name or part.__name__, part)
        return decorate

    def get(self, name: str) -> T:
        try:
            return self._parts[name]
        except KeyError:
            raise UnknownName(f"unknown {self.kind} {name!r}: choose one of {', '.join(sorted(self._parts))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._parts

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def names(self) -> list[str]:
        return list(self._parts)

    def items(self):
        return self._parts.items()


def import_submodules(package: str) -> None:
    """Import every module of ``package`` (its registrations run); ``_private`` modules are skipped."""
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
