"""check_runner: the runner must match the model's own forward pass, to the precision its dtype allows."""
from __future__ import annotations

import pytest
import torch

from engine.intervention import runner
from engine.model.tiny import build_tiny_model


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_runner_passes_in_every_dtype(dtype):
    runner.check_runner(build_tiny_model(seed=0).to(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_wrong_runner_fails_in_every_dtype(monkeypatch, dtype):
    # A runner that skips the final norm computes other logits: an error of the order of the logits,
    # far above the dtype's rounding floor (HF's own incremental decoding vs its full forward).
    model = build_tiny_model(seed=0).to(dtype)
    monkeypatch.setattr(runner, "final_logits", lambda m, h: m.get_output_embeddings()(h).float())
    with pytest.raises(RuntimeError, match="differs from the model's forward pass"):
        runner.check_runner(model)


def test_the_rounding_floor_is_a_rounding_error():
    # On a 7B-size model in bfloat16 on a GPU the floor was 0.20-0.23 (logits up to ~5.5); on the
    # tiny model on a CPU it is far smaller, and in float32 it is at the level of float32 rounding.
    model = build_tiny_model(seed=0)
    ids = list(range(5, 17))
    with torch.inference_mode():
        fp32 = runner._incremental_floor(model, ids, split=4)
        bf16 = runner._incremental_floor(model.to(torch.bfloat16), ids, split=4)
    assert 0.0 <= fp32 < 1e-4 and 0.0 <= bf16 < 0.1
