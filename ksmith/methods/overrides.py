"""Hyper-parameters set without code: one file and command-line assignments, resolved in one place.

Each method's defaults come from its own module (the published configuration for real models, the
values tuned on tiny-kg for tiny-kg). A user changes them with

- a file (`--ksmith-hparams FILE`, YAML or JSON): method -> model key -> field -> value, where the
  model key is `"*"` (every model), a `config.model_type` (`llama`, `gemma3_text`, ...) or a model
  spec / grid name (`smollm2-135m`); a more specific key wins over a less specific one:

      rome:
        llama: {v_steps: 40}
        smollm2-135m: {layer: 6}
      npo:
        "*": {lr: 5.0e-5, epochs: 5}

- assignments (`--ksmith-hparam METHOD.FIELD=VALUE`, repeatable), which win over the file and apply
  to every model. VALUE is read as YAML (`5`, `1e-5`, `[4, 5, 6]`, `null`, `subject_last`).

An unknown method or field is an error that lists the valid ones, raised before any case runs.
Lists become tuples where the field holds a tuple, so the effective hyper-parameters hash the same
however they were written.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ksmith.errors import MethodError

#: The key of a file entry that applies to every model.
EVERY_MODEL = "*"


class HparamError(MethodError):
    """A hyper-parameter file or assignment that names an unknown method or field, or is malformed."""


def _fields(method: str) -> dict[str, dataclasses.Field]:
    from ksmith.methods.registry import method_info

    return {f.name: f for f in dataclasses.fields(method_info(method).cls.Hparams)}


def _known_method(method: str, where: str) -> None:
    from ksmith.methods.registry import available_methods

    methods = available_methods()
    if method not in methods:
        close = difflib.get_close_matches(method, methods, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise HparamError(f"{where}: unknown method {method!r}.{hint} Known methods: {', '.join(methods)}")


def _check_field(method: str, name: str, where: str) -> None:
    fields = _fields(method)
    if name not in fields:
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise HparamError(
            f"{where}: method {method!r} has no hyper-parameter {name!r}.{hint} "
            f"Its fields: {', '.join(sorted(fields))}"
        )


def _coerce(method: str, name: str, value: Any) -> Any:
    """Lists to tuples for tuple-typed fields (dataclass fields are frozen, hashable values)."""
    declared = str(_fields(method)[name].type)
    if isinstance(value, list) and "tuple" in declared:
        return tuple(value)
    if isinstance(value, str) and "float" in declared:  # "1e-5" in a YAML 1.1 file
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool) and declared.startswith("float"):
        return float(value)
    return value


def _parse_value(text: str) -> Any:
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):  # YAML 1.1 reads "1e-5" (no dot) as a string
        try:
            return float(value)
        except ValueError:
            return value
    return value


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """'rome.layer=5' -> ('rome', 'layer', 5); the value is read as YAML."""
    target, sep, raw = text.partition("=")
    method, dot, name = target.strip().partition(".")
    if not sep or not dot or not method or not name.strip():
        raise HparamError(
            f"--ksmith-hparam {text!r}: expected METHOD.FIELD=VALUE, e.g. rome.layer=5 or memit.layers=[4,5,6]"
        )
    return method, name.strip(), _parse_value(raw.strip())


def read_file(path: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """A hyper-parameter file (YAML or JSON) as method -> model key -> {field: value}."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise HparamError(f"--ksmith-hparams: {str(p)!r} is not a file; give a YAML or JSON file")
    text = p.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise HparamError(f"--ksmith-hparams: cannot parse {str(p)!r}: {exc}") from None
    data = data or {}
    shape = "method -> model type or spec (or '*') -> field -> value"
    if not isinstance(data, Mapping):
        raise HparamError(f"--ksmith-hparams: {str(p)!r} must hold a mapping ({shape})")
    for method, models in data.items():
        if not isinstance(models, Mapping) or not all(isinstance(v, Mapping) for v in models.values()):
            raise HparamError(f"--ksmith-hparams: {str(p)!r}, entry {method!r}: expected {shape}")
    return {str(m): {str(k): dict(v) for k, v in models.items()} for m, models in data.items()}


@dataclass(frozen=True)
class HparamOverrides:
    """Validated overrides: the file's entries and the command line's assignments."""

    by_model: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)
    assignments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        file: str | Path | None = None,
        assignments: Iterable[str] = (),
        covariance_corpus: str | Path | None = None,
    ) -> HparamOverrides:
        """Read, validate and coerce everything; raises `HparamError` naming the bad entry.

        covariance_corpus (`--ksmith-cov-corpus`): the key statistics' text file for every method
        that has key statistics (an assignment of `covariance_corpus` to each), below explicit
        assignments.
        """
        from ksmith.methods.registry import available_methods

        by_model: dict[str, dict[str, dict[str, Any]]] = {}
        if file is not None:
            for method, models in read_file(file).items():
                _known_method(method, f"--ksmith-hparams {file}")
                for key, values in models.items():
                    for name in values:
                        _check_field(method, name, f"--ksmith-hparams {file} ({method} / {key})")
                    by_model.setdefault(method, {})[key] = {n: _coerce(method, n, v) for n, v in values.items()}
        assigned: dict[str, dict[str, Any]] = {}
        if covariance_corpus is not None:
            corpus = Path(covariance_corpus)
            if not corpus.is_file():
                raise HparamError(f"--ksmith-cov-corpus: {str(corpus)!r} is not a file; give a text file, one text per line")
            for method in available_methods():
                if "covariance_corpus" in _fields(method):
                    assigned.setdefault(method, {})["covariance_corpus"] = str(corpus.resolve())
        for text in assignments:
            method, name, value = parse_assignment(text)
            _known_method(method, f"--ksmith-hparam {text}")
            _check_field(method, name, f"--ksmith-hparam {text}")
            assigned.setdefault(method, {})[name] = _coerce(method, name, value)
        return cls(by_model=by_model, assignments=assigned)

    def for_method(self, method: str, model_keys: Sequence[str]) -> dict[str, Any]:
        """The fields to override for `method` on a model known by `model_keys` (least specific
        first, e.g. (model_type, spec, grid name)): '*' < model keys in order < assignments."""
        chosen: dict[str, Any] = {}
        entries = self.by_model.get(method, {})
        for key in (EVERY_MODEL, *model_keys):
            chosen.update(entries.get(key, {}))
        chosen.update(self.assignments.get(method, {}))
        return chosen

    def __bool__(self) -> bool:
        return bool(self.by_model or self.assignments)
