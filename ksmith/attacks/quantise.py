"""Weight quantisation as an attack: round-to-nearest on every projection of every block.

The model keeps its dtype: each weight is quantised and dequantised in place (what a quantised
kernel computes with, without its speed), through torchao's affine quantisation primitives, the
ones its weight-only schemes are built on. Embeddings, the LM head and norms stay as they are, as in
those schemes (the LM head is the embedding on every tied model ksmith runs).
"""

from __future__ import annotations

from typing import Any

import torch

from ksmith.attacks.specs import Attack, AttackError


def fake_quantise(weight: torch.Tensor, bits: int, group_size: int | None, symmetric: bool) -> torch.Tensor:
    """`weight` [out, in] rounded to `bits`-bit integers per output channel, in groups of
    `group_size` input columns (None: the whole row), and dequantised; float32.

    As torchao's `choose_qparams_affine` chooses them: symmetric (MappingType.SYMMETRIC), integers in
    [-2^(bits-1), 2^(bits-1) - 1] and scale = max|w| / (2^bits - 1) * 2 over the group, so the
    largest weight may clip by half a step; asymmetric (MappingType.ASYMMETRIC), integers in
    [0, 2^bits - 1], scale = (max - min) / (2^bits - 1) with 0 inside [min, max], and a zero point.
    """
    from torchao.quantization import quant_primitives as qp

    w = weight.detach().to(torch.float32)
    if w.ndim != 2:
        raise AttackError(f"cannot quantise a weight of shape {tuple(w.shape)}: only [out, in] matrices are quantised")
    group = w.shape[1] if group_size is None else group_size
    if w.shape[1] % group:
        raise AttackError(
            f"cannot quantise a weight of shape {tuple(w.shape)} in groups of {group}: the input width must "
            "be a multiple of the group size; choose a group size that divides it"
        )
    block = (1, group)
    if symmetric:
        mapping, qmin, qmax, qdtype = qp.MappingType.SYMMETRIC, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, torch.int8
    else:
        mapping, qmin, qmax, qdtype = qp.MappingType.ASYMMETRIC, 0, 2**bits - 1, torch.uint8
    scale, zero = qp.choose_qparams_affine(w, mapping, block, qdtype, quant_min=qmin, quant_max=qmax)
    q = qp.quantize_affine(w, block, scale, zero, qdtype, qmin, qmax)
    return qp.dequantize_affine(q, block, scale, zero, qdtype, qmin, qmax, output_dtype=torch.float32)


def block_weights(lm: Any, arch: Any) -> list[str]:
    """Names of the projection weights of every block (the 2-D weights; norms and biases are 1-D)."""
    prefixes = tuple(f"{arch.block(i)}." for i in range(arch.num_layers))
    return [name for name, p in lm.named_parameters() if name.startswith(prefixes) and p.ndim == 2]


@torch.no_grad()
def quantise(lm: Any, arch: Any, attack: Attack) -> list[str]:
    """Quantise every block projection of `lm` in place (per output channel: rows of an
    `nn.Linear` weight, columns of a GPT-2 `Conv1D` one); returns the names written."""
    params = dict(lm.named_parameters())
    names = block_weights(lm, arch)
    for name in names:
        p = params[name]
        rows = p.t() if arch.conv1d else p  # [out, in]
        deq = fake_quantise(rows, attack.bits, attack.group_size, attack.symmetric)
        p.copy_((deq.t() if arch.conv1d else deq).to(dtype=p.dtype, device=p.device))
    return names
