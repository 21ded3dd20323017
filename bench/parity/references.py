"""Importing the reference implementations from a checkout the user names, at run time.

Nothing is fetched and nothing of theirs is copied into ksmith: each reference is imported from
the path given on the command line. Their packages' `__init__` files import everything they ship
(EasyEdit's pulls in some thirty editors and their dependencies; open-unlearning's the Hydra
stack), so the harness registers a bare package module for each with `__path__` pointing into the
checkout, and only the files it needs are imported. A dependency those files import but the
harness never reaches (EasyEdit's `datasets`, for the Wikipedia statistics the harness replaces;
open-unlearning's `deepspeed`, for an `isinstance` check) is stubbed while the import runs, and
only when it is not installed here; the stub is taken out of `sys.modules` again right after, so
no other library sees it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CheckoutError(RuntimeError):
    """A reference checkout that cannot be imported (wrong path, missing files)."""


def bare_package(name: str, path: Path) -> None:
    """Register package `name` with its files under `path`, without running its `__init__`."""
    if not path.is_dir():
        raise CheckoutError(f"{path} is not a directory; is the checkout path right?")
    module = types.ModuleType(name)
    module.__path__ = [str(path)]
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__spec__.submodule_search_locations = [str(path)]
    sys.modules[name] = module


@contextlib.contextmanager
def stubbed(stubs: dict[str, dict[str, Any]]) -> Iterator[list[str]]:
    """While the block runs, each module of `stubs` that is not installed here is a stub with those
    attributes; yields the names stubbed. They leave `sys.modules` afterwards (the modules that
    imported them keep their reference)."""
    made = []
    for name, attrs in stubs.items():
        if name in sys.modules or importlib.util.find_spec(name) is not None:
            continue
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        for key, value in attrs.items():
            setattr(module, key, value)
        sys.modules[name] = module
        made.append(name)
    try:
        yield made
    finally:
        for name in made:
            sys.modules.pop(name, None)


def _unavailable(what: str):
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise CheckoutError(f"the parity harness stubbed out {what}; it must not be reached")

    return fail


@dataclass
class EasyEdit:
    """EasyEdit's modules the harness calls (ROME, MEMIT, AlphaEdit) and what it stubbed to import them."""

    root: Path
    rome_main: Any
    compute_u: Any
    memit_main: Any
    alphaedit_main: Any
    ROMEHyperParams: Any
    MEMITHyperParams: Any
    AlphaEditHyperParams: Any
    stubs: list[str]


def import_easyedit(root: str | Path) -> EasyEdit:
    """EasyEdit's `easyeditor.models.{rome,memit,alphaedit}` from the checkout at `root`."""
    root = Path(root).resolve()
    package = root / "easyeditor"
    bare_package("easyeditor", package)
    bare_package("easyeditor.models", package / "models")
    # layer_stats.py imports `datasets` for the Wikipedia statistics, which the harness replaces
    with stubbed({"datasets": {"load_dataset": _unavailable("datasets.load_dataset")}}) as stubs:
        rome_main = importlib.import_module("easyeditor.models.rome.rome_main")
        compute_u = importlib.import_module("easyeditor.models.rome.compute_u")
        memit_main = importlib.import_module("easyeditor.models.memit.memit_main")
        alphaedit_main = importlib.import_module("easyeditor.models.alphaedit.AlphaEdit_main")
    return EasyEdit(
        root=root,
        rome_main=rome_main,
        compute_u=compute_u,
        memit_main=memit_main,
        alphaedit_main=alphaedit_main,
        ROMEHyperParams=rome_main.ROMEHyperParams,
        MEMITHyperParams=memit_main.MEMITHyperParams,
        AlphaEditHyperParams=alphaedit_main.AlphaEditHyperParams,
        stubs=stubs,
    )


@dataclass
class OpenUnlearning:
    """open-unlearning's trainer classes the harness calls, and what it stubbed to import them."""

    root: Path
    trainers: dict[str, type]
    stubs: list[str]


class _DeepSpeedEngine:  # what rmu.py's isinstance check compares against
    pass


def import_open_unlearning(root: str | Path) -> OpenUnlearning:
    """open-unlearning's `src/trainer/unlearn/{grad_ascent,grad_diff,npo,simnpo,rmu}.py` from the
    checkout at `root`."""
    root = Path(root).resolve()
    package = root / "src" / "trainer"
    bare_package("trainer", package)
    bare_package("trainer.unlearn", package / "unlearn")
    modules = {}
    for name in ("grad_ascent", "grad_diff", "npo", "simnpo"):
        modules[name] = importlib.import_module(f"trainer.unlearn.{name}")
    # rmu.py imports deepspeed at the top for one isinstance check on a wrapped model; the other
    # files ask `is_deepspeed_available()`, which a stub would fool, so it is there for rmu.py only
    with stubbed({"deepspeed": {"DeepSpeedEngine": _DeepSpeedEngine}}) as stubs:
        modules["rmu"] = importlib.import_module("trainer.unlearn.rmu")
    trainers = {
        "grad-ascent": modules["grad_ascent"].GradAscent,
        "grad-diff": modules["grad_diff"].GradDiff,
        "npo": modules["npo"].NPO,
        "simnpo": modules["simnpo"].SimNPO,
        "rmu": modules["rmu"].RMU,
    }
    return OpenUnlearning(root=root, trainers=trainers, stubs=stubs)
