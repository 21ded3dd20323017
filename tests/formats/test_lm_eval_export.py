"""The lm-eval export, run through lm-evaluation-harness on SmolLM2: on every item lm-eval's
predicted option (argmax of its per-option log-likelihoods) is the option ksmith's `mcq` chose.

Slow (SmolLM2 on CPU); needs the `peer` extra (`pip install -e '.[peer]'`) and SmolLM2
(`make smollm2`), and skips with the install hint when either is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksmith.models.hub import SMOLLM2_INSTALL, smollm2_available
from ksmith.probes import build_dataset
from ksmith.probes.formats import export_dataset, import_dataset
from tests.formats import samples as S

pytestmark = pytest.mark.slow
LM_EVAL_INSTALL = "lm-eval is absent: make peer (pip install -e '.[peer]', lm_eval==0.4.13)"


@pytest.mark.skipif(not smollm2_available(), reason=f"smollm2-135m absent: {SMOLLM2_INSTALL}")
def test_lm_eval_predicts_the_option_ksmith_mcq_predicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("lm_eval", reason=LM_EVAL_INSTALL)
    import numpy as np
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from ksmith.models import load_model
    from ksmith.scoring import Scorer
    from ksmith.world import build_world

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    model = load_model("smollm2-135m", device="cpu")
    scorer = Scorer(model, batch_size=16)
    datasets = {
        "imported": import_dataset("counterfact", S.write(tmp_path / "cf.json", S.COUNTERFACT)),  # multi-token answers
        "world": build_dataset(build_world(size="small"), "edit", "leaf", 4, 0),  # ksmith's own probes
    }
    tok = model.tokenizer
    adds_bos = tok.bos_token_id is not None and tok("x")["input_ids"][:1] == [tok.bos_token_id]
    # the tokenizer's own BOS convention, which ksmith's scorer follows too
    hflm = HFLM(pretrained=model.lm, tokenizer=tok, batch_size=16, device="cpu", add_bos_token=adds_bos)
    for label, ds in datasets.items():
        out = tmp_path / f"task-{label}"
        yaml_path, _ = export_dataset("lm-eval", ds, out)
        name = yaml_path.stem
        results = simple_evaluate(model=hflm, tasks=[name], task_manager=TaskManager(include_path=str(out)),
                                  log_samples=True)
        samples = results["samples"][name]
        lm_eval_choice = {s["doc"]["id"]: int(np.argmax([ll for ll, _ in s["filtered_resps"]])) for s in samples}
        ours = scorer.score(ds.probes, ["mcq"]).of("mcq")
        assert set(lm_eval_choice) == {p.id for p in ds.probes}, label
        differ = {pid: (lm_eval_choice[pid], ours[pid].choice) for pid in lm_eval_choice
                  if lm_eval_choice[pid] != ours[pid].choice}
        assert not differ, (label, differ)
        gold = {p.id: p.answer_after for p in ds.probes}
        acc = np.mean([lm_eval_choice[pid] == gold[pid] for pid in gold])
        assert results["results"][name]["acc,none"] == pytest.approx(acc)
