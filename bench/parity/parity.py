"""Parity with the references: ksmith's methods and the code they follow, on the same inputs (prints tables).

Given local checkouts of the references (nothing is fetched; each is imported from the path given),
runs both on one model, the same facts, statistics, prompts and hyper-parameters, and prints:

    editors (EasyEdit: ROME, MEMIT, AlphaEdit)
        per edited matrix, the cosine and norm ratio (ksmith / reference) of the two weight updates;
        per fact, whether the new object became the argmax of its direct question's four options
        after the edited prompt on each side, and the target's token NLL there
    unlearners (open-unlearning: GradAscent, GradDiff, NPO, SimNPO, RMU)
        on one forget + retain batch, both losses, |difference|, and the cosine and norm ratio of
        the two gradients over ksmith's trained parameters; at the original weights and after
        ksmith's own update

The facts are drawn from the model's committed known set on the real world (`--model smollm2-135m`
or `hf:<path>`), or are the conformance suite's toy facts on a random toy Llama (`--model toy-llama`,
seconds, for working on the harness itself). What each side is given, and every field without a
counterpart: `edit_parity.py`, `unlearn_parity.py`; the measured table: docs/methods.md, "Parity
with the references".

    git clone <EasyEdit> /tmp/EasyEdit && git -C /tmp/EasyEdit checkout 14cea82
    git clone <open-unlearning> /tmp/open-unlearning && git -C /tmp/open-unlearning checkout d3d7cf9
    OMP_NUM_THREADS=1 .venv/bin/python bench/parity/parity.py --easyedit /tmp/EasyEdit \\
        --open-unlearning /tmp/open-unlearning --model smollm2-135m --facts 10
    .venv/bin/python bench/parity/parity.py --easyedit /tmp/EasyEdit --model toy-llama --methods rome
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import torch
from edit_parity import EDITORS, Fact, Question, compare_editor
from parity_table import (
    checkout_commit,
    commit_note,
    edit_summary,
    loss_row,
    markdown,
    update_row,
)
from references import CheckoutError, import_easyedit, import_open_unlearning
from unlearn_parity import UNLEARNERS, compare_unlearner

from ksmith.methods.overrides import HparamError, parse_assignment


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """`method.field=value` -> {method: {field: value}}, read as `--ksmith-hparam` reads them."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for item in items:
        try:
            method, field, value = parse_assignment(item)
        except HparamError:
            raise SystemExit(f"{item!r}: expected METHOD.FIELD=VALUE") from None
        out[method][field] = value
    return out


def cpu_name() -> str:
    """`lscpu`'s model name (the processor the figures were measured on)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.strip().startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def real_setup(spec: str, n: int, seed: int, level: str, dtype: str = "float32") -> tuple[Any, list[Fact], Any]:
    """The model, `n` facts from its known set on the real world (each with its direct question),
    and the unlearning request over the same facts with the dataset's retain items.
    dtype "float64": loaded in float32 (the known set's weights), then cast, so both sides compute
    the same formulas without float32 rounding (whose order differs between the two codes)."""
    from ksmith.known.measure import cached_known, committed_known
    from ksmith.models import load_model
    from ksmith.probes import build_dataset
    from ksmith.probes.types import UpdateRequest
    from ksmith.world.real import load_real_world

    loaded = load_model(spec, device="cpu", dtype="float32")
    world = load_real_world()
    known = committed_known(spec, loaded.weights_hash, world) or cached_known(loaded, world)
    if dtype == "float64":
        loaded.lm.to(torch.float64)
    dataset = build_dataset(world, "edit", level, n, seed, known=known)
    facts = []
    for iv in dataset.interventions:
        probe = next(p for p in dataset.probes if p.intervention_id == iv.id and p.probe_type == "direct"
                     and p.prompt == iv.prompts[0])
        facts.append(Fact(dataclasses.replace(iv, prompts=iv.prompts[:1]),
                          Question(probe.prompt, tuple(probe.choices), int(probe.answer_after))))
    forget = tuple(dataclasses.replace(iv, task="unlearn", new_object=None) for iv in dataset.interventions)
    return loaded, facts, UpdateRequest(task="unlearn", interventions=forget, retain=dataset.retain, scale=n, seed=seed)


def toy_setup(n: int, seed: int) -> tuple[Any, list[Fact], Any]:
    """A random toy Llama (the conformance suite's) and its toy facts: for working on the harness."""
    from ksmith.conformance import toy
    from ksmith.models.arch import describe
    from ksmith.models.loaded import LoadedModel

    lm = toy.tiny_model("llama", seed=seed, layers=4)
    loaded = LoadedModel(spec="toy-llama", lm=lm, tokenizer=toy.tokenizer(), arch=describe(lm), weights_hash="toy")
    edit = toy.request("edit", n=n, seed=seed)
    facts = []
    for iv in edit.interventions:
        others = [o for o in toy.OBJECTS if o not in (iv.old_object, iv.new_object)][:2]
        facts.append(Fact(dataclasses.replace(iv, prompts=iv.prompts[:1]),
                          Question(iv.prompts[0], (iv.old_object, iv.new_object, *others), 1)))
    return loaded, facts, toy.request("unlearn", n=n, seed=seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--easyedit", metavar="PATH", help="EasyEdit checkout (ROME, MEMIT, AlphaEdit)")
    parser.add_argument("--open-unlearning", metavar="PATH",
                        help="open-unlearning checkout (GradAscent, GradDiff, NPO, SimNPO, RMU)")
    parser.add_argument("--model", default="smollm2-135m", help="smollm2-135m, hf:<path>, or toy-llama")
    parser.add_argument("--facts", type=int, default=10, help="facts drawn from the model's known set")
    parser.add_argument("--seed", type=int, default=0, help="the draw's seed")
    parser.add_argument("--level", default="leaf")
    parser.add_argument("--methods", default=",".join(EDITORS + UNLEARNERS))
    parser.add_argument("--points", default="original,updated",
                        help="where the losses are compared: original, updated (after ksmith's update)")
    parser.add_argument("--update-epochs", type=float, metavar="E",
                        help="epochs of ksmith's update that leads to the 'updated' point (default: the "
                        "method's own; 1 gives one optimiser step at the published settings)")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.FIELD=VALUE",
                        help="a ksmith hyper-parameter (the reference is then given it too, where it has the field)")
    parser.add_argument("--ref-set", action="append", default=[], metavar="METHOD.FIELD=VALUE",
                        help="an EasyEdit hparams field, set after the mapping (e.g. rome.mom2_adjustment=False)")
    parser.add_argument("--ref-log", metavar="FILE", help="write what the references printed here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="the model's dtype on both sides (float64: the formulas without float32 rounding)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(EDITORS + UNLEARNERS))
    if unknown:
        raise SystemExit(f"no parity run for {unknown}; choose from {', '.join(EDITORS + UNLEARNERS)}")
    sets, ref_sets = parse_sets(args.set), parse_sets(args.ref_set)
    started = time.perf_counter()

    references: dict[str, Any] = {}
    print("# Parity with the references\n")
    for name, path, wanted in (("EasyEdit", args.easyedit, EDITORS), ("open-unlearning", args.open_unlearning, UNLEARNERS)):
        if not set(methods) & set(wanted):
            continue
        if path is None:
            print(f"- {name}: no checkout given (--{name.lower()} PATH); {', '.join(m for m in methods if m in wanted)} skipped")
            methods = [m for m in methods if m not in wanted]
            continue
        print(f"- {commit_note(name, checkout_commit(path))}: {path}")
        try:
            references[name] = import_easyedit(path) if name == "EasyEdit" else import_open_unlearning(path)
        except CheckoutError as exc:
            print(f"parity: {exc}; pass the root of a {name} checkout", file=sys.stderr)
            return 2
        if references[name].stubs:
            print(f"  (stubbed while importing, not installed here and not reached: {', '.join(references[name].stubs)})")

    if args.model == "toy-llama":
        loaded, facts, forget_request = toy_setup(args.facts, args.seed)
        loaded.lm.to(getattr(torch, args.dtype))
    else:
        loaded, facts, forget_request = real_setup(args.model, args.facts, args.seed, args.level, args.dtype)
    print(f"- model {loaded.spec} ({loaded.arch.model_type}, {loaded.arch.num_layers} blocks), "
          f"{next(loaded.lm.parameters()).dtype}, {torch.get_num_threads()} torch thread(s); CPU: {cpu_name()}")
    print(f"- {len(facts)} facts ({args.level}, seed {args.seed}): "
          + "; ".join(f"{f.intervention.subject} / {f.intervention.relation}: {f.intervention.old_object} -> "
                      f"{f.intervention.new_object}" for f in facts))

    edit_rows, update_rows, fact_rows, loss_rows, notes, logs = [], [], [], [], {}, []
    for name in methods:
        t0 = time.perf_counter()
        if name in EDITORS:
            run = compare_editor(references["EasyEdit"], name, loaded, facts, sets.get(name, {}), ref_sets.get(name, {}))
            edit_rows.append(edit_summary(name, run.updates, run.facts))
            update_rows += [update_row(u) for u in run.updates]
            fact_rows += [dataclasses.asdict(f) for f in run.facts]
            logs.append(f"===== {name}\n{run.log}")
        else:
            points = tuple(p for p in args.points.split(",") if p)
            update = {} if args.update_epochs is None else {"epochs": args.update_epochs}
            run = compare_unlearner(references["open-unlearning"], name, loaded, forget_request, sets.get(name, {}),
                                    points, update)
            loss_rows += [loss_row(c) for c in run.comparisons]
        notes[name] = run.notes
        print(f"  {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)

    if edit_rows:
        print("\n## Editing: weight updates and facts\n")
        print(markdown(edit_rows))
        print("\nPer run and matrix:\n")
        print(markdown(update_rows))
        print("\nPer fact:\n")
        print(markdown(fact_rows))
    if loss_rows:
        print("\n## Unlearning: losses and gradients on one batch\n")
        print(markdown(loss_rows))
    if any(notes.values()):
        print("\n## Fields without a counterpart\n")
        grouped: dict[str, list[str]] = defaultdict(list)
        for name, lines in notes.items():
            for line in lines:
                grouped[line].append(name)
        for line, names in grouped.items():
            print(f"- {', '.join(names)}: {line}")
    if args.ref_log:
        with open(args.ref_log, "w", encoding="utf-8") as handle:
            handle.write("\n".join(logs))
    print(f"\nwall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
