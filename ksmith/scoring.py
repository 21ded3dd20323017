"""One batched log-likelihood engine that every metric uses.

Two request kinds, as in lm-evaluation-harness: `loglikelihood(context, continuation)` and
`greedy(context, max_tokens)`. Every protocol (`mcq`, `mcq_norm`, `prob_compare`, `token_acc`,
`gen_match`) is built on them, and every `Score` carries its protocol's name, so a metric never mixes
numbers measured in different ways.

Why batched, sorted and right-padded: editing toolkits usually score one prompt at a time, which on a
small model is dominated by per-call overhead. Sorting by length keeps padding low; padding on the
right keeps every real token at its own position, so (with the causal mask) a request's
log-likelihood does not depend on what it was batched with -- up to float rounding, which the tests
bound at 1e-4.

`torch` is imported inside the functions that need it, so metrics can import `Score` cheaply.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ksmith.cache import CODE_VERSION, atomic_write_text, entry, stable_hash
from ksmith.errors import KsmithError

if TYPE_CHECKING:
    from ksmith.models.loaded import LoadedModel
    from ksmith.probes.types import Probe

log = logging.getLogger(__name__)

#: Protocol names. A metric value is always tagged with exactly one of these.
PROTOCOLS: tuple[str, ...] = ("mcq", "mcq_norm", "prob_compare", "token_acc", "gen_match")


@dataclass(frozen=True)
class Score:
    """How a model answered one probe under one protocol.

    choice:          the option index the model picked (mcq, mcq_norm: argmax of option scores;
                     gen_match: index of the option the generation matched, or None).
    option_scores:   per option: summed log-likelihood (mcq) or per-token mean (mcq_norm); empty
                     for protocols that do not score options.
    value:           the protocol's scalar where it has one (prob_compare: log p(new) - log p(old)
                     for edits; token_acc: teacher-forced token accuracy of the expected answer;
                     gen_match: 1.0 or 0.0).
    text:            generated text (gen_match only).
    """

    probe_id: str
    protocol: str
    choice: int | None
    option_scores: tuple[float, ...] = ()
    value: float | None = None
    text: str | None = None


class ScoringError(KsmithError):
    """A request the engine cannot score (empty continuation, unknown protocol, ...)."""


@dataclass(frozen=True)
class LoglikelihoodResult:
    """The answer to one `loglikelihood(context, continuation)` request.

    logprob:   sum of log p(token | preceding tokens) over the continuation's tokens.
    n_tokens:  number of continuation tokens.
    greedy:    True when every continuation token is the model's argmax (greedy decoding would
               produce exactly this continuation).
    n_greedy:  how many continuation tokens are the argmax (teacher-forced token accuracy).
    """

    logprob: float
    n_tokens: int
    greedy: bool
    n_greedy: int

    @property
    def mean(self) -> float:
        """Per-token mean log-likelihood (the length-normalised score)."""
        return self.logprob / max(1, self.n_tokens)


def normalise_answer(text: str) -> str:
    """Lower-case words separated by single spaces: what `gen_match` compares."""
    return " ".join(re.findall(r"\w+", text.lower()))


def expected_answer(probe: Probe) -> int:
    """Index of the option a probe expects after the update (answer_before when none is given)."""
    return probe.answer_after if probe.answer_after is not None else probe.answer_before


@dataclass
class Scores:
    """One `Score` per (probe, protocol); round-trips through JSON so it can be cached."""

    items: dict[tuple[str, str], Score] = field(default_factory=dict)

    def add(self, score: Score) -> None:
        self.items[(score.probe_id, score.protocol)] = score

    def get(self, probe_id: str, protocol: str) -> Score:
        try:
            return self.items[(probe_id, protocol)]
        except KeyError:
            raise ScoringError(
                f"no {protocol!r} score for probe {probe_id!r}; scored protocols: {sorted(self.protocols)}"
            ) from None

    def of(self, protocol: str) -> dict[str, Score]:
        """probe_id -> Score for one protocol."""
        return {pid: score for (pid, proto), score in self.items.items() if proto == protocol}

    @property
    def protocols(self) -> set[str]:
        return {proto for _, proto in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Score]:
        return iter(self.items.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scores) and self.items == other.items

    def to_json(self) -> str:
        return json.dumps([asdict(score) for score in self.items.values()])

    @classmethod
    def from_json(cls, text: str) -> Scores:
        scores = cls()
        for raw in json.loads(text):
            raw["option_scores"] = tuple(raw.get("option_scores") or ())
            scores.add(Score(**raw))
        return scores


def _check_protocols(protocols: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(protocols))
    unknown = [p for p in chosen if p not in PROTOCOLS]
    if unknown:
        raise ScoringError(f"unknown protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}")
    return chosen


class Scorer:
    """The batched scoring engine for one `LoadedModel`. It never changes the model's weights.

    batch_size: requests per forward pass. Results do not depend on it (beyond float rounding).
    """

    def __init__(self, model: LoadedModel, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise ScoringError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model
        self.batch_size = batch_size
        tokenizer = model.tokenizer
        probe = tokenizer("x", add_special_tokens=True)["input_ids"]
        bos = tokenizer.bos_token_id
        #: Tokens the model's own convention puts before any text (e.g. Llama's BOS, tiny-kg's [BOS]).
        self._prefix: list[int] = [bos] if bos is not None and probe[:1] == [bos] else []
        fallback = bos if bos is not None else tokenizer.eos_token_id
        #: Token used as the whole context when a context encodes to nothing (as lm-eval does).
        self._empty_context: list[int] = [fallback if fallback is not None else 0]
        config = model.lm.config
        self._max_len: int | None = getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )

    # -- tokenisation --------------------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return self._encode_many([text])[text]

    def _encode_many(self, texts: Iterable[str]) -> dict[str, list[int]]:
        """Token ids of each distinct text, in one batched tokenizer call (per-call overhead of the
        tokenizer was half of the engine's time on tiny-kg when texts were encoded one by one)."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return {}
        backend = getattr(self.model.tokenizer, "backend_tokenizer", None)  # Rust tokenizer: no dict per text
        if backend is not None:
            ids = [encoding.ids for encoding in backend.encode_batch(unique, add_special_tokens=False)]
        else:
            ids = self.model.tokenizer(unique, add_special_tokens=False)["input_ids"]
        return {text: self._prefix + list(row) for text, row in zip(unique, ids)}

    def _split(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Token ids of context and continuation, split the lm-eval way (encode whole, cut at context)."""
        return self._split_many([(context, continuation)])[0]

    def _split_many(self, requests: Sequence[tuple[str, str]]) -> list[tuple[list[int], list[int]]]:
        encoded = self._encode_many([c for c, _ in requests] + [c + x for c, x in requests])
        out = []
        for context, continuation in requests:
            whole = encoded[context + continuation]
            ctx = encoded[context]
            if whole[: len(ctx)] != ctx:  # a merge across the boundary: fall back to separate encodings
                cont = list(self.model.tokenizer(continuation, add_special_tokens=False)["input_ids"])
            else:
                cont = whole[len(ctx) :]
            if not cont:
                raise ScoringError(f"continuation {continuation!r} encodes to no tokens; nothing to score")
            out.append((ctx or list(self._empty_context), cont))
        return out

    # -- the forward pass ----------------------------------------------------------------------
    def _device(self) -> Any:
        return next(self.model.lm.parameters()).device

    def _forward(self, rows: list[list[int]]) -> Any:
        """Log-softmax logits (float32) of right-padded `rows`: tensor [B, T, V]."""
        import torch

        width = max(len(row) for row in rows)
        device = self._device()
        # Padded on the host as lists, then one transfer each: no per-row copies to the accelerator.
        ids = torch.tensor([row + [0] * (width - len(row)) for row in rows], dtype=torch.long, device=device)
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows], dtype=torch.long, device=device)
        out = self.model.lm(input_ids=ids, attention_mask=mask, use_cache=False)
        return out.logits.float()

    def _truncate(self, ctx: list[int], cont: list[int]) -> list[int]:
        """Model input (context + continuation minus its last token), cut on the left to fit."""
        full = ctx + cont
        inputs = full[:-1]
        if self._max_len is not None and len(inputs) > self._max_len:
            if len(cont) > self._max_len:
                raise ScoringError(f"continuation of {len(cont)} tokens exceeds the model's {self._max_len}")
            inputs = inputs[-self._max_len :]
        return inputs

    def loglikelihood(self, requests: Sequence[tuple[str, str]]) -> list[LoglikelihoodResult]:
        """Score each continuation given its context; results in request order.

        Requests whose model input is identical (the same context with one-token continuations,
        as in every MCQ over one-word options) share one row of the batch: one forward pass
        serves all four options. Only the continuation positions go through the log-softmax.
        """
        import torch

        encoded = self._split_many(requests)
        inputs = [tuple(self._truncate(ctx, cont)) for ctx, cont in encoded]
        row_of: dict[tuple[int, ...], int] = {}
        rows: list[tuple[int, ...]] = []
        members: list[list[int]] = []
        for i in sorted(range(len(inputs)), key=lambda i: -len(inputs[i])):
            row = row_of.get(inputs[i])
            if row is None:
                row = row_of[inputs[i]] = len(rows)
                rows.append(inputs[i])
                members.append([])
            members[row].append(i)
        sums = [0.0] * len(encoded)
        hits = [0] * len(encoded)
        lm = self.model.lm
        was_training = lm.training
        lm.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(rows), self.batch_size):
                    batch = range(start, min(start + self.batch_size, len(rows)))
                    logits = self._forward([list(rows[r]) for r in batch])
                    row_idx: list[int] = []
                    pos_idx: list[int] = []
                    tok_idx: list[int] = []
                    owner: list[int] = []
                    for b, r in enumerate(batch):
                        end = len(rows[r])
                        for i in members[r]:
                            cont = encoded[i][1]
                            row_idx.extend([b] * len(cont))
                            pos_idx.extend(range(end - len(cont), end))
                            tok_idx.extend(cont)
                            owner.extend([i] * len(cont))
                    device = logits.device
                    picked = logits[torch.tensor(row_idx, device=device), torch.tensor(pos_idx, device=device)]
                    logp = torch.log_softmax(picked, dim=-1)
                    tokens = torch.tensor(tok_idx, device=device)
                    token_lp = logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).tolist()
                    token_hit = (logp.argmax(-1) == tokens).tolist()
                    for i, lp, hit in zip(owner, token_lp, token_hit):
                        sums[i] += lp
                        hits[i] += int(hit)
        finally:
            lm.train(was_training)
        return [
            LoglikelihoodResult(logprob=sums[i], n_tokens=len(cont), greedy=hits[i] == len(cont), n_greedy=hits[i])
            for i, (_, cont) in enumerate(encoded)
        ]

    def greedy(self, requests: Sequence[tuple[str, int]]) -> list[str]:
        """Greedy-decode up to `max_tokens` tokens after each context (stops at EOS); request order.

        No KV cache: answers are a few tokens long, and re-running right-padded rows keeps every
        token at its own position, so generation is as batch-independent as `loglikelihood`.
        """
        import torch

        tokenizer = self.model.tokenizer
        eos = tokenizer.eos_token_id
        contexts = self._encode_many(context for context, _ in requests)
        seqs = [contexts[context] or list(self._empty_context) for context, _ in requests]
        budgets = [int(n) for _, n in requests]
        generated: list[list[int]] = [[] for _ in requests]
        order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))
        lm = self.model.lm
        was_training = lm.training
        lm.eval()
        try:
            with torch.inference_mode():
                for start in range(0, len(order), self.batch_size):
                    active = [i for i in order[start : start + self.batch_size] if budgets[i] > 0]
                    while active:
                        rows = [seqs[i] + generated[i] for i in active]
                        if self._max_len is not None:
                            rows = [row[-self._max_len :] for row in rows]
                        logits = self._forward(rows)
                        last = torch.tensor([len(row) - 1 for row in rows], device=logits.device)
                        picks = logits[torch.arange(len(rows), device=logits.device), last].argmax(-1).tolist()
                        still = []
                        for i, token in zip(active, picks):
                            if eos is not None and token == eos:
                                continue
                            generated[i].append(int(token))
                            if len(generated[i]) < budgets[i]:
                                still.append(i)
                        active = still
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
        chosen = _check_protocols(protocols)
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
                        scores.add(_option_score(probe, proto, options))
        if "gen_match" in chosen:
            pairs = self._split_many([(ctx, " " + c) for ctx, p in zip(contexts, probes) for c in p.choices])
            budgets, start = [], 0
            for p in probes:
                budgets.append(max(len(cont) for _, cont in pairs[start : start + len(p.choices)]))
                start += len(p.choices)
            texts = self.greedy(list(zip(contexts, budgets)))
            for probe, text in zip(probes, texts):
                scores.add(_gen_score(probe, text))
        return scores


def _argmax(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def _option_score(probe: Probe, protocol: str, options: Sequence[LoglikelihoodResult]) -> Score:
    sums = tuple(o.logprob for o in options)
    target = expected_answer(probe)
    if protocol == "mcq":
        return Score(probe.id, protocol, _argmax(sums), sums)
    if protocol == "mcq_norm":
        means = tuple(o.mean for o in options)
        return Score(probe.id, protocol, _argmax(means), means)
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
    generated = normalise_answer(text)
    best: int | None = None
    best_len = -1
    for j, choice in enumerate(probe.choices):
        want = normalise_answer(choice)
        if want and (generated == want or generated.startswith(want + " ")) and len(want) > best_len:
            best, best_len = j, len(want)
    value = 1.0 if best is not None and best == expected_answer(probe) else 0.0
    return Score(probe.id, "gen_match", best, (), value, text)


def pre_scores(
    model: LoadedModel,
    dataset: Any,
    protocols: Iterable[str] = PROTOCOLS,
    *,
    batch_size: int = 64,
) -> Scores:
    """Scores of `dataset` before any update, computed once and cached on disk.

    The key is (hash of the model's weights *now*, device, dataset hash, protocols, code version):
    never the model's name, so two different models -- or the same model after an edit -- never
    share an entry. The weights are hashed afresh on every call (a few ms on tiny-kg) rather than
    trusting `model.weights_hash`, which goes stale if someone forgot to restore.
    """
    from ksmith.models.snapshot import weights_hash

    chosen = _check_protocols(protocols)
    key = stable_hash(
        "pre_scores", weights_hash(model.lm), str(model.device), dataset.hash, sorted(chosen), CODE_VERSION
    )
    path = entry("scores", f"{key}.json")
    if path.exists():
        try:
            return Scores.from_json(path.read_text())
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("pre-score cache entry %s is corrupt (%s); recomputing", path, exc)
    scores = Scorer(model, batch_size=batch_size).score(dataset.probes, chosen)
    atomic_write_text(path, scores.to_json())
    return scores
