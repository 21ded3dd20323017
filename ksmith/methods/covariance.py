"""Key statistics: the second moment `C = E[k kᵀ]` of an MLP output projection's inputs.

ROME, MEMIT and AlphaEdit all write `W k* ≈ v*` while disturbing `W k` as little as possible for
the keys `k` of ordinary text; `C` summarises those keys. It is uncentered (as in ROME/MEMIT:
the update must preserve `W k` itself, not `W (k - mean)`), estimated over every token of a
corpus, and costs a full pass over that corpus, so it is computed once per
(model weights, module, corpus) and cached on disk under `ksmith.cache` (kind "covariance").

The corpus is, in order of preference: a text file given by the method's hyper-parameters (one
text per line; for tiny-kg pass the world corpus, for real models any representative text), or,
when none is given, text sampled from the model itself (seeded, so the same model always gives the
same statistics). Sampling needs no outside data and follows the distribution the model was trained
on, which for tiny-kg is the world corpus it memorised (the two gave the same figures on tiny-kg:
docs/decisions.md); `covariance_corpus` is there for real models and for comparisons.

The key depends only on the weights *below* the edited projection, but the cache key hashes
every weight of the model outside the blocks above the module's block: cheap for small models,
and it can never serve statistics of different weights.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ksmith import cache
from ksmith.errors import MethodError
from ksmith.methods.nethook import Trace

log = logging.getLogger(__name__)

KIND = "covariance"


@dataclass(frozen=True)
class KeyStats:
    """`moment` = E[k kᵀ] over `count` key vectors; `seconds` spent computing (0 when cached)."""

    moment: torch.Tensor
    count: int
    seconds: float
    cached: bool


def weights_hash(model: nn.Module, skip_prefixes: Sequence[str] = ()) -> str:
    """Content hash of the model's parameters (names, shapes, dtypes, on-device fingerprints),
    minus `skip_prefixes`.

    Built from `ksmith.models.snapshot.fingerprint`, computed where each tensor lives: no host
    copy of the model per call (an 8B model would cost 16 GB of transfers per case).
    """
    from ksmith.models.snapshot import fingerprint

    parts = []
    for name, param in model.named_parameters():
        if any(name.startswith(p) for p in skip_prefixes):
            continue
        parts.append((name, tuple(param.shape), str(param.dtype), fingerprint(param)))
    prints = torch.stack([p[3] for p in parts]).tolist() if parts else []
    return cache.stable_hash([(n, s, d, f) for (n, s, d, _), f in zip(parts, prints)])


def read_corpus(path: str | Path) -> list[str]:
    """Non-empty lines of a text file (the corpus for key statistics)."""
    p = Path(path)
    if not p.is_file():
        raise MethodError(f"covariance corpus {str(p)!r} is not a file; give a text file, one text per line")
    texts = [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise MethodError(f"covariance corpus {str(p)!r} is empty")
    return texts


@torch.no_grad()
def sample_corpus(
    model: nn.Module, tokenizer, n: int, length: int, seed: int, batch_size: int = 64
) -> list[list[int]]:
    """`n` token sequences of `length` sampled from the model (temperature 1, no top-k/p), seeded.

    Each starts from a token drawn uniformly from the non-special vocabulary (a model without a BOS
    token has no better neutral start); what follows is the model's own distribution. Sampled in
    batches of `batch_size` with the KV cache (`use_cache=True`: each new token costs one
    position, not a pass over the whole prefix). Batch `b` is seeded with `seed + b`, so the
    sequences do not depend on how many are asked for after them. Sampling runs inside
    `fork_rng`, so the caller's RNG state is left as it was.
    """
    device = next(model.parameters()).device
    vocab = int(model.get_input_embeddings().weight.shape[0])
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    # A host-side pool drawn from with the (forked, seeded) CPU RNG: the same starts on any device.
    allowed = torch.tensor([i for i in range(vocab) if i not in special] or list(range(vocab)), device="cpu")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    sequences: list[list[int]] = []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for batch, start in enumerate(range(0, n, batch_size)):
            rows = min(batch_size, n - start)
            torch.manual_seed(seed + batch)
            starts = allowed[torch.randint(len(allowed), (rows, 1), device="cpu")].to(device)
            out = model.generate(
                input_ids=starts,
                attention_mask=torch.ones_like(starts),
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                max_new_tokens=length - 1,
                min_new_tokens=length - 1,
                pad_token_id=pad,
                use_cache=True,
            )
            sequences.extend(out[:, :length].tolist())
    return sequences


def sampled_sequences(model: nn.Module, tokenizer, n: int, length: int, seed: int, batch_size: int) -> list[list[int]]:
    """`sample_corpus`, cached on disk by the whole model's weights and (n, length, seed): MEMIT's
    and AlphaEdit's layers (and ROME's, across layer choices) share one sample instead of
    generating it again per layer; generation is most of the statistics' cost on a real model, so
    the key holds the version of the sampler alone (`CACHE_PARTS["samples"]`), not of all ksmith."""
    import json

    key = cache.stable_hash("sampled_corpus", weights_hash(model), n, length, seed, cache.kind_version("samples"))
    path = cache.entry("samples", f"{key}.json")
    with cache.locked(path):
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except ValueError:
                log.warning("sampled corpus %s unreadable; sampling again", path)
        seqs = sample_corpus(model, tokenizer, n, length, seed, batch_size)
        cache.atomic_write_text(path, json.dumps(seqs))
        return seqs


@torch.no_grad()
def accumulate(
    model: nn.Module,
    module: str,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, int]:
    """Sum of k kᵀ over all non-padding positions of the module's input, and the count."""
    total: torch.Tensor | None = None
    count = 0
    for input_ids, mask in batches:
        with Trace(model, module, retain_input=True, retain_output=False, stop=True) as tr:
            model(input_ids=input_ids, attention_mask=mask)
        keys = tr.input[mask.bool()].double()
        outer = keys.t() @ keys
        total = outer if total is None else total + outer
        count += int(keys.shape[0])
    if total is None or count == 0:
        raise MethodError("the covariance corpus produced no tokens")
    return total, count


def _text_batches(tokenizer, texts: Sequence[str], batch_size: int, max_len: int, device):
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    for start in range(0, len(texts), batch_size):
        encoded = [list(tokenizer(t)["input_ids"])[:max_len] for t in texts[start : start + batch_size]]
        encoded = [e for e in encoded if e]
        if not encoded:
            continue
        width = max(len(e) for e in encoded)
        fill = [width - len(e) for e in encoded]
        ids = torch.tensor([e + [pad] * f for e, f in zip(encoded, fill)], dtype=torch.long, device=device)
        mask = torch.tensor([[1] * len(e) + [0] * f for e, f in zip(encoded, fill)], dtype=torch.long, device=device)
        yield ids, mask


def key_second_moment(
    model: nn.Module,
    tokenizer,
    module: str,
    *,
    skip_prefixes: Sequence[str] = (),
    corpus: str | Path | None = None,
    max_texts: int = 20000,
    samples: int = 256,
    sample_length: int = 32,
    min_tokens: int = 0,
    seed: int = 0,
    batch_size: int = 64,
    max_len: int = 128,
) -> KeyStats:
    """E[k kᵀ] of `module`'s input over a corpus, cached on disk by (weights, module, corpus),
    returned on the model's device in float64 (the methods solve with it in float64).

    corpus: a text file (one text per line, at most `max_texts` used), or None to sample
    `max(samples, ceil(min_tokens / sample_length))` sequences of `sample_length` tokens from the
    model with `seed`. min_tokens: how many key vectors full rank needs (the methods ask for
    4 × the key width: fewer tokens than the width give a singular moment, whose "null space"
    protects nothing); a file corpus with fewer tokens is used but logged as short.
    skip_prefixes: parameter-name prefixes that cannot affect the key (blocks above the module),
    left out of the weights hash so that editing them does not invalidate the entry.
    """
    device = next(model.parameters()).device
    if corpus is not None:
        texts = read_corpus(corpus)[:max_texts]
        source = {"file": hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]}
    else:
        texts = []
        samples = max(samples, -(-min_tokens // max(1, sample_length)))
        source = {"sampled": [samples, sample_length, seed]}
    key = cache.stable_hash(
        "key_second_moment", weights_hash(model, skip_prefixes), module, source, max_len, cache.kind_version("covariance")
    )
    path = cache.entry(KIND, f"{key}.pt")
    with cache.locked(path):  # xdist workers asking for the same statistics compute them once
        stats = _load(path)
        if stats is None:
            stats = _compute(model, tokenizer, module, path, texts, corpus is not None,
                             samples, sample_length, seed, batch_size, max_len)
    if min_tokens and stats.count < min_tokens:
        log.warning(
            "key statistics of %s: %d tokens, fewer than the %d full rank needs; give a longer "
            "--ksmith-cov-corpus (the ridge keeps the solve finite)", module, stats.count, min_tokens,
        )
    return KeyStats(stats.moment.to(device=device, dtype=torch.float64), stats.count, stats.seconds, stats.cached)


def _load(path: Path) -> KeyStats | None:
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        return KeyStats(stored["moment"], int(stored["count"]), 0.0, True)
    except Exception as exc:  # a corrupt entry is recomputed, never trusted
        log.warning("covariance cache entry %s unreadable (%s); recomputing", path, exc)
        return None


def _compute(model, tokenizer, module, path, texts, from_file, samples, sample_length, seed,
             batch_size, max_len) -> KeyStats:
    start = time.perf_counter()
    # PHASE / PHASE_DONE: the running case's progress line shows this step (ksmith.progress)
    log.info("computing key statistics of %s", module, extra={"ksmith_phase": "key statistics"})
    device = next(model.parameters()).device
    if from_file:
        batches = list(_text_batches(tokenizer, texts, batch_size, max_len, device))
        what = f"{len(texts)} texts"
    else:
        seqs = sampled_sequences(model, tokenizer, samples, sample_length, seed, batch_size)
        batches = [
            (torch.tensor(seqs[i : i + batch_size], dtype=torch.long, device=device),
             torch.ones((len(seqs[i : i + batch_size]), sample_length), dtype=torch.long, device=device))
            for i in range(0, len(seqs), batch_size)
        ]
        what = f"{samples} sampled sequences of {sample_length} tokens"
    total, count = accumulate(model, module, batches)
    moment = total / count  # float64 (accumulated so); stored as is
    buffer = io.BytesIO()
    torch.save({"moment": moment.cpu(), "count": count}, buffer)
    cache.atomic_write_bytes(path, buffer.getvalue())
    seconds = time.perf_counter() - start
    # Said once: later cells (and workers) load the cached entry.
    log.warning("key statistics of %s: %d keys from %s in %.1f s (cached)", module, count, what, seconds,
                extra={"ksmith_phase_done": "key statistics"})
    return KeyStats(moment, count, seconds, False)
