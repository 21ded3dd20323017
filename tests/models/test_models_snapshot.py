import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from ksmith.errors import KsmithError
from ksmith.models.snapshot import RestoreError, Snapshot, weights_hash


@pytest.fixture
def gpt2():
    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=32))


DECLARED = "transformer.h.1.mlp.c_proj.weight"
LEAKED = "transformer.h.0.attn.c_attn.weight"


def test_restore_brings_back_declared_tensors(gpt2):
    before = weights_hash(gpt2)
    snap = Snapshot.take(gpt2, [DECLARED])
    with torch.no_grad():
        gpt2.get_parameter(DECLARED).add_(1.0)
    assert snap.changed(gpt2) == [DECLARED]
    assert weights_hash(gpt2) != before
    snap.restore(gpt2)
    snap.verify(gpt2)
    assert snap.changed(gpt2) == []
    assert weights_hash(gpt2) == before


def test_leaked_tensor_is_caught_and_named(gpt2):
    snap = Snapshot.take(gpt2, [DECLARED])
    with torch.no_grad():
        gpt2.get_parameter(DECLARED).mul_(2.0)
        gpt2.get_parameter(LEAKED)[0, 0] += 1e-3  # a method touched a tensor it did not declare
    snap.restore(gpt2)
    with pytest.raises(RestoreError, match=LEAKED) as info:
        snap.verify(gpt2)
    assert snap.changed(gpt2) == [LEAKED]  # the declared tensor itself was restored
    assert isinstance(info.value, KsmithError)


def test_replaced_parameter_object_is_restored(gpt2):
    snap = Snapshot.take(gpt2)
    module = gpt2.get_submodule("transformer.h.0.mlp.c_fc")
    module.weight = torch.nn.Parameter(torch.zeros_like(module.weight))
    snap.restore(gpt2)
    snap.verify(gpt2)


def test_requires_grad_is_put_back(gpt2):
    snap = Snapshot.take(gpt2)
    for p in gpt2.parameters():
        p.requires_grad_(False)
    snap.restore(gpt2)
    assert all(p.requires_grad for p in gpt2.parameters())


def test_unknown_names_are_rejected(gpt2):
    with pytest.raises(RestoreError, match="unknown parameter"):
        Snapshot.take(gpt2, ["transformer.h.9.mlp.c_proj.weight"])


def test_peft_adapters_are_unloaded_on_restore(gpt2):
    from peft import LoraConfig, get_peft_model

    names = [n for n, _ in gpt2.named_parameters()]
    before = weights_hash(gpt2)
    snap = Snapshot.take(gpt2, [])
    wrapped = get_peft_model(gpt2, LoraConfig(target_modules=["c_proj"], r=2, init_lora_weights=False))
    assert snap.changed(gpt2)  # adapter parameters appeared, originals got renamed
    restored = snap.restore(wrapped)
    assert restored is gpt2
    assert [n for n, _ in gpt2.named_parameters()] == names
    assert not hasattr(gpt2, "peft_config")
    snap.verify(gpt2)
    assert weights_hash(gpt2) == before


def test_merged_adapter_is_undone_when_declared(gpt2):
    from peft import LoraConfig, get_peft_model

    targets = [n for n, _ in gpt2.named_parameters() if "c_proj.weight" in n]
    snap = Snapshot.take(gpt2, targets)
    wrapped = get_peft_model(gpt2, LoraConfig(target_modules=["c_proj"], r=2, init_lora_weights=False))
    merged = wrapped.merge_and_unload()
    assert sorted(snap.changed(merged)) == sorted(targets)
    snap.restore(merged)
    snap.verify(gpt2)


# ------------------------------------------------------------------ host copy and fingerprints


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_fingerprint_sees_a_one_bit_change(dtype):
    from ksmith.models.snapshot import fingerprint

    tensor = torch.randn(1000, generator=torch.Generator().manual_seed(0)).to(dtype)
    before = fingerprint(tensor)
    bits = tensor.view(torch.int16 if dtype == torch.bfloat16 else torch.int32)
    bits[537] ^= 1  # the lowest mantissa bit of one element
    assert not torch.equal(fingerprint(tensor), before)
    bits[537] ^= 1
    assert torch.equal(fingerprint(tensor), before)


def test_host_copy_sees_a_one_bit_change_and_the_sign_of_zero():
    """On the CPU `HostCopy.same` compares raw bits: a flipped mantissa bit differs, and so does -0.0
    against 0.0, which `torch.equal` on the float values would call equal."""
    from ksmith.models.snapshot import HostCopy

    model = torch.nn.Linear(4, 4)
    with torch.no_grad():
        model.bias.zero_()
    copy = HostCopy(model)
    assert copy.same("weight", model.weight) and copy.same("bias", model.bias)
    with torch.no_grad():
        model.weight.view(torch.int32)[1, 2] ^= 1
        model.bias.neg_()
    assert not copy.same("weight", model.weight) and not copy.same("bias", model.bias)


def test_host_copy_restores_only_what_changed_and_verifies():
    from ksmith.models.snapshot import HostCopy, RestoreError

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    original = {n: p.detach().clone() for n, p in model.named_parameters()}
    copy = HostCopy(model)
    assert all(t.device.type == "cpu" for t in copy.host.values())
    case = copy.case().bind(model)
    with torch.no_grad():
        model[1].weight.add_(1.0)
    assert case.changed(model) == ["1.weight"]
    assert torch.equal(case.saved["1.weight"], original["1.weight"]) and "0.bias" in case.saved
    case.restore(model)
    assert case.restored == ["1.weight"]
    case.verify(model)
    assert all(torch.equal(p, original[n]) for n, p in model.named_parameters())
    # A restore that did not take is caught by the second fingerprint.
    case.restored = ["0.weight"]
    with torch.no_grad():
        model[0].weight.mul_(2.0)
    with pytest.raises(RestoreError, match="0.weight"):
        case.verify(model)
