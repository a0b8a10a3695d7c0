"""The activation cache: exact round trip, atomic writes, corruption detected and rebuilt."""
from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from engine.cache import ARRAYS_FILE, MANIFEST_FILE, ActivationCache, CacheKey


def _arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "mlp_mean": rng.standard_normal((6, 3, 17)).astype(np.float32),
        "n_tokens": rng.integers(1, 50, 6).astype(np.int64),
    }


KEY = CacheKey(model_identity="sha256:abc", tasks_sha256="t1", capture={"sparsity_threshold": 0.01})


def test_round_trip_is_exact(tmp_path):
    cache = ActivationCache(tmp_path)
    arrays = _arrays()
    cache.put(KEY, arrays, meta={"note": "x"})
    got, manifest = cache.get(KEY)
    assert set(got) == set(arrays)
    for name in arrays:
        assert got[name].dtype == arrays[name].dtype
        np.testing.assert_array_equal(got[name], arrays[name])
    assert manifest["meta"] == {"note": "x"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp dirs left


def test_key_parts_all_matter(tmp_path):
    cache = ActivationCache(tmp_path)
    cache.put(KEY, _arrays())
    for other in (CacheKey("sha256:abd", "t1", KEY.capture), CacheKey("sha256:abc", "t2", KEY.capture),
                  CacheKey("sha256:abc", "t1", {"sparsity_threshold": 0.02}),
                  CacheKey("sha256:abc", "t1", KEY.capture, format_version=KEY.format_version + 1)):
        assert other.digest() != KEY.digest()
        assert cache.get(other) is None


def test_disabled_cache_never_hits(tmp_path):
    ActivationCache(tmp_path).put(KEY, _arrays())
    assert ActivationCache(tmp_path, enabled=False).get(KEY) is None


@pytest.mark.parametrize("damage", ["truncate_data", "flip_byte", "bad_manifest", "no_manifest", "wrong_key"])
def test_corrupt_entry_is_reported_and_dropped(tmp_path, damage):
    cache = ActivationCache(tmp_path)
    entry = cache.put(KEY, _arrays())
    data, manifest = entry / ARRAYS_FILE, entry / MANIFEST_FILE
    if damage == "truncate_data":
        data.write_bytes(data.read_bytes()[:40])
    elif damage == "flip_byte":
        raw = bytearray(data.read_bytes())
        raw[-3] ^= 0xFF
        data.write_bytes(bytes(raw))
    elif damage == "bad_manifest":
        manifest.write_text("{not json")
    elif damage == "no_manifest":
        manifest.unlink()
    else:
        m = json.loads(manifest.read_text())
        m["key"]["tasks_sha256"] = "other"
        manifest.write_text(json.dumps(m))
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert cache.get(KEY) is None
    assert not entry.exists()
    assert any(e.startswith("corrupt") for e in cache.events)
    cache.put(KEY, _arrays())  # rebuilt
    got, _ = cache.get(KEY)
    np.testing.assert_array_equal(got["mlp_mean"], _arrays()["mlp_mean"])


def test_concurrent_writers_leave_one_valid_entry(tmp_path):
    errors = []

    def write(seed):
        try:
            ActivationCache(tmp_path).put(KEY, _arrays(0))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got, _ = ActivationCache(tmp_path).get(KEY)
    np.testing.assert_array_equal(got["n_tokens"], _arrays(0)["n_tokens"])


# --- a cache shared by several hosts (NFS): no file lock, rename + verification ------------------

def _hammer(root: str, worker: int, start, rounds: int, queue) -> None:
    """One process, posing as host `worker`: write the shared entry and its own, read both back."""
    import engine.cache as cache_module

    cache_module.HOST_TAG = f"{worker:08x}"  # another host's temporary names
    try:
        cache = cache_module.ActivationCache(root)
        own = CacheKey("sha256:abc", f"own-{worker}", KEY.capture)
        start.wait(timeout=60)
        bad = 0
        for _ in range(rounds):
            cache.put(KEY, _arrays(0))
            cache.put(own, _arrays(worker))
            for key, seed in ((KEY, 0), (own, worker)):
                hit = cache.get(key)
                if hit is None or not np.array_equal(hit[0]["mlp_mean"], _arrays(seed)["mlp_mean"]):
                    bad += 1
        queue.put((worker, bad, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        queue.put((worker, -1, repr(exc)))


def test_concurrent_writers_in_separate_processes_share_one_valid_entry(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    start, queue = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_hammer, args=(str(tmp_path), w, start, 8, queue)) for w in range(4)]
    for proc in workers:
        proc.start()
    start.set()
    results = sorted(queue.get(timeout=240) for _ in workers)
    for proc in workers:
        proc.join(timeout=60)
    assert results == [(w, 0, None) for w in range(4)]  # every read of every round: the exact arrays
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([KEY.digest()] + [CacheKey("sha256:abc", f"own-{w}", KEY.capture).digest()
                                             for w in range(4)])  # no temporaries, no lock files


def test_first_complete_entry_wins_and_is_never_overwritten(tmp_path):
    cache = ActivationCache(tmp_path)
    cache.put(KEY, _arrays(0))
    before = (tmp_path / KEY.digest() / ARRAYS_FILE).stat().st_ino
    cache.put(KEY, _arrays(1))  # a second writer of the same key: its copy is dropped
    got, _ = cache.get(KEY)
    np.testing.assert_array_equal(got["mlp_mean"], _arrays(0)["mlp_mean"])
    assert (tmp_path / KEY.digest() / ARRAYS_FILE).stat().st_ino == before  # readers' files untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_another_hosts_temporary_is_kept_while_young(tmp_path):
    import os
    import time

    import engine.cache as cache_module

    young = tmp_path / f".{KEY.digest()}.1.h{'0' * 8}.abc"
    old = tmp_path / f".{KEY.digest()}.1.h{'1' * 8}.def"
    for path in (young, old):
        path.mkdir()
        (path / ARRAYS_FILE).write_bytes(b"x")
    long_ago = time.time() - cache_module.REMOTE_TEMP_AGE_S - 60
    os.utime(old, (long_ago, long_ago))
    assert cache_module.HOST_TAG not in ("0" * 8, "1" * 8)
    ActivationCache(tmp_path)  # pid 1 runs here, but these are other hosts' pids: only age counts
    assert (young.exists(), old.exists()) == (True, False)
