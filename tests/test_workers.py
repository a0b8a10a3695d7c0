"""pytest-xdist workers share the cores instead of each starting one torch thread per core."""
from __future__ import annotations

import os

import pytest
import torch

from engine.cpu_share import share_cores_between_workers


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
    # Readings as /proc/stat and os.times() give them: over 0.5 s on 2 cores the machine was busy
    # 0.7 CPU-s, 0.5 of them this process's own: others used 0.2 / (0.5 * 2) = 20%.
    from engine.cpu_share import others_cpu_share

    since, now = (1000.0, 10.0), (1000.7, 10.5)
    assert others_cpu_share(since, 0.5, now=now, cores=2) == pytest.approx(0.2)
    # all of the machine's work was ours: nothing is counted as others'
    assert others_cpu_share(since, 0.5, now=(1000.5, 10.5), cores=2) == 0.0
    # clock-tick rounding can make own > machine: never negative, never above 1
    assert others_cpu_share(since, 0.5, now=(1000.4, 10.5), cores=2) == 0.0
    assert others_cpu_share(since, 0.5, now=(1003.0, 10.0), cores=2) == 1.0


def test_a_live_reading_is_a_share():
    import time

    from engine.cpu_share import cpu_seconds, others_cpu_share

    since, t0 = cpu_seconds(), time.perf_counter()
    while time.perf_counter() - t0 < 0.05:
        pass
    assert 0.0 <= others_cpu_share(since, time.perf_counter() - t0) <= 1.0
