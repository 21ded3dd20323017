"""Shared machinery of the locate-then-edit methods (ROME, MEMIT, AlphaEdit).

All three follow one recipe. (1) Read a *key* `k`: the input of an MLP output projection at a key
token of each edit prompt. (2) Find a *value*: the vector `delta` which, added to the residual stream
at that token, makes the model emit the target object, under a KL term that keeps the subject's
other predictions and a norm penalty. (3) Write `W k ≈ v + delta` into the projection with a
least-squares update that disturbs the keys of ordinary text (their second moment, see
`covariance`) as little as possible. Steps (1) and (2) live here; each method is its step (3).

Where the key is read (`key_position`):
  - "subject_last": the subject's last token, as in ROME and MEMIT. Right for models that look a fact
    up at the subject, which large pretrained models do.
  - "prompt_last": the last token of the prompt: a shallow word-level model recalls the fact where it
    is needed, at the end, not at the subject (docs/decisions.md). Each method picks its default per
    architecture and documents it.
Positions are found from the tokenizer's character offsets, so no model or tokenizer is special-cased.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ksmith.errors import MethodError
from ksmith.methods.base import Hparams, UpdateRequest
from ksmith.methods.nethook import Trace
from ksmith.models.logits import logits_at, position_mask

log = logging.getLogger(__name__)

KEY_POSITIONS: tuple[str, ...] = ("subject_last", "prompt_last")
#: tiny-kg models with at most this many blocks read keys at the prompt's last token by default.
SHALLOW_LAYERS = 8


def default_key_position(arch) -> str:
    """"prompt_last" for shallow tiny-kg models (<= SHALLOW_LAYERS blocks), else "subject_last".

    Pretrained models recall facts at the subject's last token (the ROME and MEMIT papers' causal
    traces), whatever their depth: they keep the published choice. Shallow tiny-kg models cannot be
    edited there (docs/decisions.md).
    """
    shallow_tiny = arch.profile == "tiny-kg" and arch.num_layers <= SHALLOW_LAYERS
    return "prompt_last" if shallow_tiny else "subject_last"


def neutral_object() -> str:
    """The neutral answer editing-as-unlearning writes in place of the old object."""
    from ksmith import probes

    return str(getattr(probes, "NEUTRAL_OBJECT", "unknown"))


@dataclass(frozen=True)
class EditTarget:
    """One fact to write: the prompts to edit on, the subject inside them and the target object.

    avoid: for unlearning, the old object, which must lose its preference (see `ValueSettings`).
    """

    id: str
    subject: str
    prompts: tuple[str, ...]
    target: str
    avoid: str | None = None


def edit_targets(request: UpdateRequest) -> list[EditTarget]:
    """The targets of a request: the new object for edits, the neutral object for unlearning."""
    if request.task not in ("edit", "unlearn"):
        raise MethodError(f"unknown task {request.task!r}; a request's task is 'edit' or 'unlearn'")
    targets = []
    for iv in request.interventions:
        if not iv.prompts:
            raise MethodError(f"intervention {iv.id!r} has no prompts to edit on")
        if request.task == "edit":
            if not iv.new_object:
                raise MethodError(f"edit intervention {iv.id!r} has no new object")
            targets.append(EditTarget(iv.id, iv.subject, tuple(iv.prompts), iv.new_object))
        else:
            targets.append(EditTarget(iv.id, iv.subject, tuple(iv.prompts), neutral_object(), iv.old_object))
    return targets


# --------------------------------------------------------------------------- tokenisation


def _subject_end_token(tokenizer, prompt: str, subject: str, ids: list[int]) -> int:
    """Index (in `ids`, the tokenised prompt) of the subject's last token."""
    start = prompt.rfind(subject)
    if start < 0:
        raise MethodError(
            f"subject {subject!r} does not occur in prompt {prompt!r}; locate-then-edit methods "
            "need the subject verbatim in every prompt"
        )
    end = start + len(subject)
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(prompt, return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        hits = [i for i, (a, b) in enumerate(offsets) if b > a and a < end]
        if hits:
            return hits[-1]
    prefix = tokenizer(prompt[:end])["input_ids"]
    return min(len(prefix), len(ids)) - 1


def split_prompt(tokenizer, prompt: str, target: str | None) -> tuple[list[int], list[int]]:
    """(prompt ids, target ids): the target (`" " + object`) as the scorer scores it after this
    prompt (`ksmith.tokens.encode_pair`: the whole text encoded and cut, the tokenizer's own BOS),
    so a method optimises exactly the tokens it is scored on. Without a target, the prompt's ids as
    `encode_pair` would give them (where keys are read)."""
    from ksmith.tokens import TokenizationError, encode_pair, encode_texts

    if target is None:
        context = prompt.rstrip()
        return list(encode_texts(tokenizer, [context])[context]), []
    try:
        return encode_pair(tokenizer, prompt, " " + target)
    except TokenizationError as exc:
        raise MethodError(f"target {target!r} after prompt {prompt!r}: {exc}") from None


@dataclass
class PromptBatch:
    """Right-padded prompts (optionally followed by their target tokens), with per-row positions.

    owner[r]:    which edit row r belongs to (keys and deltas are per edit, prompts per row).
    key_pos[r]:  where the key is read and the value written.
    target_mask: True on the positions whose *next* token is a target token (loss positions).
    avoid[r]:    first token of the object row r must stop preferring (-1: none), read at last_pos.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    owner: torch.Tensor
    key_pos: torch.Tensor
    last_pos: torch.Tensor
    target_mask: torch.Tensor
    target_next: torch.Tensor
    avoid: torch.Tensor

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])


def prompt_batch(
    tokenizer,
    rows: Sequence[tuple[int, str, str, str | None]],
    key_position: str,
    device: torch.device | str = "cpu",
    avoid: Sequence[str | None] | None = None,
) -> PromptBatch:
    """Tokenise `(owner, prompt, subject, target or None)` rows into one right-padded batch.

    avoid: per row, an object whose first token the row must stop preferring (or None).
    """
    if key_position not in KEY_POSITIONS:
        raise MethodError(f"unknown key_position {key_position!r}; use one of {KEY_POSITIONS}")
    seqs, owners, keys, lasts, tmasks, tnexts, avoided = [], [], [], [], [], [], []
    for r, (owner, prompt, subject, target) in enumerate(rows):
        ids, tgt = split_prompt(tokenizer, prompt, target)
        if not ids:
            raise MethodError(f"prompt {prompt!r} tokenises to nothing")
        last = len(ids) - 1
        key = last if key_position == "prompt_last" else _subject_end_token(tokenizer, prompt.rstrip(), subject, ids)
        old = avoid[r] if avoid is not None else None
        avoided.append(split_prompt(tokenizer, prompt, old)[1][0] if old else -1)
        full = ids + tgt
        mask = [False] * len(full)
        nxt = [0] * len(full)
        for j, tok in enumerate(tgt):
            mask[last + j] = True
            nxt[last + j] = tok
        seqs.append(full)
        owners.append(owner)
        keys.append(key)
        lasts.append(last)
        tmasks.append(mask)
        tnexts.append(nxt)
    width = max(len(s) for s in seqs)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    n = len(seqs)
    # Padded on the host as lists, then one transfer per tensor (no per-row copies to the device).
    fill = [width - len(seq) for seq in seqs]
    input_ids = torch.tensor([s + [pad] * f for s, f in zip(seqs, fill)], dtype=torch.long, device=device)
    attention = torch.tensor([[1] * len(s) + [0] * f for s, f in zip(seqs, fill)], dtype=torch.long, device=device)
    target_mask = torch.tensor([m + [False] * f for m, f in zip(tmasks, fill)], dtype=torch.bool, device=device)
    target_next = torch.tensor([t + [0] * f for t, f in zip(tnexts, fill)], dtype=torch.long, device=device)
    return PromptBatch(
        input_ids=input_ids,
        attention_mask=attention,
        owner=torch.tensor(owners, dtype=torch.long, device=device),
        key_pos=torch.tensor(keys, dtype=torch.long, device=device),
        last_pos=torch.tensor(lasts, dtype=torch.long, device=device),
        target_mask=target_mask,
        target_next=target_next,
        avoid=torch.tensor(avoided, dtype=torch.long, device=device),
    )


def rewrite_batch(tokenizer, targets: Sequence[EditTarget], key_position: str, device) -> PromptBatch:
    """Every prompt of every target, followed by its target object (the edit loss batch)."""
    rows = [(i, p, t.subject, t.target) for i, t in enumerate(targets) for p in t.prompts]
    avoid = [t.avoid for t in targets for _ in t.prompts]
    return prompt_batch(tokenizer, rows, key_position, device, avoid)


def key_batch(tokenizer, targets: Sequence[EditTarget], key_position: str, device) -> PromptBatch:
    """Every prompt of every target without the object (where keys are read)."""
    rows = [(i, p, t.subject, None) for i, t in enumerate(targets) for p in t.prompts]
    return prompt_batch(tokenizer, rows, key_position, device)


def kl_batch(tokenizer, targets: Sequence[EditTarget], template: str, device,
             key_position: str = "prompt_last") -> PromptBatch:
    """One neutral prompt per target (`template` with `{s}`); the value is added, and the KL read,
    at its `key_position` ("prompt_last": its last token).

    ROME's "essence" constraint: the edit should not change what the model predicts right after
    the bare subject, so the subject keeps its other properties. The reference (ROME's
    `compute_v`, MEMIT's `compute_z`) uses "{} is a" at the subject's last token, which is the
    next-token distribution after the bare subject.
    """
    rows = [(i, template.format(s=t.subject), t.subject, None) for i, t in enumerate(targets)]
    return prompt_batch(tokenizer, rows, key_position, device)


# --------------------------------------------------------------------------- keys and values


def _key_logits(model: nn.Module, batch: PromptBatch) -> torch.Tensor:
    """float32 logits at each row's key token, [B, V] (the LM head runs there only)."""
    at = position_mask(batch.key_pos, batch.input_ids.shape[1])
    logits, _ = logits_at(model, at, input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    return logits.float()


def _rewrite_logits(model: nn.Module, batch: PromptBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """float32 logits at every target position and last prompt token ([N, V], row-major; the LM
    head runs there only), and `where` [B, T]: the row of those logits for each kept (row, position),
    -1 elsewhere."""
    keep = batch.target_mask | position_mask(batch.last_pos, batch.input_ids.shape[1])
    logits, _ = logits_at(model, keep, input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    where = torch.full(keep.shape, -1, dtype=torch.long, device=keep.device)
    where[keep] = torch.arange(logits.shape[0], device=keep.device)
    return logits.float(), where


def _gather(hidden: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """hidden [n, T, d] at one position per row -> [n, d]."""
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), pos]


def mean_per_owner(rows: torch.Tensor, owner: torch.Tensor, n_owners: int) -> torch.Tensor:
    """Average row vectors [n_rows, d] per owner -> [n_owners, d]."""
    total = torch.zeros(n_owners, rows.shape[1], dtype=rows.dtype, device=rows.device)
    total.index_add_(0, owner, rows)
    counts = torch.bincount(owner, minlength=n_owners).clamp(min=1).to(rows.dtype)
    return total / counts[:, None]


def chunks(n: int, size: int) -> list[range]:
    size = max(1, size)
    return [range(a, min(n, a + size)) for a in range(0, n, size)]


@torch.no_grad()
def first_row_norm(model: nn.Module, module: str, batch: PromptBatch, n_owners: int) -> torch.Tensor:
    """Per owner [n_owners], the norm of `module`'s output at the key token of its first row.

    The radius of the value's clamp and decay: the reference's `target_init`, the unedited output
    where the value is added, read on the first rewriting prompt (ROME's `compute_v`, MEMIT's and
    AlphaEdit's `compute_z`).
    """
    with Trace(model, module, retain_output=True, stop=True) as tr:
        model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    hidden = tr.output if isinstance(tr.output, torch.Tensor) else tr.output[0]
    rows = _gather(hidden.float(), batch.key_pos)
    order = torch.arange(len(batch), device=rows.device)
    first = torch.full((n_owners,), len(batch), dtype=torch.long, device=rows.device)
    first = first.scatter_reduce(0, batch.owner, order, reduce="amin")
    return rows[first].norm(dim=1).clamp(min=1e-6)


@torch.no_grad()
def read_keys_and_outputs(
    model: nn.Module,
    tokenizer,
    targets: Sequence[EditTarget],
    key_module: str,
    out_module: str,
    key_position: str,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per target: mean key (input of `key_module`) and mean output of `out_module`, chunked."""
    device = next(model.parameters()).device
    keys, outs = [], []
    for part in chunks(len(targets), chunk):
        sub = [targets[i] for i in part]
        batch = key_batch(tokenizer, sub, key_position, device)
        with Trace(model, key_module, retain_input=True, retain_output=False) as tk, Trace(
            model, out_module, retain_output=True
        ) as to:
            model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        out = to.output if isinstance(to.output, torch.Tensor) else to.output[0]
        keys.append(mean_per_owner(_gather(tk.input.float(), batch.key_pos), batch.owner, len(sub)))
        outs.append(mean_per_owner(_gather(out.float(), batch.key_pos), batch.owner, len(sub)))
    return torch.cat(keys), torch.cat(outs)


#: Where the KL prompt's distribution is read and the value added (`ValueSettings.kl_at`).
KL_POSITIONS: tuple[str, ...] = ("key", "last")
#: KL(new ‖ original), the reference's, or KL(original ‖ new) (`ValueSettings.kl_direction`).
KL_DIRECTIONS: tuple[str, ...] = ("new_orig", "orig_new")
#: What the early stop looks at (`ValueSettings.stop_on`).
STOP_RULES: tuple[str, ...] = ("loss", "nll")


@dataclass(frozen=True)
class ValueSettings:
    """How the value (`delta`) of each edit is optimised (see `LocateHparams` for each field).

    The defaults of the form fields (`kl_template`, `kl_at`, `kl_direction`, `decay_squared`,
    `stop_on`) are the reference's (EasyEdit's ROME `compute_v`, MEMIT/AlphaEdit `compute_z`);
    `TINY_VALUE_FORMS` holds ksmith's earlier forms, which the tiny-kg defaults were tuned with.
    """

    steps: int = 60
    lr: float = 0.5
    kl_weight: float = 0.0625
    weight_decay: float = 1e-3
    clamp_norm: float = 4.0
    stop_loss: float = 0.05
    kl_template: str = "{s} is a"
    chunk: int = 64
    forget_weight: float = 1.0
    kl_at: str = "key"
    kl_direction: str = "new_orig"
    decay_squared: bool = False
    stop_on: str = "loss"

    def check(self) -> None:
        for name, value, allowed in (("kl_at", self.kl_at, KL_POSITIONS),
                                     ("kl_direction", self.kl_direction, KL_DIRECTIONS),
                                     ("stop_on", self.stop_on, STOP_RULES)):
            if value not in allowed:
                raise MethodError(f"unknown {name} {value!r}; use one of {allowed}")


#: ksmith's earlier value-optimisation forms, kept for tiny-kg (its defaults were measured with
#: them, docs/decisions.md): the KL after "{s} is" at its last token, KL(original ‖ new), the decay
#: (‖δ‖/‖v‖)², and the whole chunk stopping once its mean NLL is below `stop_loss`.
TINY_VALUE_FORMS: dict[str, object] = {
    "kl_template": "{s} is", "kl_at": "last", "kl_direction": "orig_new", "decay_squared": True, "stop_on": "nll",
}


def kl_terms(new_logp: torch.Tensor, base_logp: torch.Tensor, direction: str) -> torch.Tensor:
    """Per row [B], KL between the edited (`new_logp`) and original (`base_logp`) log-distributions
    [B, V]: "new_orig" is KL(new ‖ original) = Σ p_new (log p_new - log p_orig), the reference's
    (`kl_div(kl_distr_init, kl_log_probs, log_target=True)`); "orig_new" the reverse."""
    if direction == "new_orig":
        return torch.nn.functional.kl_div(base_logp, new_logp, log_target=True, reduction="none").sum(-1)
    return torch.nn.functional.kl_div(new_logp, base_logp, log_target=True, reduction="none").sum(-1)


def decay_terms(delta_norm: torch.Tensor, v_norm: torch.Tensor, squared: bool) -> torch.Tensor:
    """The value's norm penalty per target, before its weight: ‖δ‖ / ‖v‖² as the reference
    (`torch.norm(delta) / torch.norm(target_init) ** 2`), or (‖δ‖ / ‖v‖)² with `squared`."""
    return (delta_norm / v_norm) ** 2 if squared else delta_norm / v_norm**2


@dataclass
class ValueResult:
    deltas: torch.Tensor  # [n_targets, d_model]
    steps: int
    loss_curve: list[float]


def optimise_values(
    model: nn.Module,
    tokenizer,
    targets: Sequence[EditTarget],
    module: str,
    key_position: str,
    settings: ValueSettings,
    write_dirs: torch.Tensor | None = None,
    after_chunk: Callable[[range, torch.Tensor], None] | None = None,
) -> ValueResult:
    """Find, per target, the vector added to `module`'s output at the key token that makes the
    model predict the target object.

    write_dirs [n_targets, d_in]: when given, delta_i is not added at the key token only but
    through the rank-one update it will become, `ΔW = Σ_i delta_i write_dirs_iᵀ`, at every
    position (the module's output gains `(x · write_dirs_i) delta_i`): the loss is then exactly
    the loss of the edited model, interference between the chunk's edits included. after_chunk
    (range of target indices, their deltas) is called once a chunk is done (ROME writes it there,
    so the next chunk is optimised on the model that already holds it).

    Per target: loss = mean target-token NLL over its prompts + kl_weight * KL of the KL prompt's
    next-token distribution (`kl_terms`) + weight_decay * `decay_terms` (+ forget_weight * the
    forget hinge when unlearning), with ‖delta‖ clamped to clamp_norm * ‖v‖ after each step (v:
    the module's own output at the key token of the target's first prompt, `first_row_norm`).
    `stop_on="loss"` (the reference): a target stops, and keeps the value last evaluated, once its
    total loss is below stop_loss; after `steps` evaluations every target stops without a last
    step. `stop_on="nll"`: the chunk stops once its mean NLL is below stop_loss and no row prefers
    an old object, and takes `steps` steps at most. Targets are optimised in chunks, each with its
    own delta and rows; gradients flow only into the deltas (`backward(inputs=...)`), never into
    the weights. The start (delta = 0) and the optimiser are deterministic: no seed is needed.
    """
    settings.check()
    device = next(model.parameters()).device
    kl_position = key_position if settings.kl_at == "key" else "prompt_last"
    all_deltas, curve, total_steps = [], [], 0
    for part in chunks(len(targets), settings.chunk):
        sub = [targets[i] for i in part]
        n = len(sub)
        rw = rewrite_batch(tokenizer, sub, key_position, device)
        kl = kl_batch(tokenizer, sub, settings.kl_template, device, kl_position)
        v_norm = first_row_norm(model, module, rw, n)
        with torch.no_grad():
            base_logp = torch.log_softmax(_key_logits(model, kl), dim=-1)
        # The value is optimised in float32 whatever the model's dtype (a bf16 delta would round
        # away Adam's small steps); it is cast to the activations' dtype where it is added.
        delta = torch.zeros(
            n, _module_width(model, module, rw), dtype=torch.float32, device=device, requires_grad=True
        )
        done = torch.zeros(n, dtype=torch.bool, device=device)
        dirs = None if write_dirs is None else write_dirs[part.start : part.stop].to(device)
        opt = torch.optim.Adam([delta], lr=settings.lr)
        for step in range(settings.steps):
            opt.zero_grad()
            with _value_trace(model, module, delta, rw, dirs):
                logits, where = _rewrite_logits(model, rw)
            logp = torch.log_softmax(logits, dim=-1)
            kept = where >= 0
            tok_lp = logp.gather(-1, rw.target_next[kept].unsqueeze(-1)).squeeze(-1)
            tok_lp = tok_lp.new_zeros(kept.shape).masked_scatter(kept, tok_lp)  # back to [B, T]
            per_row = -(tok_lp * rw.target_mask).sum(1) / rw.target_mask.sum(1).clamp(min=1)
            forget_rows, avoids = _forget_rows(logits, where, rw)
            with _value_trace(model, module, delta, kl, dirs):
                new_logp = torch.log_softmax(_key_logits(model, kl), dim=-1)
            kl_t = kl_terms(new_logp, base_logp, settings.kl_direction)  # one KL row per target
            decay_t = decay_terms(delta.norm(dim=1), v_norm, settings.decay_squared)
            nll = per_row.mean()
            curve.append(float(nll.detach()))
            total_steps += 1
            if settings.stop_on == "nll":
                forget = forget_rows[avoids].mean() if avoids.any() else forget_rows.new_zeros(())
                loss = nll + settings.kl_weight * kl_t.mean() + settings.weight_decay * decay_t.mean()
                loss = loss + settings.forget_weight * forget
                if not math.isfinite(float(loss.detach())):
                    raise MethodError("value optimisation diverged (non-finite loss); lower the lr")
                if float(nll.detach()) < settings.stop_loss and float(forget.detach()) == 0.0:
                    break
            else:
                forget_t = _per_owner(forget_rows, avoids, rw.owner, n)
                loss_t = mean_per_owner(per_row[:, None], rw.owner, n)[:, 0] + settings.kl_weight * kl_t
                loss_t = loss_t + settings.weight_decay * decay_t + settings.forget_weight * forget_t
                if not torch.isfinite(loss_t.detach()).all():
                    raise MethodError("value optimisation diverged (non-finite loss); lower the lr")
                done |= loss_t.detach() < settings.stop_loss
                if bool(done.all()) or step == settings.steps - 1:
                    break
                loss = loss_t[~done].sum()  # each target's gradient is its own loss's, as one request
            frozen = delta.detach()[done].clone()
            loss.backward(inputs=[delta])
            opt.step()
            with torch.no_grad():
                limit = settings.clamp_norm * v_norm
                scale = (limit / delta.norm(dim=1).clamp(min=1e-12)).clamp(max=1.0)
                delta.mul_(scale[:, None])
                delta[done] = frozen  # Adam's momentum would move a stopped target on
        all_deltas.append(delta.detach())
        if after_chunk is not None:
            after_chunk(part, delta.detach())
    return ValueResult(torch.cat(all_deltas), total_steps, curve)


def _forget_rows(logits: torch.Tensor, where: torch.Tensor, batch: PromptBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row [B], relu(z_old - median(z)) at the answer position (0 for a row with no object to
    avoid), and which rows have one.

    Unlearning asks for *no preference* for the old object, and probes score it against other
    objects of its type: raising the neutral answer alone leaves the old object first among
    those. Pushing its logit below the median logit of the vocabulary puts it below the objects
    the context makes plausible, and the hinge stops pushing once it is there.
    """
    avoids = batch.avoid >= 0
    hinge = logits.new_zeros(len(batch))
    rows = avoids.nonzero().squeeze(-1)
    if rows.numel() == 0:
        return hinge, avoids
    z = logits[where[rows, batch.last_pos[rows]]]  # `_rewrite_logits`' rows at the answer position
    old = z.gather(-1, batch.avoid[rows].unsqueeze(-1)).squeeze(-1)
    return hinge.index_put((rows,), torch.relu(old - z.median(dim=-1).values)), avoids


def _per_owner(values: torch.Tensor, rows: torch.Tensor, owner: torch.Tensor, n_owners: int) -> torch.Tensor:
    """Mean per owner [n_owners] of `values` [B] over the rows where `rows` is True (0 for none)."""
    total = values.new_zeros(n_owners).index_add(0, owner, values * rows)
    count = torch.zeros(n_owners, dtype=values.dtype, device=values.device).index_add(0, owner, rows.to(values.dtype))
    return total / count.clamp(min=1)


def _module_width(model: nn.Module, module: str, batch: PromptBatch) -> int:
    with torch.no_grad(), Trace(model, module, stop=True) as tr:
        model(input_ids=batch.input_ids[:1], attention_mask=batch.attention_mask[:1])
    out = tr.output if isinstance(tr.output, torch.Tensor) else tr.output[0]
    return int(out.shape[-1])


def _value_trace(model: nn.Module, module: str, delta: torch.Tensor, batch: PromptBatch,
                 dirs: torch.Tensor | None) -> Trace:
    """Add the deltas at the key tokens, or (with `dirs`) through the rank-one updates they define."""
    if dirs is None:
        return Trace(model, module, edit_output=_adder(delta, batch))

    def edit(output, x):
        hidden = output if isinstance(output, torch.Tensor) else output[0]
        new = hidden + ((x.float() @ dirs.t()) @ delta).to(hidden.dtype)
        return new if isinstance(output, torch.Tensor) else (new, *output[1:])

    return Trace(model, module, edit_output=edit, pass_input=True)


def _adder(delta: torch.Tensor, batch: PromptBatch):
    """An `edit_output` function adding delta[owner] at each row's key position."""
    rows = torch.arange(len(batch), device=batch.input_ids.device)

    def edit(output):
        hidden = output if isinstance(output, torch.Tensor) else output[0]
        add = torch.zeros_like(hidden)
        add = add.index_put((rows, batch.key_pos), delta[batch.owner].to(hidden.dtype))
        new = hidden + add
        return new if isinstance(output, torch.Tensor) else (new, *output[1:])

    return edit


# --------------------------------------------------------------------------- weight access


@torch.no_grad()
def add_to_weight(model: nn.Module, param_name: str, update_out_in: torch.Tensor, conv1d: bool) -> None:
    """Add `update` (math form [out, in]) to the parameter, in its own layout and dtype."""
    param = model.get_parameter(param_name)
    upd = update_out_in.t() if conv1d else update_out_in
    if upd.shape != param.shape:
        raise MethodError(f"update of shape {tuple(upd.shape)} does not fit {param_name} {tuple(param.shape)}")
    if not torch.isfinite(upd).all():
        raise MethodError(f"computed a non-finite update for {param_name}; the key statistics are singular")
    # Summed in float32 and rounded once to the weight's dtype (a bf16 weight plus a bf16 delta
    # would round twice).
    param.copy_((param.float() + upd.float()).to(param.dtype))

# --------------------------------------------------------------------------- shared hyper-parameters


@dataclass(frozen=True)
class LocateHparams(Hparams):
    """Hyper-parameters every locate-then-edit method shares (its own add the layers and solver).

    key_position: "subject_last" or "prompt_last"; None: `default_key_position(arch)`.
    v_steps: value optimisation steps (it stops earlier once the loss is below stop_loss);
    60 because at 25 a quarter of tiny-kg edits stopped at a mean NLL of 0.1-0.4, enough to leave
    some prompts answering the old object.
    covariance_corpus: text file (one text per line) for the key statistics; None samples text
    from the model itself (see `ksmith.methods.covariance`).
    forget_weight: unlearning only: weight of the hinge pushing the old object's logit below the
    median logit (see `_forget_rows`), beside the neutral target.
    clamp_norm / weight_decay: ‖δ‖ is clamped to clamp_norm · ‖v‖ and penalised by
    weight_decay · ‖δ‖/‖v‖², v the unedited output where δ is added (ROME: the MLP output; MEMIT
    and AlphaEdit: the residual stream at the last edited layer), as the reference.
    kl_template: the KL prompt ("{s} is a", the reference's).
    kl_at: "key": the KL prompt is read, and δ added, at the key token (the reference's); "last": its last token.
    kl_direction: "new_orig" KL(new ‖ original) (the reference's); "orig_new" the reverse (tiny-kg's).
    decay_squared: False ‖δ‖/‖v‖² (the reference's); True (‖δ‖/‖v‖)², width-free (tiny-kg's).
    stop_on: "loss": each target stops once its total loss < stop_loss (the reference's); "nll": the chunk's mean NLL.
    """

    key_position: str | None = None
    v_steps: int = 60
    v_lr: float = 0.5
    kl_weight: float = 0.0625
    weight_decay: float = 1e-3
    clamp_norm: float = 4.0
    stop_loss: float = 0.05
    kl_template: str = "{s} is a"
    covariance_corpus: str | None = None
    covariance_samples: int = 256
    covariance_sample_length: int = 32
    chunk: int = 64
    forget_weight: float = 1.0
    kl_at: str = "key"
    kl_direction: str = "new_orig"
    decay_squared: bool = False
    stop_on: str = "loss"

    def resolved(self, arch) -> "LocateHparams":
        """These hyper-parameters with the architecture defaults filled in (key_position)."""
        if self.key_position is None:
            return dataclasses.replace(self, key_position=default_key_position(arch))
        if self.key_position not in KEY_POSITIONS:
            raise MethodError(f"unknown key_position {self.key_position!r}; use one of {KEY_POSITIONS}")
        return self

    def value_settings(self) -> ValueSettings:
        return ValueSettings(
            steps=self.v_steps, lr=self.v_lr, kl_weight=self.kl_weight,
            weight_decay=self.weight_decay, clamp_norm=self.clamp_norm, stop_loss=self.stop_loss,
            kl_template=self.kl_template, chunk=self.chunk, forget_weight=self.forget_weight,
            kl_at=self.kl_at, kl_direction=self.kl_direction, decay_squared=self.decay_squared,
            stop_on=self.stop_on,
        )


#: Key vectors per key dimension the second moment is estimated from (at least): 4 × the width
#: keeps it full rank with room to spare (8,192 sampled tokens were below Llama-3-8B's d_ff of 14,336).
FULL_RANK_FACTOR = 4


def key_width(model: nn.Module, arch, layer: int) -> int:
    """The input width of block `layer`'s MLP output projection (the key's dimension)."""
    weight = model.get_parameter(arch.mlp_out_weight(layer))
    return int(weight.shape[0] if arch.conv1d else weight.shape[1])


def key_stats(model: nn.Module, tokenizer, arch, layer: int, hp: LocateHparams):
    """Cached E[k kᵀ] of block `layer`'s MLP output projection input (see `covariance`), float64
    on the model's device, from at least `FULL_RANK_FACTOR` × the key width tokens."""
    from ksmith.methods.covariance import key_second_moment

    above = tuple(f"{arch.block(j)}." for j in range(layer + 1, arch.num_layers))
    return key_second_moment(
        model, tokenizer, arch.mlp_out_module(layer), skip_prefixes=above,
        corpus=hp.covariance_corpus, samples=hp.covariance_samples,
        sample_length=hp.covariance_sample_length,
        min_tokens=FULL_RANK_FACTOR * key_width(model, arch, layer),
    )


def check_layers(arch, layers: Sequence[int]) -> None:
    bad = [layer for layer in layers if not 0 <= layer < arch.num_layers]
    if bad or not layers:
        raise MethodError(
            f"layer(s) {bad or list(layers)} out of range: the model has {arch.num_layers} blocks (0-{arch.num_layers - 1})"
        )
