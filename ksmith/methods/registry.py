"""The method registry: `@register_method("rome", family="edit")`, entry points, did-you-mean.

Built-in methods register when their modules are imported; third-party methods are found through
the entry-point group `ksmith.methods` (each entry point names a `Method` subclass or a module that
registers on import), with no change to ksmith. Discovery is lazy and happens once per process, on
the first lookup, so importing ksmith does no work. The table is append-only configuration (like
lm-evaluation-harness's task registry): it never holds per-case state.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
from dataclasses import dataclass
from importlib import metadata
from typing import Callable, TypeVar

from ksmith.errors import MethodError
from ksmith.methods.base import Method

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "ksmith.methods"
FAMILIES = ("edit", "unlearn")

#: Modules whose import registers the built-in methods.
BUILTIN_MODULES: tuple[str, ...] = (
    "ksmith.methods.finetune",
    "ksmith.methods.lora",
    "ksmith.methods.rome",
    "ksmith.methods.memit",
    "ksmith.methods.alphaedit",
    "ksmith.methods.ike",
    "ksmith.methods.unlearn",
)


@dataclass(frozen=True)
class MethodInfo:
    """A registered method: its class, the tasks it supports and where it comes from."""

    name: str
    cls: type[Method]
    families: frozenset[str]
    origin: str  # "ksmith" for built-ins, else "entry point <dist>:<name>" or the module name


_REGISTRY: dict[str, MethodInfo] = {}
_DISCOVERED = False

M = TypeVar("M", bound=type[Method])


def register_method(name: str, family: str | tuple[str, ...] = "edit") -> Callable[[M], M]:
    """Class decorator: register a `Method` subclass under `name` for one or more families."""
    families = frozenset((family,) if isinstance(family, str) else family)
    bad = families - set(FAMILIES)
    if bad:
        raise MethodError(f"method {name!r}: unknown family {sorted(bad)}; use one of {FAMILIES}")

    def decorate(cls: M) -> M:
        if not (inspect.isclass(cls) and issubclass(cls, Method)):
            raise MethodError(f"@register_method({name!r}) must decorate a ksmith Method subclass")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.cls is not cls:
            raise MethodError(
                f"method name {name!r} is registered twice ({existing.origin} and {cls.__module__}); "
                "rename one of them"
            )
        cls.name = name
        cls.families = families
        origin = "ksmith" if cls.__module__.startswith("ksmith.") else cls.__module__
        _REGISTRY[name] = MethodInfo(name, cls, families, origin)
        return cls

    return decorate


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
        except Exception as exc:  # a broken plug-in must not take the others down
            log.warning("ksmith: could not load method entry point %s (%s): %s", ep.name, ep.value, exc)
            continue
        dist = ep.dist.name if ep.dist is not None else "?"
        origin = f"entry point {dist}:{ep.name}"
        if inspect.isclass(target) and issubclass(target, Method):
            if target.name not in _REGISTRY:
                register_method(ep.name, tuple(target.families) or "edit")(target)
            info = _REGISTRY[target.name]
            _REGISTRY[target.name] = MethodInfo(info.name, info.cls, info.families, origin)
        else:  # a module that registered its methods on import
            for name, info in list(_REGISTRY.items()):
                if info.origin == getattr(target, "__name__", None):
                    _REGISTRY[name] = MethodInfo(name, info.cls, info.families, origin)


def available_methods() -> dict[str, MethodInfo]:
    """Every registered method (built-in and plug-in), by name, sorted."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def method_info(name: str) -> MethodInfo:
    """The registered method `name`; an unknown name fails with the known ones and a suggestion."""
    methods = available_methods()
    if name in methods:
        return methods[name]
    close = difflib.get_close_matches(name, methods, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise MethodError(f"unknown method {name!r}.{hint} Known methods: {', '.join(methods)}")


def get_method(name: str, **overrides: object) -> Method:
    """An instance of the registered method `name`, with hyper-parameter overrides if given."""
    import dataclasses

    info = method_info(name)
    names = {f.name for f in dataclasses.fields(info.cls.Hparams)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise MethodError(f"method {name!r} has no hyper-parameter(s) {unknown}; it has {sorted(names)}")
    return info.cls(**overrides)
