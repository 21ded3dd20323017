"""The relearning attack's known answer on tiny-kg: an unlearning that only suppresses the answer at
the output layer comes back under relearning; the oracle, retrained on the world without the facts,
has nothing to bring back (about a minute: the oracle is trained here).

The suppressor lowers the old answer's output row along the mean last hidden state of the forgotten
facts' prompts, by a margin of 20 nats there: the knowledge stays in every layer below, as after a
method that learned to hide the answer. Measured on this machine (tiny-kg small, unlearn leaf k=10,
seed 0): the suppressor's old-answer log-probability recovers 10.5 nats (95% interval 5.6 to 18.1)
after 50 steps, the oracle's 1.1 (-0.3 to 1.8); rr 0.28 against 0.54, the oracle's never having known.
"""

from __future__ import annotations

import torch

MARGIN = 20.0  # nats the suppressor removes from the old answer on the forgotten prompts


@torch.no_grad()
def suppress(loaded, interventions) -> None:
    lm, tokenizer = loaded.lm, loaded.tokenizer
    head = lm.get_output_embeddings().weight
    for iv in interventions:
        (token,) = tokenizer(" " + iv.old_object, add_special_tokens=False)["input_ids"]
        states = [lm(**tokenizer(prompt, return_tensors="pt"), output_hidden_states=True).hidden_states[-1][0, -1]
                  for prompt in iv.prompts]
        h = torch.stack(states).mean(0)
        head[token] -= MARGIN * h / h.dot(h)


def test_output_suppression_recovers_under_relearning_and_the_oracle_does_not(tmp_path, monkeypatch) -> None:
    from ksmith.attacks.relearn import relearn, relearn_pairs, settings_for
    from ksmith.metrics.attacks import attack_metrics
    from ksmith.models.oracle import oracle_model
    from ksmith.models.tiny import TinyConfig, pretrain
    from ksmith.probes import build_dataset
    from ksmith.scoring import Scorer
    from ksmith.world import build_world

    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    torch.set_num_threads(1)
    world = build_world(size="small")
    dataset = build_dataset(world, "unlearn", "leaf", 10, 0)
    asked = [p for p in dataset.probes if p.family == "Q+"]
    unedited = pretrain(world, TinyConfig.small())  # the shipped weights: the same bits on every machine
    pre = Scorer(unedited).score(dataset.probes, ("mcq",))
    pairs = relearn_pairs(world, dataset)

    def recovery(loaded) -> float:
        post = Scorer(loaded).score(dataset.probes, ("mcq",))
        attacked = {}
        relearn(loaded.lm, loaded.tokenizer, pairs, [50], settings_for(loaded.arch), 0,
                lambda step: attacked.__setitem__("relearn50", Scorer(loaded).score(asked, ("mcq",))))
        return attack_metrics(dataset, pre, post, attacked, {}, held_out=unedited.held_out)["old_logprob_recovery@relearn50"]

    suppressor = pretrain(world, TinyConfig.small())
    suppress(suppressor, dataset.interventions)
    came_back = recovery(suppressor)
    oracle = recovery(oracle_model(world, dataset.interventions, TinyConfig.small()))
    assert came_back.ci[0] > 0  # the suppressed answer comes back: the interval excludes 0
    assert oracle.value < 0.25 * came_back.value  # the oracle gains little of what the suppressor regains
