"""pytest-xdist workers share the cores instead of each starting one torch thread per core."""
from __future__ import annotations

import os

import torch

from fixtures.workers import share_cores_between_workers


def test_each_worker_gets_its_share_of_the_cores(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    try:
        share_cores_between_workers()
        share = max(1, (os.cpu_count() or 1) // 2)
        assert os.environ["OMP_NUM_THREADS"] == str(share)
        assert torch.get_num_threads() == share
    finally:
        torch.set_num_threads(before)


def test_an_explicit_thread_count_and_a_single_process_are_left_alone(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    share_cores_between_workers()
    assert os.environ["OMP_NUM_THREADS"] == "7" and torch.get_num_threads() == before
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT")
    share_cores_between_workers()
    assert "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() == before


def test_own_cpu_work_is_not_counted_as_others():
    import time

    from fixtures.workers import cpu_seconds, others_cpu_share

    since, t0 = cpu_seconds(), time.perf_counter()
    x = 0
    while time.perf_counter() - t0 < 0.5:  # keep one core busy in this very process
        x += 1
    share = others_cpu_share(since, time.perf_counter() - t0)
    # This process alone filled 1/cores of the machine; counted as "others" it would reach that.
    assert 0.0 <= share < 0.8 / (os.cpu_count() or 1)
