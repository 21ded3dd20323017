"""Capture or replace a module's input and output by name, inside a `with` block.

Locate-then-edit methods (ROME, MEMIT, AlphaEdit) read the key entering an MLP output projection
and swap in an optimised value at its output; RMU reads a middle block's activations. All of them
need the same thing: "while this forward pass runs, show me (or let me change) what goes into and
comes out of module `name`". Hooks are registered on entry and always removed on exit, even when
the forward pass raises, so no hook outlives its block (a leaked hook would silently change every
later case: the kind of global state the conformance suite forbids).

Module names are those of `model.named_modules()`; callers take them from
`ksmith.models.arch.describe(model)`, never from model names.

    with Trace(model, "transformer.h.3.mlp.c_proj", retain_input=True) as tr:
        model(**batch)
    keys = tr.input            # [batch, seq, d_ff]

    with Trace(model, name, edit_output=lambda out: out + delta):
        logits = model(**batch).logits
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import torch
from torch import nn

from ksmith.errors import MethodError

#: Edit function for one module: receives the output (or input) and returns the replacement.
EditFn = Callable[[Any], Any]
#: Edit function for several modules: receives the value and the module's name.
NamedEditFn = Callable[[Any, str], Any]


class StopForward(Exception):
    """Raised by a `Trace(stop=True)` hook to end the forward pass once the module has run."""


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called `name` (as in `named_modules()`); a clear error when it is absent."""
    try:
        return model.get_submodule(name)
    except AttributeError as exc:
        raise MethodError(
            f"model has no module {name!r}; module names come from ksmith.models.arch.describe(model)"
        ) from exc


def get_parameter(model: nn.Module, name: str) -> nn.Parameter:
    """The parameter called `name` (as in `named_parameters()`); a clear error when it is absent."""
    try:
        return model.get_parameter(name)
    except AttributeError as exc:
        raise MethodError(f"model has no parameter {name!r}") from exc


def _first_tensor(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """The module's main input: its first positional tensor, else `hidden_states`, else any tensor.

    Linear/Conv1D layers take their input positionally; transformers blocks may receive
    `hidden_states` as a keyword, so both are looked at.
    """
    for value in args:
        if isinstance(value, torch.Tensor):
            return value
    if isinstance(kwargs.get("hidden_states"), torch.Tensor):
        return kwargs["hidden_states"]
    for value in kwargs.values():
        if isinstance(value, torch.Tensor):
            return value
    return None


def _replace_first_tensor(
    args: tuple[Any, ...], kwargs: dict[str, Any], new: torch.Tensor
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    for i, value in enumerate(args):
        if isinstance(value, torch.Tensor):
            return args[:i] + (new,) + args[i + 1 :], kwargs
    key = "hidden_states" if isinstance(kwargs.get("hidden_states"), torch.Tensor) else None
    if key is None:
        key = next((k for k, v in kwargs.items() if isinstance(v, torch.Tensor)), None)
    if key is None:
        raise MethodError("cannot replace the input of a module that received no tensor")
    return args, {**kwargs, key: new}


def _keep(value: Any, detach: bool, clone: bool) -> Any:
    """Store `value` as asked: detached and/or cloned, recursing into tuples (block outputs)."""
    if isinstance(value, torch.Tensor):
        if detach:
            value = value.detach()
        if clone:
            value = value.clone()
        return value
    if isinstance(value, tuple):
        return tuple(_keep(v, detach, clone) for v in value)
    return value


class Trace(contextlib.AbstractContextManager["Trace"]):
    """Hook one module for the duration of a `with` block.

    retain_input / retain_output: keep the module's main input tensor / its output in `.input` /
        `.output` (the last call's values; `None` until the module runs).
    edit_input:  function replacing the module's main input tensor before it runs.
    edit_output: function replacing the module's output after it runs (the value the rest of the
        network sees). With `pass_input=True` it is called as `edit_output(output, input)` with the
        module's main input tensor: how a weight update is simulated without touching the weight
        (a linear layer's output plus `input @ ΔWᵀ`).
    detach / clone: how the retained values are stored (clone when a later in-place op would
        overwrite them; detach when no gradient should flow through them).
    stop: end the forward pass right after this module (raise `StopForward`, swallowed on exit),
        to save the cost of the layers above when only a capture is wanted.
    """

    def __init__(
        self,
        model: nn.Module,
        name: str,
        *,
        retain_input: bool = False,
        retain_output: bool = True,
        edit_input: EditFn | None = None,
        edit_output: EditFn | Callable[[Any, Any], Any] | None = None,
        detach: bool = False,
        clone: bool = False,
        stop: bool = False,
        pass_input: bool = False,
    ) -> None:
        self.name = name
        self.module = get_module(model, name)
        self.input: Any = None
        self.output: Any = None
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._retain_input = retain_input
        self._retain_output = retain_output
        self._edit_input = edit_input
        self._edit_output = edit_output
        self._detach = detach
        self._clone = clone
        self._stop = stop
        self._pass_input = pass_input

    def _pre_hook(
        self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[tuple[Any, ...], dict[str, Any]] | None:
        changed = None
        if self._edit_input is not None:
            current = _first_tensor(args, kwargs)
            args, kwargs = _replace_first_tensor(args, kwargs, self._edit_input(current))
            changed = (args, kwargs)
        if self._retain_input:
            self.input = _keep(_first_tensor(args, kwargs), self._detach, self._clone)
        return changed

    def _hook(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> Any:
        if self._edit_output is not None:
            if self._pass_input:
                output = self._edit_output(output, _first_tensor(args, kwargs))
            else:
                output = self._edit_output(output)
        if self._retain_output:
            self.output = _keep(output, self._detach, self._clone)
        if self._stop:
            raise StopForward(self.name)
        return output

    def __enter__(self) -> "Trace":
        if self._retain_input or self._edit_input is not None:
            self._handles.append(
                self.module.register_forward_pre_hook(self._pre_hook, with_kwargs=True)
            )
        self._handles.append(self.module.register_forward_hook(self._hook, with_kwargs=True))
        return self

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __exit__(self, exc_type: Any, *_: Any) -> bool:
        self.close()
        return exc_type is not None and issubclass(exc_type, StopForward)


class TraceDict(contextlib.AbstractContextManager["TraceDict"]):
    """`Trace` on several modules at once; `traces[name]` gives each one's `Trace`.

    `edit_input` / `edit_output` receive `(value, name)` so one function can serve every layer
    (MEMIT edits several MLP outputs in one pass). With `stop=True` the pass ends after the last
    of the named modules has run (in the order given).
    """

    def __init__(
        self,
        model: nn.Module,
        names: Iterable[str],
        *,
        retain_input: bool = False,
        retain_output: bool = True,
        edit_input: NamedEditFn | None = None,
        edit_output: NamedEditFn | None = None,
        detach: bool = False,
        clone: bool = False,
        stop: bool = False,
    ) -> None:
        self.names = list(dict.fromkeys(names))
        self._stack = contextlib.ExitStack()
        self.traces: dict[str, Trace] = {}
        for i, name in enumerate(self.names):
            self.traces[name] = Trace(
                model,
                name,
                retain_input=retain_input,
                retain_output=retain_output,
                edit_input=_bind(edit_input, name),
                edit_output=_bind(edit_output, name),
                detach=detach,
                clone=clone,
                stop=stop and i == len(self.names) - 1,
            )

    def __getitem__(self, name: str) -> Trace:
        return self.traces[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.traces)

    def __enter__(self) -> "TraceDict":
        for trace in self.traces.values():
            self._stack.enter_context(trace)
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> bool:
        self._stack.close()
        return exc_type is not None and issubclass(exc_type, StopForward)


def _bind(fn: NamedEditFn | None, name: str) -> EditFn | None:
    if fn is None:
        return None
    return lambda value: fn(value, name)


def main_output(output: Any) -> torch.Tensor:
    """The hidden-state tensor of a module's output (blocks may return a tuple whose first item it is)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise MethodError(f"module output of type {type(output).__name__} holds no hidden-state tensor")
