"""Verified snapshot and restore of a model's weights, so no benchmark case can leak into the next.

A method declares the tensors it will touch; the fixture snapshots those (clones), lets the method
run, restores them in place and then *proves* the restore: every parameter, declared or not, must
equal its pre-update value. Undeclared tensors are not cloned (that would cost a full copy of the
model per case) but fingerprinted with a content hash, which is enough to detect a leak.

PEFT adapters (LoRA and friends) are injected into the wrapped model's modules in place; restoring
swaps every adapter layer back for the layer it wraps, so the model's parameter names and forward
pass are the original ones again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ksmith.errors import KsmithError


class RestoreError(KsmithError):
    """Weights that differ from their snapshot after a restore (a case leaked into the model)."""


def _bare(model: Any) -> Any:
    """The underlying transformers model of a PEFT wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) and hasattr(model, "peft_config") and hasattr(model, "base_model") else model


def tensor_hash(tensor: Any) -> str:
    """Content hash of one tensor (dtype, shape and raw bytes): equal iff bitwise equal, in practice."""
    import torch

    data = tensor.detach()
    if data.device.type != "cpu":
        data = data.cpu()
    data = data.contiguous()
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{data.dtype}|{tuple(data.shape)}|".encode())
    if data.numel():
        digest.update(memoryview(data.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def weights_hash(model: Any) -> str:
    """Content hash of every parameter and persistent buffer (by name); cache keys use it."""
    bare = _bare(model)
    digest = hashlib.sha256()
    for name, tensor in sorted(bare.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor_hash(tensor).encode())
    return digest.hexdigest()[:16]


def unload_adapters(model: Any) -> Any:
    """Remove PEFT adapter layers injected into `model` (in place); returns the bare model.

    Adapters are dropped, not merged: whatever they learned is discarded, as a restore must.
    """
    bare = _bare(model)
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:  # pragma: no cover - peft is a dependency
        return bare
    tuned = [name for name, module in bare.named_modules() if isinstance(module, BaseTunerLayer)]
    # Replace the outermost adapter layers first; nested ones disappear with them.
    for name in sorted(tuned, key=lambda n: n.count(".")):
        try:
            module = bare.get_submodule(name)
        except AttributeError:
            continue
        if not isinstance(module, BaseTunerLayer):
            continue
        parent_name, _, child = name.rpartition(".")
        parent = bare.get_submodule(parent_name) if parent_name else bare
        setattr(parent, child, module.get_base_layer())
    if "peft_config" in vars(bare):
        del bare.peft_config
    return bare


@dataclass
class Snapshot:
    """Saved values of some parameters plus a fingerprint of all of them.

    saved:   name -> clone of the tensor (restorable).
    hashes:  name -> content hash of every parameter at snapshot time (verifiable).
    trainable: name -> requires_grad at snapshot time (methods toggle it; restore puts it back).
    """

    saved: dict[str, Any] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    trainable: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def take(cls, model: Any, names: Iterable[str] | None = None) -> Snapshot:
        """Snapshot `model`: clone the parameters in `names` (None = all), fingerprint all of them."""
        bare = _bare(model)
        params = dict(bare.named_parameters())
        wanted = list(params) if names is None else list(dict.fromkeys(names))
        unknown = [name for name in wanted if name not in params]
        if unknown:
            raise RestoreError(
                f"cannot snapshot unknown parameter(s) {unknown[:5]}; names must come from "
                "model.named_parameters()"
            )
        saved = {name: params[name].detach().clone() for name in wanted}
        hashes = {name: tensor_hash(tensor) for name, tensor in params.items()}
        trainable = {name: tensor.requires_grad for name, tensor in params.items()}
        return cls(saved=saved, hashes=hashes, trainable=trainable)

    def restore(self, model: Any) -> Any:
        """Unload adapters, copy the saved values back in place, reset requires_grad; returns the model.

        Works whether a method changed a tensor's values in place or replaced the Parameter object.
        """
        import torch

        bare = unload_adapters(model)
        params = dict(bare.named_parameters())
        missing = [name for name in self.saved if name not in params]
        if missing:
            raise RestoreError(f"parameters vanished from the model and cannot be restored: {missing}")
        with torch.no_grad():
            for name, value in self.saved.items():
                target = params[name]
                if target.shape != value.shape or target.dtype != value.dtype:
                    raise RestoreError(
                        f"parameter {name} changed shape or dtype ({tuple(value.shape)} {value.dtype} -> "
                        f"{tuple(target.shape)} {target.dtype}); a method must update weights in place"
                    )
                target.copy_(value)
        for name, flag in self.trainable.items():
            if name in params:
                params[name].requires_grad_(flag)
        return bare

    def changed(self, model: Any) -> list[str]:
        """Names of parameters whose values differ from the snapshot (also added or removed ones)."""
        import torch

        bare = _bare(model)
        params = dict(bare.named_parameters())
        differ = []
        for name, tensor in params.items():
            if name in self.saved:
                saved = self.saved[name]
                same = tensor.shape == saved.shape and tensor.dtype == saved.dtype and torch.equal(
                    tensor.detach(), saved
                )
            else:
                same = self.hashes.get(name) == tensor_hash(tensor)
            if not same:
                differ.append(name)
        differ.extend(name for name in self.hashes if name not in params)
        return differ

    def verify(self, model: Any) -> None:
        """Raise `RestoreError` naming every tensor that differs from the snapshot."""
        differ = self.changed(model)
        if differ:
            undeclared = [name for name in differ if name not in self.saved]
            hint = (
                f"; not declared in the snapshot (so never restored): {undeclared}" if undeclared else ""
            )
            raise RestoreError(f"{len(differ)} tensor(s) differ from the snapshot: {differ}{hint}")
