"""What counts as a correct answer, and which probes count at all (precondition filtering).

These rules are the ground every accuracy and diagnostic stands on, so they live in one place:

* **Correct after the update** (`answered_correctly`):
  - `Q-` probe (must not change): the model picks `answer_before`.
  - `Q+` probe of an **edit**: the model picks `answer_after` (the new object's option).
  - `Q+` probe of an **unlearning** request: the model picks an option other than `avoid` (the old
    object). No option at all (a generation naming none) is *not* success: silence is not
    forgetting, and random answering would otherwise score well; it is counted apart (`no_answer`).
* **Precondition** (`preconditions`), as RippleEdits does: a probe counts only if the unedited model
  knew what the probe presupposes, otherwise "unlearning" a fact the model never knew would count as
  success and "preserving" a fact it never knew as locality.
  - every probe: the unedited model picked `answer_before` on the probe itself (for a multi-hop
    probe this checks the whole chain end to end, which needs every hop);
  - every `Q+` probe in addition: the unedited model knew the intervention's fact, i.e. picked
    `answer_before` on a strict majority of that intervention's held-in direct probes.
  - a probe that names its own preconditions (`Probe.requires`, RippleEdits' condition queries)
    counts instead exactly when the unedited model answered every one of them right, as
    RippleEdits' test runner decides "executed"; an empty `requires` always counts.
  The check uses the `mcq` protocol's pre-update answers (the headline protocol), so one probe is
  executed or not under every protocol alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ksmith.metrics.inputs import is_held_out
from ksmith.probes.types import Intervention, Probe
from ksmith.scoring import Score


@dataclass(frozen=True)
class Answer:
    """One probe with the option the model chose before and after the update.

    before / after: chosen option index (None when the protocol matched no option).
    executed:        passed precondition filtering.
    held_out:        a held-out paraphrase (never seen in training).
    value_after:     the protocol's scalar after the update, where it has one.
    scores_after:    the option scores after the update (mcq, mcq_norm), else empty.
    scores_before:   the same before the update.
    """

    probe: Probe
    before: int | None
    after: int | None
    executed: bool
    held_out: bool
    value_after: float | None = None
    scores_after: tuple[float, ...] = ()
    scores_before: tuple[float, ...] = ()

    @property
    def correct(self) -> bool:
        return answered_correctly(self.probe, self.after)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def old_retained(self) -> bool:
        return self.after == old_choice(self.probe)


def old_choice(probe: Probe) -> int:
    """Index of the old object's option: `avoid` for unlearning probes, else `answer_before`."""
    return probe.avoid if probe.avoid is not None else probe.answer_before


def answered_correctly(probe: Probe, choice: int | None) -> bool:
    """Whether `choice` is the right answer after the update (rules in the module docstring)."""
    if probe.family == "Q-":
        return choice == probe.answer_before
    if probe.task == "unlearn":
        return choice is not None and choice != old_choice(probe)
    return choice is not None and choice == probe.answer_after


def answered_before(probe: Probe, choice: int | None) -> bool:
    """Whether `choice` is the answer the original world gives (what the unedited model should say)."""
    return choice is not None and choice == probe.answer_before


def answer_states(probe: Probe, choice: int | None) -> frozenset[str]:
    """Which world a chosen answer agrees with: {"new"}, {"old"}, both, or neither.

    Edit: "new" when `choice == answer_after`, "old" when `choice == answer_before` (both when the
    two coincide, e.g. a reverse probe whose answer the edit does not move). Unlearning: "old" when
    the old object is chosen, "new" for another option (the fact is gone), neither for no option.
    """
    if probe.task == "unlearn" and probe.family == "Q+":
        if choice is None:
            return frozenset()
        return frozenset({"old"}) if choice == old_choice(probe) else frozenset({"new"})
    states = set()
    if (
        choice is not None
        and probe.answer_after is not None
        and choice == probe.answer_after
    ):
        states.add("new")
    if choice is not None and choice == probe.answer_before:
        states.add("old")
    return frozenset(states)


def preconditions(
    probes: Sequence[Probe],
    pre_choices: Mapping[str, int | None],
    interventions: Mapping[str, Intervention],
    held_out: Mapping[str, int] | None = None,
) -> dict[str, bool]:
    """probe_id -> whether the probe passes precondition filtering (rules in the module docstring).

    A probe with no pre-update answer cannot be checked and does not count.
    """
    known_fact: dict[str, list[bool]] = {}
    for probe in probes:
        if probe.probe_type == "direct" and not is_held_out(
            probe, interventions, held_out
        ):
            known_fact.setdefault(probe.intervention_id, []).append(
                answered_before(probe, pre_choices.get(probe.id))
            )
    by_id = {probe.id: probe for probe in probes}
    out: dict[str, bool] = {}
    for probe in probes:
        if probe.requires is not None:
            out[probe.id] = all(
                rid in by_id and answered_before(by_id[rid], pre_choices.get(rid)) for rid in probe.requires
            )
            continue
        if probe.id not in pre_choices:
            out[probe.id] = False
            continue
        ok = answered_before(probe, pre_choices[probe.id])
        if ok and probe.family == "Q+":
            votes = known_fact.get(probe.intervention_id)
            if (
                votes
            ):  # no held-in direct probe in the dataset: nothing further to check
                ok = 2 * sum(votes) > len(votes)
        out[probe.id] = ok
    return out


def pair_answers(
    probes: Sequence[Probe],
    pre: Mapping[str, Score],
    post: Mapping[str, Score],
    executed: Mapping[str, bool],
    interventions: Mapping[str, Intervention],
    held_out: Mapping[str, int] | None = None,
    *,
    require_pre: bool = True,
) -> list[Answer]:
    """An `Answer` for every probe with a post-update score (and a pre-update one if `require_pre`).

    Value protocols (`token_acc`, `prob_compare`) need only the post-update value; choice protocols
    need both answers, since change-based diagnostics compare them.
    """
    out = []
    for probe in probes:
        before = pre.get(probe.id)
        after = post.get(probe.id)
        if after is None or (require_pre and before is None):
            continue
        out.append(
            Answer(
                probe=probe,
                before=before.choice if before is not None else None,
                after=after.choice,
                executed=executed.get(probe.id, False),
                held_out=is_held_out(probe, interventions, held_out),
                value_after=after.value,
                scores_after=tuple(after.option_scores),
                scores_before=tuple(before.option_scores) if before is not None else (),
            )
        )
    return out
