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
