"""`tiny-kg`: a small GPT-2-style model pretrained here, on a world's corpus, until it knows the facts.

Why our own model: edits and unlearning are only measurable on knowledge a model verifiably has. A
model trained on a synthetic world of made-up names knows exactly that world (held-in accuracy >=
the target, measured), and nothing else could have taught it those names.

The model is an ordinary Hugging Face checkpoint: `GPT2LMHeadModel` plus a word-level tokenizer
(`tokenizers` WordLevel, wrapped in `PreTrainedTokenizerFast`) whose vocabulary is every word the world
can produce. One word = one token, so an entity name is one token and a subject's "last token" is the
name itself. Text is lower-cased (NFKC) so sentence-initial capitals never become unknown words.

Training is deterministic for a seed on a given machine and device (on one CPU thread, see
`_one_cpu_thread`), not across processors; so the two models every grid uses are shipped, trained
once (`ksmith.models.embedded`), and any other world or config is trained here and cached under
`cache_root()/models/<key>`, keyed by the world hash, the config and the code version.

Six layers x 128, untied embeddings: why, with what was measured, is in docs/decisions.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ksmith.cache import entry, kind_version, locked, stable_hash
from ksmith.errors import ModelError
from ksmith.models.loaded import LoadedModel

log = logging.getLogger(__name__)

#: Bump when the trainer or tokenizer changes what a cached tiny-kg checkpoint holds.
TRAINER_VERSION = "2"  # 2: CPU training pinned to one thread (see `_one_cpu_thread`)
META_FILE = "ksmith_tiny.json"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")


@dataclass(frozen=True)
class TinyConfig:
    """Size and training of tiny-kg. Training stops once held-in accuracy reaches `target_accuracy`
    (checked every `eval_every` steps) or after `max_steps`."""

    n_layer: int = 6
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 128
    lr: float = 2e-3
    batch_size: int = 64
    target_accuracy: float = 0.95
    max_steps: int = 12000
    seed: int = 0
    warmup_steps: int = 100
    weight_decay: float = 0.01
    eval_every: int = 250
    eval_sample: int = 1500
    #: Untied input/output embeddings: they learn faster (docs/decisions.md).
    tie_embeddings: bool = False

    @classmethod
    def small(cls) -> TinyConfig:
        """A model that learns a `size="small"` world in seconds: for tests and fixtures."""
        return cls(n_layer=2, n_embd=64, n_head=2, lr=5e-3, batch_size=32, max_steps=3000, eval_every=100)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# -- what the world gives us ------------------------------------------------------------------


def _template_texts(world: Any) -> list[str]:
    """Every template string of every relation (placeholders removed), held-out ones included."""
    texts: list[str] = []
    for relation in world.relations.values():
        for value in dataclasses.asdict(relation.templates).values():
            items = value if isinstance(value, (tuple, list)) else [value]
            texts.extend(item for item in items if isinstance(item, str))
    return [re.sub(r"\{\w+\}", " ", text) for text in texts]


def _surface_forms() -> list[str]:
    """Fixed phrases of the probe generator (comparison, conflict, vague answers, ...), if present.

    Probes are built from these as well as from relation templates; adding their words to the
    vocabulary keeps every probe free of [UNK]. The module's own attributes (`__file__`, `__doc__`,
    ...) are not phrases: `__file__` put the words of the checkout's path into the vocabulary, so
    the same seed trained a different tiny-kg in every directory.
    """
    try:
        import ksmith.world.templates as forms
    except ImportError:
        return []
    texts: list[str] = []
    for name, value in vars(forms).items():
        if name.startswith("__"):
            continue
        items = value if isinstance(value, (tuple, list)) else [value]
        texts.extend(re.sub(r"\{\w+\}", " ", item) for item in items if isinstance(item, str))
    return texts


def _entity_names(world: Any) -> list[str]:
    entities = getattr(world, "entities", {})
    values = entities.values() if isinstance(entities, dict) else entities
    return [getattr(e, "name", e) for e in values if isinstance(getattr(e, "name", e), str)]


def world_facts(world: Any) -> list[Any]:
    """Every fact of the world, stated and inherited (what the corpus renders)."""
    for attr in ("all_facts", "facts"):
        getter = getattr(world, attr, None)
        if callable(getter):
            try:
                return list(getter())
            except TypeError:
                continue
        elif getter is not None:
            return list(getter)
    raise ModelError("the world exposes no facts (expected World.all_facts() or World.facts())")


def fact_pairs(world: Any, *, held_out: bool) -> list[tuple[str, str]]:
    """(cloze prompt, " " + object) for every fact in its held-in (or held-out) cloze templates."""
    pairs = []
    for fact in world_facts(world):
        relation = world.relations[fact.relation]
        templates = relation.templates
        for index, template in enumerate(templates.cloze):
            if (index == templates.held_out) == held_out:
                pairs.append((template.replace("{s}", fact.subject).rstrip(), " " + fact.object))
    return sorted(set(pairs))


# -- tokenizer ----------------------------------------------------------------------------------


def build_tokenizer(world: Any, extra_texts: Iterable[str] = ()) -> Any:
    """A word-level `PreTrainedTokenizerFast` over every word the world (and `extra_texts`) can say.

    Vocabulary: the corpus, all templates (held-out, question and reverse ones too, so probes never
    hit unknown words), entity names. Encoding prepends [BOS]; training appends [EOS].
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    splitter = pre_tokenizers.Whitespace()
    words: set[str] = set()
    texts = [*world.corpus(), *_template_texts(world), *_surface_forms(), *_entity_names(world), *extra_texts]
    texts.append("0 1 2 3 4 5 6 7 8 9 . , ; : ? ! ' \" ( ) - a an the is of and or not")
    for text in texts:
        words.update(piece for piece, _ in splitter.pre_tokenize_str(normalizer.normalize_str(text)))
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word in sorted(words):
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = splitter
    tok.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", pair="[BOS] $A $B", special_tokens=[("[BOS]", vocab["[BOS]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="[BOS]", eos_token="[EOS]", unk_token="[UNK]", pad_token="[PAD]"
    )


# -- training -----------------------------------------------------------------------------------


def cache_key(world: Any, config: TinyConfig) -> str:
    return stable_hash("tiny-kg", world.hash, config.as_dict(), kind_version("models"), TRAINER_VERSION)


def _accuracy(model: LoadedModel, pairs: Sequence[tuple[str, str]], batch_size: int = 256) -> float:
    """Held-in accuracy while training: the share of (prompt, " object") pairs whose object is the
    greedy next token after the prompt. tiny-kg's tokenizer makes every entity name one token, so
    this is the scorer's greedy check (`ksmith.scoring`, which sits above the models and so is not
    called from here) on a one-token answer."""
    import torch

    if not pairs:
        return 0.0
    tok, lm = model.tokenizer, model.lm
    right = 0
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            prompts = [tok(prompt)["input_ids"] for prompt, _ in chunk]
            answers = [tok(answer, add_special_tokens=False)["input_ids"] for _, answer in chunk]
            if any(len(answer) != 1 for answer in answers):
                raise ModelError("a tiny-kg answer is not one token; the word-level tokenizer should make it one")
            width = max(map(len, prompts))
            ids = torch.full((len(chunk), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, prompt in enumerate(prompts):
                ids[row, : len(prompt)] = torch.tensor(prompt)
                mask[row, : len(prompt)] = 1
            logits = lm(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits
            last = torch.tensor([len(prompt) - 1 for prompt in prompts], device=logits.device)
            guess = logits[torch.arange(len(chunk), device=logits.device), last].argmax(-1)
            right += int((guess.cpu() == torch.tensor([answer[0] for answer in answers])).sum())
    return right / len(pairs)


#: progress(step, smoothed training loss, held-in accuracy when just measured else None)
Progress = Callable[[int, float, float | None], None]


def _epoch_batches(sequences: Sequence[Sequence[int]], batch_size: int, generator: Any) -> list[list[int]]:
    """One epoch of batches (index lists), shuffled, with similar lengths batched together.

    Sorting by length inside windows of 32 batches cuts padding (a third of the compute on the
    default world) while keeping each batch a random draw of the corpus.
    """
    import torch

    order = torch.randperm(len(sequences), generator=generator).tolist()
    window = batch_size * 32
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: len(sequences[i]))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


@contextlib.contextmanager
def _one_cpu_thread(device: str) -> Iterator[None]:
    """Train on one CPU thread, whatever this process was given, and restore the count afterwards.

    A float sum split over more threads is summed in another order, so the same seed trained on one
    thread and on two gives two different models (docs/decisions.md). The cache holds whichever process trained first,
    and which one that is (a process left at torch's default count, an xdist worker given one) is a
    race; so every CPU training run uses one thread, and the cached model depends on the seed alone.
    On CUDA the thread count does not enter the arithmetic and is left alone.
    """
    import torch

    if not device.startswith("cpu"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _train(world: Any, config: TinyConfig, device: str, progress: Progress | None) -> tuple[LoadedModel, dict]:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from ksmith.models.arch import describe

    started = time.perf_counter()
    cpu_started = time.process_time()
    tokenizer = build_tokenizer(world)
    corpus = list(world.corpus())
    if not corpus:
        raise ModelError("the world's corpus is empty: nothing to pretrain tiny-kg on")
    eos = tokenizer.eos_token_id
    sequences = [ids + [eos] for ids in tokenizer(corpus, add_special_tokens=True)["input_ids"]]
    longest = max(len(s) for s in sequences)
    if longest > config.n_positions:
        raise ModelError(
            f"a corpus sentence has {longest} tokens, more than n_positions={config.n_positions}; raise it"
        )
    held_in = fact_pairs(world, held_out=False)
    held_out_pairs = fact_pairs(world, held_out=True)

    torch.manual_seed(config.seed)
    gpt_config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=config.n_positions,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=config.tie_embeddings,
    )
    lm = GPT2LMHeadModel(gpt_config).to(device)
    loaded = LoadedModel(
        spec="tiny-kg", lm=lm, tokenizer=tokenizer, arch=describe(lm), weights_hash="", device=device
    )
    decay = [p for n, p in lm.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in lm.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
        betas=(0.9, 0.98),
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(1, config.warmup_steps))
    )
    generator = torch.Generator().manual_seed(config.seed)
    sample_gen = torch.Generator().manual_seed(config.seed + 1)
    batches: list[list[int]] = []
    step = 0
    accuracy = 0.0
    loss_value = math.nan
    lm.train()
    while step < config.max_steps:
        if not batches:
            batches = _epoch_batches(sequences, config.batch_size, generator)
        batch = [sequences[i] for i in batches.pop()]
        width = max(len(s) for s in batch)
        ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, seq in enumerate(batch):
            ids[i, : len(seq)] = torch.tensor(seq)
            labels[i, : len(seq)] = torch.tensor(seq)
            mask[i, : len(seq)] = 1
        loss = lm(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        step += 1
        # Batches group lines of similar length (and so of similar kind): show a smoothed loss.
        current = float(loss.detach())
        loss_value = current if math.isnan(loss_value) else 0.95 * loss_value + 0.05 * current
        shown: float | None = None
        if step % config.eval_every == 0 or step == config.max_steps:
            picks = torch.randperm(len(held_in), generator=sample_gen)[: config.eval_sample].tolist()
            shown = _accuracy(loaded, [held_in[i] for i in picks])
            if shown >= config.target_accuracy:
                accuracy = _accuracy(loaded, held_in)
                shown = accuracy
                if accuracy >= config.target_accuracy:
                    if progress:
                        progress(step, loss_value, shown)
                    break
            lm.train()
        if progress:
            progress(step, loss_value, shown)
    else:
        accuracy = _accuracy(loaded, held_in)
    lm.eval()
    held_out_accuracy = _accuracy(loaded, held_out_pairs)
    wall = time.perf_counter() - started
    if accuracy < config.target_accuracy:
        log.warning(
            "tiny-kg stopped at max_steps=%d with held-in accuracy %.3f < target %.2f",
            config.max_steps, accuracy, config.target_accuracy,
        )
    meta = {
        "config": config.as_dict(),
        "world_hash": world.hash,
        "held_out": {name: rel.templates.held_out for name, rel in world.relations.items()},
        "steps": step,
        "train_seconds": round(wall, 2),
        # CPU time of this process: on a shared machine, a truer measure of the work than wall time.
        "train_cpu_seconds": round(time.process_time() - cpu_started, 2),
        "held_in_accuracy": accuracy,
        "held_out_accuracy": held_out_accuracy,
        "final_loss": loss_value,
        "n_parameters": sum(p.numel() for p in lm.parameters()),
        "corpus_sentences": len(sequences),
        "held_in_pairs": len(held_in),
        "trainer_version": TRAINER_VERSION,
        "code_version": kind_version("models"),
    }
    return loaded, meta


def train(world: Any, config: TinyConfig, device: str, progress: Progress | None = None) -> tuple[LoadedModel, dict]:
    """tiny-kg trained on `world` now (one thread on a CPU, `_one_cpu_thread`), with its metadata."""
    with _one_cpu_thread(device):
        return _train(world, config, device, progress)


def save_in_place(model: LoadedModel, meta: dict, path: Path, finish: Callable[[Path], None] | None = None) -> None:
    """`save` into a temporary sibling of `path`, `finish` it there, then put it in place of `path`:
    a reader never sees half a checkpoint, and a failure leaves no temporary directory behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        save(model, meta, tmp)
        if finish is not None:
            finish(tmp)
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save(model: LoadedModel, meta: dict, out: Path) -> None:
    """Write model, tokenizer and ksmith metadata as a Hugging Face checkpoint directory."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.lm.save_pretrained(out)
    model.tokenizer.save_pretrained(out)
    (out / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))


def load(path: Path, *, device: str | None = None, dtype: str | None = None, spec: str = "tiny-kg") -> LoadedModel:
    """Load a tiny-kg checkpoint directory written by `save`."""
    from ksmith.models.arch import describe
    from ksmith.models.hub import load_checkpoint

    path = Path(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise ModelError(f"{path} is not a tiny-kg checkpoint (no {META_FILE}); write one with `ksmith pretrain`")
    meta = json.loads(meta_path.read_text())
    loaded = load_checkpoint(path, device=device, dtype=dtype, spec=spec)
    # Methods take the defaults tuned on tiny-kg for it, their published ones for every other model.
    loaded.lm.config.ksmith_profile = "tiny-kg"
    loaded.arch = describe(loaded.lm)
    loaded.held_out = dict(meta.get("held_out", {}))
    loaded.world_hash = meta.get("world_hash")
    return loaded


def read_meta(path: Path) -> dict:
    return json.loads((Path(path) / META_FILE).read_text())


def pretrain(
    world: Any,
    config: TinyConfig | None = None,
    *,
    device: str | None = None,
    dtype: str | None = None,
    progress: Progress | None = None,
    out: Path | None = None,
) -> LoadedModel:
    """tiny-kg trained on `world`: the shipped weights when this world and config are an embedded
    model's recipe (`ksmith.models.embedded`, the same bits on every machine), else from the cache
    when they were trained before, else trained now.

    progress: called as progress(step, loss, accuracy_or_None) during training (the CLI's bar).
    out: also write the checkpoint there (`ksmith pretrain --out`).
    """
    from ksmith.models.device import select_device
    from ksmith.models.embedded import find_embedded, load_embedded

    config = config or TinyConfig()
    shipped = find_embedded(world, config)
    if shipped is not None:
        loaded = load_embedded(shipped, device=device, dtype=dtype)
        if out is not None:
            shutil.copytree(shipped, Path(out), dirs_exist_ok=True)
        return loaded
    path = entry("models", cache_key(world, config))
    with locked(path):
        if not (path / META_FILE).is_file():
            trained, meta = train(world, config, select_device(device), progress)
            save_in_place(trained, meta, path)
            log.info("tiny-kg trained in %.1fs (%d steps), cached at %s", meta["train_seconds"], meta["steps"], path)
    loaded = load(path, device=device, dtype=dtype)
    if out is not None:
        out = Path(out)
        if out.resolve() != path.resolve():
            shutil.copytree(path, out, dirs_exist_ok=True)
    return loaded
