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
from collections.abc import Iterable, Mapping
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


# --------------------------------------------------------------------------- host copy + fingerprints

#: Elements per chunk when fingerprinting: bounds the temporary int64 buffers (2 x 128 MiB).
_FINGERPRINT_CHUNK = 1 << 24
_INT_VIEW = {1: "int8", 2: "int16", 4: "int32", 8: "int64"}


def _raw_bits(tensor: Any) -> Any:
    """`tensor`'s bits as integers of its element size: -0.0 differs from 0.0 and NaN equals itself."""
    import torch

    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8)
    return tensor.view(getattr(torch, _INT_VIEW[tensor.element_size()]))


def fingerprint(tensor: Any) -> Any:
    """A content fingerprint of one tensor, computed where it lives: a length-2 int64 tensor.

    The raw bits (viewed as integers) are summed twice, plainly and weighted by a fixed odd
    sequence, in int64 (wrapping). Any single changed element changes the weighted sum (its bit
    difference times a non-zero weight cannot wrap to zero), and several changes collide only by
    accident. It costs one pass over the tensor on its own device and no host copy, so the harness
    can afford it for every tensor after every case, even for an 8B model on a GPU.
    """
    import torch

    bits = _raw_bits(tensor.detach().reshape(-1))
    total = torch.zeros(2, dtype=torch.int64, device=bits.device)
    for start in range(0, bits.numel(), _FINGERPRINT_CHUNK):
        part = bits[start : start + _FINGERPRINT_CHUNK].to(torch.int64)
        index = torch.arange(start, start + part.numel(), dtype=torch.int64, device=bits.device)
        weights = (index * 2654435761 + 97531) % 2147483647 * 2 + 1
        total[0] += part.sum()
        total[1] += (part * weights).sum()
    return total


class HostCopy:
    """The model's weights as loaded: a host (CPU) copy of every parameter plus, for the parameters
    on an accelerator, on-device fingerprints; taken once per loaded model (once per session per
    worker). A CPU parameter needs no fingerprint: `same` compares it with its host copy directly.

    Why not clones on the accelerator: a second copy of an 8B model is 16 GB of GPU memory in
    bf16. The host copy costs host RAM instead, and a restore copies back only the tensors that
    changed (found by `same`), which for a locate-then-edit method is a few matrices.
    """

    def __init__(self, model: Any) -> None:
        bare = _bare(model)
        self.host: dict[str, Any] = {}
        self.fingerprints: dict[str, Any] = {}
        self.trainable: dict[str, bool] = {}
        for name, param in bare.named_parameters():
            self.host[name] = param.detach().to("cpu", copy=True)
            if param.device.type != "cpu":
                self.fingerprints[name] = fingerprint(param)
            self.trainable[name] = param.requires_grad

    def same(self, name: str, tensor: Any) -> bool:
        """Whether `tensor` holds the copied parameter `name` bit for bit.

        On the CPU the host copy sits beside the tensor, and comparing the raw bits directly is one
        read of each (about 40x cheaper than fingerprinting SmolLM2's 135 M weights, a pass of int64
        arithmetic); elsewhere the on-device fingerprints are compared, so nothing crosses to the host.
        """
        import torch

        if tensor.device.type != "cpu" and name in self.fingerprints:
            return torch.equal(fingerprint(tensor).cpu(), self.fingerprints[name].cpu())
        return torch.equal(_raw_bits(tensor.detach().cpu()), _raw_bits(self.host[name]))

    def case(self) -> CaseSnapshot:
        """A per-case view: what changed since the copy, restore, verify."""
        return CaseSnapshot(self)


class _OnDevice(Mapping):
    """name -> the original tensor, moved to the device of the model's parameter on access."""

    def __init__(self, copy: HostCopy, model: Any) -> None:
        self._copy = copy
        self._params = dict(_bare(model).named_parameters())

    def __getitem__(self, name: str) -> Any:
        return self._copy.host[name].to(self._params[name].device)

    def __contains__(self, name: object) -> bool:
        return name in self._copy.host

    def __iter__(self):
        return iter(self._copy.host)

    def __len__(self) -> int:
        return len(self._copy.host)


class CaseSnapshot:
    """One case's view of a `HostCopy`, with the interface of `Snapshot` the harness uses.

    `changed` compares every parameter with its copy (`HostCopy.same`: raw bits on the CPU, a
    fingerprint on an accelerator); `restore` does so once, copies back from the host only those
    that differ (adapters are unloaded first) and `verify` compares the restored ones again.
    """

    def __init__(self, copy: HostCopy, model: Any | None = None) -> None:
        self.copy = copy
        self.restored: list[str] = []
        self._model = model

    @property
    def saved(self) -> Mapping:
        if self._model is None:
            raise RestoreError("CaseSnapshot.saved needs the model: use HostCopy.case() through the fixture")
        return _OnDevice(self.copy, self._model)

    def bind(self, model: Any) -> CaseSnapshot:
        self._model = model
        return self

    def changed(self, model: Any) -> list[str]:
        """Names of parameters that differ from the host copy (also added or removed ones)."""
        params = dict(_bare(model).named_parameters())
        differ = []
        for name, tensor in params.items():
            original = self.copy.host.get(name)
            if original is None or original.shape != tensor.shape or original.dtype != tensor.dtype:
                differ.append(name)
            elif not self.copy.same(name, tensor):
                differ.append(name)
        differ.extend(name for name in self.copy.host if name not in params)
        return differ

    def restore(self, model: Any) -> Any:
        """Unload adapters, copy every changed parameter back from the host, reset requires_grad."""
        import torch

        bare = unload_adapters(model)
        params = dict(bare.named_parameters())
        missing = [name for name in self.copy.host if name not in params]
        if missing:
            raise RestoreError(f"parameters vanished from the model and cannot be restored: {missing}")
        self.restored = self.changed(bare)
        with torch.no_grad():
            for name in self.restored:
                target, value = params[name], self.copy.host[name]
                if target.shape != value.shape or target.dtype != value.dtype:
                    raise RestoreError(
                        f"parameter {name} changed shape or dtype ({tuple(value.shape)} {value.dtype} -> "
                        f"{tuple(target.shape)} {target.dtype}); a method must update weights in place"
                    )
                target.copy_(value, non_blocking=False)
        for name, flag in self.copy.trainable.items():
            params[name].requires_grad_(flag)
        return bare

    def verify(self, model: Any) -> None:
        """Raise `RestoreError` unless every restored parameter holds the original again."""
        params = dict(_bare(model).named_parameters())
        differ = [name for name in self.restored if not self.copy.same(name, params[name])]
        if differ:
            raise RestoreError(f"{len(differ)} tensor(s) differ from the host copy after the restore: {differ}")
