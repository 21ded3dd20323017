"""`Scorer`: the batched log-likelihood engine (see `ksmith.scoring` for why it batches, packs,
sorts and pads as it does), and how a probe's option log-likelihoods become its `Score`."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ksmith.scoring.values import (
    PROTOCOLS,
    LoglikelihoodResult,
    Score,
    Scores,
    ScoringError,
    check_protocols,
    expected_answer,
    normalise_answer,
)
from ksmith.tokens import (
    TokenizationError,
    empty_context_ids,
    encode_pairs,
    encode_texts,
    prefix_ids,
)

if TYPE_CHECKING:
    from ksmith.models.loaded import LoadedModel
    from ksmith.probes.types import Probe

log = logging.getLogger(__name__)

#: and the 4-D mask stay in tens of MB.
CPU_TOKEN_BUDGET = 4096
#: Where `batch_size="auto"` starts its search on an accelerator; halved on every out-of-memory.
AUTO_START_TOKEN_BUDGET = 1 << 17
#: Elements of one float32 slab of logits during the log-softmax (bounds memory for 256k vocabularies).
_LOGSOFTMAX_SLAB = 1 << 25


@dataclass
class _Row:
    """One forward row: a context, then (packed) continuations that all attend to it but not to each other.

    tokens:    model input ids; positions: position ids; segments: 0 for the context, s >= 1 for the
               s-th packed continuation (its tokens but the last).
    targets:   per request scored from this row: (request index, [(row position, target id), ...]).
    """

    tokens: list[int]
    positions: list[int]
    segments: list[int]
    targets: list[tuple[int, list[tuple[int, int]]]] = field(default_factory=list)

    @property
    def packed(self) -> bool:
        return any(self.segments)


def _build_rows(
    encoded: Sequence[tuple[list[int], list[int]]], max_len: int | None, pack_limit: int | None
) -> list[_Row]:
    """Group requests into rows: one row per distinct (truncated) context, its continuations packed.

    A request's model input is lm-eval's: `(context + continuation)[-(max_len + 1):][:-1]`, so the
    context is cut on the left only when the whole does not fit. Continuations of one context are
    appended to its row (each but its last token, at positions continuing the context's, attending
    to the context and to themselves only): a 4-option MCQ costs one context plus its options' tokens.
    Identical continuations share a segment; single-token ones need none (all read the context's
    last position). `pack_limit` (the model's sliding window, if any) caps a packed row's length;
    continuations that would pass it get a plain row of their own.
    """
    by_context: dict[tuple[int, ...], list[int]] = {}
    for i, (ctx, cont) in enumerate(encoded):
        if max_len is not None:
            if len(cont) > max_len:
                raise ScoringError(f"continuation of {len(cont)} tokens exceeds the model's {max_len}")
            ctx = ctx[max(0, len(ctx) + len(cont) - 1 - max_len) :]
        by_context.setdefault(tuple(ctx), []).append(i)
    rows: list[_Row] = []
    for ctx, members in by_context.items():
        row = _Row(list(ctx), list(range(len(ctx))), [0] * len(ctx))
        rows.append(row)
        segment_of: dict[tuple[int, ...], int] = {}
        last = len(ctx) - 1
        for i in members:
            cont = encoded[i][1]
            if len(cont) == 1:
                row.targets.append((i, [(last, cont[0])]))
                continue
            body = tuple(cont[:-1])
            start = segment_of.get(body)
            if start is None:
                if pack_limit is not None and len(row.tokens) + len(body) > pack_limit:
                    alone = _Row(list(ctx) + list(body), list(range(len(ctx) + len(body))), [0] * (len(ctx) + len(body)))
                    alone.targets.append((i, [(last + j, t) for j, t in enumerate(cont)]))
                    rows.append(alone)
                    continue
                start = segment_of[body] = len(row.tokens)
                segment = max(row.segments) + 1
                row.tokens.extend(body)
                row.positions.extend(range(len(ctx), len(ctx) + len(body)))
                row.segments.extend([segment] * len(body))
            row.targets.append((i, [(last, cont[0])] + [(start + j, t) for j, t in enumerate(cont[1:])]))
    return rows


def _batches(rows: Sequence[_Row], start: int, max_rows: int | None, token_budget: int | None) -> int:
    """End index of the batch that starts at `start` (rows sorted longest first): as many rows as fit
    the token budget (rows x the first row's width) and the row cap; always at least one."""
    width = len(rows[start].tokens)
    end = start + 1
    while end < len(rows):
        if max_rows is not None and end - start >= max_rows:
            break
        if token_budget is not None and (end - start + 1) * width > token_budget:
            break
        end += 1
    return end


def _is_oom(exc: BaseException) -> bool:
    import torch

    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


class Scorer:
    """The batched scoring engine for one `LoadedModel`. It never changes the model's weights.

    batch_size: "auto" (the default) batches by a token budget: on an accelerator the largest that
                fits, found by halving on out-of-memory and remembered; on CPU `CPU_TOKEN_BUDGET`.
                An integer caps the rows of a forward pass instead (a row is one distinct context
                with its continuations). Results do not depend on it (beyond float rounding, which
                the tests bound at 1e-4).
    token_budget: an explicit cap on rows x padded width per forward pass (overrides the default).
    """

    def __init__(self, model: LoadedModel, batch_size: int | str = "auto", token_budget: int | None = None) -> None:
        self.auto = batch_size == "auto"
        if not self.auto and not (isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1):
            raise ScoringError(f"batch_size must be 'auto' or an integer >= 1, got {batch_size!r}")
        if token_budget is not None and token_budget < 1:
            raise ScoringError(f"token_budget must be >= 1, got {token_budget}")
        self.model = model
        self.batch_size: int | str = batch_size
        self.max_rows: int | None = None if self.auto else int(batch_size)
        #: Out-of-memory is recoverable (halve the budget, retry) only on an accelerator.
        self._accelerator = self._device().type != "cpu"
        if token_budget is None and self.auto:
            token_budget = AUTO_START_TOKEN_BUDGET if self._accelerator else CPU_TOKEN_BUDGET
        self.token_budget: int | None = token_budget
        tokenizer = model.tokenizer
        #: Tokens the model's own convention puts before any text (e.g. Llama's BOS, tiny-kg's [BOS]).
        self._prefix: list[int] = prefix_ids(tokenizer)
        #: Token used as the whole context when a context encodes to nothing (as lm-eval does).
        self._empty_context: list[int] = empty_context_ids(tokenizer)
        config = model.lm.config
        text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
        self._max_len: int | None = getattr(text_config, "n_positions", None) or getattr(
            text_config, "max_position_embeddings", None
        )
        # Packing continuations behind one context needs a custom attention mask, which the eager and
        # SDPA kernels take and flash-attention does not; a sliding window caps the packed length.
        attn = getattr(config, "_attn_implementation", None) or "eager"
        self._can_pack = attn in ("eager", "sdpa")
        window = getattr(text_config, "sliding_window", None)
        self._pack_limit: int | None = int(window) if window else None

    # -- tokenisation --------------------------------------------------------------------------
    def _encode_many(self, texts: Iterable[str]) -> dict[str, list[int]]:
        """Token ids of each distinct text (with the tokenizer's own BOS), in one batched call."""
        return encode_texts(self.model.tokenizer, texts, prefix=self._prefix)

    def _split_many(self, requests: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        """(context ids, continuation ids) per request: `ksmith.tokens.encode_pairs`, lm-eval's split."""
        try:
            return encode_pairs(self.model.tokenizer, requests, prefix=self._prefix, empty=self._empty_context)
        except TokenizationError as exc:
            raise ScoringError(str(exc)) from exc

    # -- the forward pass ----------------------------------------------------------------------
    def _device(self) -> Any:
        return next(self.model.lm.parameters()).device

    def _dtype(self) -> Any:
        return next(self.model.lm.parameters()).dtype

    def _logits_at(self, rows: Sequence[_Row], keep: Sequence[tuple[int, int]]) -> Any:
        """Logits (the model's dtype) at the (row, position) pairs `keep`, in row-major order: [N, V].

        Only those positions go through the LM head (`ksmith.models.logits`), so no [B, T, V] tensor
        is made where the model takes `logits_to_keep`. Rows are right-padded; a batch with a packed
        row gets a 4-D additive mask (causal, and a continuation sees the context and itself only)
        and explicit position ids.
        """
        import torch

        from ksmith.models.logits import logits_at

        device, dtype = self._device(), self._dtype()
        width = max(len(row.tokens) for row in rows)
        pad = [0] * width
        ids = torch.tensor([row.tokens + pad[len(row.tokens) :] for row in rows], dtype=torch.long, device=device)
        positions = torch.tensor(
            [row.positions + list(range(len(row.positions), width)) for row in rows], dtype=torch.long, device=device
        )
        keep_mask = torch.zeros((len(rows), width), dtype=torch.bool, device=device)
        if keep:
            b, t = zip(*keep)
            keep_mask[torch.tensor(b, device=device), torch.tensor(t, device=device)] = True
        if any(row.packed for row in rows):
            segments = torch.tensor(
                [row.segments + [-1] * (width - len(row.segments)) for row in rows], dtype=torch.long, device=device
            )
            index = torch.arange(width, device=device)
            q_seg, k_seg = segments[:, :, None], segments[:, None, :]
            allowed = (index[:, None] >= index[None, :]) & (k_seg >= 0) & ((k_seg == 0) | (k_seg == q_seg))
            allowed |= (q_seg < 0) & (index[None, None, :] == 0)  # padding queries read token 0: no empty row
            mask = torch.zeros(allowed.shape, dtype=dtype, device=device).masked_fill_(~allowed, torch.finfo(dtype).min)
            mask = mask[:, None]
        else:
            lengths = torch.tensor([len(row.tokens) for row in rows], device=device)
            mask = (torch.arange(width, device=device)[None, :] < lengths[:, None]).long()
        logits, _ = logits_at(
            self.model.lm, keep_mask, input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False
        )
        return logits

    def _score_rows(self, rows: Sequence[_Row]) -> list[tuple[int, list[float], list[bool]]]:
        """Per request in `rows`: (index, log p of each continuation token, whether each is the argmax)."""
        import torch

        where: dict[tuple[int, int], int] = {}
        for b, row in enumerate(rows):
            for _, pairs in row.targets:
                for t, _ in pairs:
                    where.setdefault((b, t), 0)
        keep = sorted(where)
        for n, key in enumerate(keep):
            where[key] = n
        logits = self._logits_at(rows, keep)
        device = logits.device
        slab = max(1, _LOGSOFTMAX_SLAB // logits.shape[-1])
        lse_parts, top_parts = [], []
        for start in range(0, logits.shape[0], slab):  # float32 only a slab at a time
            part = logits[start : start + slab].float()
            lse_parts.append(torch.logsumexp(part, dim=-1))
            top_parts.append(part.argmax(dim=-1))
        lse, top = torch.cat(lse_parts), torch.cat(top_parts)
        pair_row: list[int] = []
        pair_tok: list[int] = []
        for b, row in enumerate(rows):
            for _, pairs in row.targets:
                for t, token in pairs:
                    pair_row.append(where[(b, t)])
                    pair_tok.append(token)
        rows_t = torch.tensor(pair_row, dtype=torch.long, device=device)
        toks_t = torch.tensor(pair_tok, dtype=torch.long, device=device)
        token_lp = (logits[rows_t, toks_t].float() - lse[rows_t]).tolist()
        token_hit = (top[rows_t] == toks_t).tolist()
        out, k = [], 0
        for row in rows:
            for i, pairs in row.targets:
                out.append((i, token_lp[k : k + len(pairs)], token_hit[k : k + len(pairs)]))
                k += len(pairs)
        return out

    def _run_batches(self, rows: list[_Row], step: Any) -> None:
        """Call `step(batch)` over `rows` (sorted longest first) in token-budgeted batches; with
        batch_size="auto" on an accelerator an out-of-memory halves the budget and retries the batch."""
        start = 0
        while start < len(rows):
            end = _batches(rows, start, self.max_rows, self.token_budget)
            try:
                step(rows[start:end])
            except (RuntimeError, MemoryError) as exc:
                if not (self.auto and self._accelerator and _is_oom(exc)) or end - start == 1:
                    raise
                self.token_budget = max(1, (self.token_budget or len(rows[start].tokens) * (end - start)) // 2)
                log.info("scoring: out of memory at %d rows; token budget now %d", end - start, self.token_budget)
                _empty_cache(self._device())
                continue
            start = end

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        """Score each continuation given its context; results in request order.

        Requests are split as lm-eval splits them (`ksmith.tokens.encode_pairs`); requests that share
        a context share one row (see `_build_rows`); rows run longest first in token-budgeted batches;
        only the continuation positions go through the LM head and the log-softmax.
        """
        import torch

        encoded = self._split_many(requests)
        pack_limit = self._pack_limit if self._can_pack else 0
        rows = _build_rows(encoded, self._max_len, pack_limit)
        rows.sort(key=lambda row: -len(row.tokens))
        sums = [0.0] * len(encoded)
        hits = [0] * len(encoded)

        def step(batch: Sequence[_Row]) -> None:
            for i, token_lp, token_hit in self._score_rows(batch):
                sums[i] = sum(token_lp)
                hits[i] = sum(token_hit)

        lm = self.model.lm
        was_training = lm.training
        lm.eval()
        try:
            with torch.inference_mode():
                self._run_batches(rows, step)
        finally:
            lm.train(was_training)
        return [
            LoglikelihoodResult(logprob=sums[i], n_tokens=len(cont), greedy=hits[i] == len(cont), n_greedy=hits[i])
            for i, (_, cont) in enumerate(encoded)
        ]

    def greedy(self, requests: Sequence[tuple[str, int]]) -> list[str]:
        """Greedy-decode up to `max_tokens` tokens after each context (stops at EOS); request order.

        No KV cache: answers are a few tokens long, and re-running right-padded rows keeps every
        token at its own position, so generation is as batch-independent as `loglikelihood`. Only
        each row's last position goes through the LM head.
        """
        import torch

        tokenizer = self.model.tokenizer
        eos = tokenizer.eos_token_id
        contexts = self._encode_many(context for context, _ in requests)
        seqs = [contexts[context] or list(self._empty_context) for context, _ in requests]
        budgets = [int(n) for _, n in requests]
        generated: list[list[int]] = [[] for _ in requests]
        order = sorted((i for i in range(len(seqs)) if budgets[i] > 0), key=lambda i: -(len(seqs[i]) + budgets[i]))
        # one pseudo-row per request, as long as it will grow, so the batcher sizes batches right
        sizing = [_Row([0] * (len(seqs[i]) + budgets[i]), [], [], [(i, [])]) for i in order]
        done: set[int] = set()

        def step(batch: Sequence[_Row]) -> None:
            active = [row.targets[0][0] for row in batch]
            active = [i for i in active if i not in done and len(generated[i]) < budgets[i]]  # resumable after OOM
            while active:
                rows = []
                for i in active:
                    row = (seqs[i] + generated[i])[-self._max_len :] if self._max_len else seqs[i] + generated[i]
                    rows.append(_Row(row, list(range(len(row))), [0] * len(row)))
                logits = self._logits_at(rows, [(b, len(row.tokens) - 1) for b, row in enumerate(rows)])
                picks = logits.float().argmax(-1).tolist()
                still = []
                for i, token in zip(active, picks):
                    if eos is not None and token == eos:
                        done.add(i)
                        continue
                    generated[i].append(int(token))
                    if len(generated[i]) < budgets[i]:
                        still.append(i)
                active = still

        lm = self.model.lm
        was_training = lm.training
        lm.eval()
        try:
            with torch.inference_mode():
                self._run_batches(sizing, step)
        finally:
            lm.train(was_training)
        return [tokenizer.decode(ids, skip_special_tokens=True) for ids in generated]

    # -- protocols -----------------------------------------------------------------------------
    def score(
        self,
        probes: Sequence[Probe],
        protocols: Iterable[str] = PROTOCOLS,
        prefixes: Mapping[str, str] | None = None,
    ) -> Scores:
        """Score every probe under every protocol (see `Score` for what each one records).

        prefixes: intervention_id -> text prepended verbatim to that probe's prompt (in-context
        editing); the caller chooses the separator.

        prob_compare: for an edit probe whose expected answer moves (answer_after != answer_before),
        value = log p(answer_after) - log p(answer_before), the ROME efficacy test, and choice is
        whichever of the two wins. Otherwise (unlearning, Q- probes) value = log p(expected) - the
        best other option's log p, and choice is the expected option when that margin is > 0.
        token_acc: value = teacher-forced token accuracy of the expected answer; choice = the
        expected option when every token is the argmax, else None.
        gen_match: greedy generation (as many tokens as the longest option); choice = the option
        whose normalised text the normalised generation starts with (longest wins), value = 1.0
        when that is the expected option.
        """
        chosen = check_protocols(protocols)
        prefixes = prefixes or {}
        contexts = [prefixes.get(p.intervention_id, "") + p.prompt for p in probes]
        scores = Scores()
        if any(proto in chosen for proto in ("mcq", "mcq_norm", "prob_compare", "token_acc")):
            requests = [(ctx, " " + choice) for ctx, p in zip(contexts, probes) for choice in p.choices]
            flat = self.loglikelihood(requests)
            start = 0
            for probe in probes:
                options = flat[start : start + len(probe.choices)]
                start += len(probe.choices)
                for proto in chosen:
                    if proto != "gen_match":
                        scores.add(option_score(probe, proto, options))
        if "gen_match" in chosen:
            # Budget: as many tokens as the longest option or alias of the probe.
            flat_names = [(ctx, p, [n for j, c in enumerate(p.choices) for n in (c, *(p.aliases[j] if p.aliases else ()))])
                          for ctx, p in zip(contexts, probes)]
            pairs = self._split_many([(ctx, " " + n) for ctx, _, ns in flat_names for n in ns])
            budgets, start = [], 0
            for _, _, ns in flat_names:
                budgets.append(max(len(cont) for _, cont in pairs[start : start + len(ns)]))
                start += len(ns)
            texts = self.greedy(list(zip(contexts, budgets)))
            for probe, text in zip(probes, texts):
                scores.add(_gen_score(probe, text))
        return scores


def _empty_cache(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def option_score(probe: Probe, protocol: str, options: Sequence[LoglikelihoodResult]) -> Score:
    sums = tuple(o.logprob for o in options)
    target = expected_answer(probe)
    if protocol == "mcq":
        return Score(probe.id, protocol, _argmax(sums), sums)
    if protocol == "mcq_norm":  # lm-eval's acc_norm: per character of the option (no delimiter)
        per_char = tuple(o.logprob / max(1, len(choice)) for o, choice in zip(options, probe.choices))
        return Score(probe.id, protocol, _argmax(per_char), per_char)
    if protocol == "prob_compare":
        if probe.answer_after is not None and probe.answer_after != probe.answer_before:
            new, old = probe.answer_after, probe.answer_before
            value = sums[new] - sums[old]
            return Score(probe.id, protocol, new if value > 0 else old, sums, value)
        others = [sums[j] for j in range(len(sums)) if j != target]
        value = sums[target] - max(others) if others else 0.0
        return Score(probe.id, protocol, target if value > 0 else None, sums, value)
    if protocol == "token_acc":
        answer = options[target]
        value = answer.n_greedy / max(1, answer.n_tokens)
        return Score(probe.id, protocol, target if answer.greedy else None, (), value)
    raise ScoringError(f"protocol {protocol!r} does not score options")  # pragma: no cover


def _gen_score(probe: Probe, text: str) -> Score:
    """An option matches when the generation starts with its text or any of its aliases (imported
    datasets keep every alias of an answer); the longest match wins."""
    generated = normalise_answer(text)
    best: int | None = None
    best_len = -1
    for j, choice in enumerate(probe.choices):
        names = (choice, *(probe.aliases[j] if probe.aliases else ()))
        for name in names:
            want = normalise_answer(name)
            if want and (generated == want or generated.startswith(want + " ")) and len(want) > best_len:
                best, best_len = j, len(want)
    value = 1.0 if best is not None and best == expected_answer(probe) else 0.0
    return Score(probe.id, "gen_match", best, (), value, text)


