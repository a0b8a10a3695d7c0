"""Long ablation loops re-check their thread count (and only inside `threads()`)."""
from __future__ import annotations

import torch

import engine.intervention.runs as runs


def test_retune_sets_compute_threads_only_while_adaptive(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(runs, "compute_threads", lambda window=0.3: 1)
    try:
        torch.set_num_threads(2)
        runs.retune_threads(every=0.0)  # not adaptive: untouched
        assert torch.get_num_threads() == 2
        runs.adaptive_threads(True)
        runs.retune_threads(every=3600.0)  # adaptive, but checked less than an hour ago
        assert torch.get_num_threads() == 2
        runs.retune_threads(every=0.0)
        assert torch.get_num_threads() == 1
    finally:
        runs.adaptive_threads(False)
        torch.set_num_threads(before)


def test_threads_context_turns_adaptivity_on_and_off(monkeypatch):
    from evaluation.intervention_data import threads

    monkeypatch.setattr(runs, "compute_threads", lambda window=0.3: 1)
    with threads() as n:
        assert n == 1 and runs._RETUNE["on"]
    assert not runs._RETUNE["on"]
