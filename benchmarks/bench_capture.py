"""Benchmark the activation capture against plain forwards and the FLOP limit.

Per model, in one run (every figure is the best of ``--repeats`` interleaved runs):
  1. plain HF forward, one prompt at a time: ``model(**inputs)`` with logits, eager attention;
  2. plain HF forward with the capture's own batching (`engine.capture.plan_batches`, left
     padding, explicit position ids, full ``model(...)`` call with logits), eager; for
     reference also SDPA attention and the decoder stack alone (no LM head, no hooks);
  3. the capture pass, `engine.capture.capture_activations`;
  4. ratios: capture / plain batched (target <= 1.05), capture / plain one-by-one;
  5. the FLOP limit: analytic forward matmul FLOPs of the capture (q, k, v, o projections,
     attention scores and values over the real, unpadded lengths, MLP gate/up/down; no LM
     head) over matmul rates measured in the same run with ``F.linear`` on the model's own
     shapes (target: capture <= 1.5x the limit);
  6. warm session start: a fresh Python process imports the suite, resolves the model
     identity, resolves the prompt format and formats the prompts through the tokenizer memo,
     and reads the activations through `get_activations` from a temporary activation cache
     filled in this run (tokenizer memo included) (the converted
     model comes from the real `engine.model.loading.cache_root()`); target < 3 s wall time.

All forwards run under ``torch.inference_mode()`` in float32 on the CPU with ``use_cache=False``
(as the capture does). Nothing is asserted: the script prints figures, targets and PASS/MISS.

The machine is shared. At start the script waits (polling every 20 s, up to ``--max-wait`` s)
for the 1-minute load average to fall to ``--max-load``. Before every timed run it waits (up
to ``--pass-wait`` s) until other processes use under 10% of the CPUs, and it records the
share of the CPUs that other processes used *during* each run (from /proc/stat minus this
process's own CPU time). A best run with more than 25% is flagged ``contended`` and re-run
(up to ``--extra-runs`` times): with 2 OpenMP threads on 2 cores, a competing process can
slow many small kernels by far more than its share.

Usage: ``python benchmarks/bench_capture.py [--models smollm2,qwen0.5b] [--tasks core]
[--repeats 2] [--no-sdpa] [--max-load 1.5] [--max-wait 600] [--pass-wait 60]``
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_VS_BATCHED = 1.05
TARGET_VS_FLOP_LIMIT = 1.5
TARGET_WARM_START_S = 3.0
QUIET_SHARE = 0.10      # others' CPU share under which a run may start
CONTENDED_SHARE = 0.25  # others' CPU share during a run above which its time is flagged

# Run in a fresh interpreter: everything a warm pytest session does before a test needs numbers.
WARM_START_CODE = r"""
import json, sys, time
t0 = time.perf_counter()
phases = {}
def mark(name):
    phases[name] = time.perf_counter() - t0
from engine.activations import get_activations
from engine.cache import ActivationCache
from engine.model.lazy import LazyModel
from tasks.loader import load_tasks
mark("import suite")
model = LazyModel(sys.argv[1])
model.identity
mark("identity")
taskset = load_tasks(sys.argv[2])
mark("tasks")
cache = ActivationCache(sys.argv[3])
memo = model.tokenizer_memo(cache)
prompt_format = memo.resolve_format("auto")  # as the suite's prompt_format fixture does
mark("prompt format")
acts = get_activations(taskset, model, prompt_format=prompt_format, cache=cache, progress=False)
mark("get_activations")
print(json.dumps({"phases": phases, "cache": acts.meta["cache"], "model_loaded": model.is_loaded,
                  "tokenizer_loaded": memo.tokenizer_loaded, "torch_imported": "torch" in sys.modules}))
"""


def pass_miss(ok: bool) -> str:
    return "PASS" if ok else "MISS"


# ---------------------------------------------------------------- contention-aware timing

@dataclass(frozen=True)
class Timing:
    """One timed run: wall seconds and the share of all CPUs used by other processes meanwhile."""

    seconds: float
    others: float

    @property
    def contended(self) -> bool:
        return self.others > CONTENDED_SHARE

    def __str__(self) -> str:
        return f"{self.seconds:.2f} ({self.others:.0%})"


def measure(fn: Callable[[], Any]) -> tuple[Timing, Any]:
    from engine.cpu_share import cpu_seconds, others_cpu_share

    gc.collect()
    since, t0 = cpu_seconds(), time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    return Timing(wall, others_cpu_share(since, wall)), result


def others_share(window: float = 1.0) -> float:
    """Share of all CPUs used by other processes over the next `window` seconds."""
    from engine.cpu_share import cpu_seconds, others_cpu_share

    since = cpu_seconds()
    time.sleep(window)
    return others_cpu_share(since, window)


def await_quiet(budget: float) -> float:
    """Wait until others use < QUIET_SHARE of the CPUs (at most `budget` s); return the wait."""
    t0 = time.monotonic()
    while others_share() > QUIET_SHARE and time.monotonic() - t0 < budget:
        time.sleep(4.0)
    return time.monotonic() - t0


def wait_for_load(max_load: float, max_wait: float, poll: float = 20.0) -> str:
    """Wait until the 1-minute load average is <= `max_load`; say what happened."""
    start = time.monotonic()
    load = os.getloadavg()[0]
    if load <= max_load:
        return f"1-min load {load:.2f} <= {max_load}: measuring now"
    print(f"  1-min load {load:.2f} > {max_load}: waiting (poll every {poll:.0f} s, "
          f"up to {max_wait:.0f} s)", flush=True)
    while load > max_load and time.monotonic() - start < max_wait:
        time.sleep(poll)
        load = os.getloadavg()[0]
        print(f"    t={time.monotonic() - start:4.0f} s  load {load:.2f}", flush=True)
    waited = time.monotonic() - start
    if load > max_load:
        return (f"waited {waited:.0f} s, load still {load:.2f} > {max_load}: measuring anyway "
                f"(see the others' CPU share printed next to each time)")
    return f"waited {waited:.0f} s for 1-min load {load:.2f} <= {max_load}"


# ---------------------------------------------------------------- FLOPs and matmul rate

def forward_flops(info: dict[str, Any], lengths: np.ndarray, *, lm_head: bool = False) -> dict[str, float]:
    """Matmul FLOPs (2 per multiply-add) of a forward pass over prompts of `lengths` tokens.

    Per token and layer: q and o projections ``2 * d * H * E`` each, k and v ``2 * d * KV * E``
    each, MLP gate, up, down ``2 * d * N`` each; per prompt of n tokens and layer, attention
    scores and weighted values ``2 * n^2 * H * E`` each (the full square, as eager attention
    computes it). The LM head adds ``2 * d * vocab`` per token. Elementwise work is not counted.
    """
    d, n_layers, n_heads = info["d_model"], info["n_layers"], info["n_heads"]
    kv, e, n_mlp = info["n_kv_heads"], info["head_dim"], info["d_mlp"]
    tokens = float(lengths.sum())
    square = float((lengths.astype(np.float64) ** 2).sum())
    out = {
        "q,o proj": n_layers * tokens * 2 * (2 * d * n_heads * e),
        "k,v proj": n_layers * tokens * 2 * (2 * d * kv * e),
        "attention": n_layers * square * 2 * (2 * n_heads * e),
        "mlp": n_layers * tokens * 3 * (2 * d * n_mlp),
    }
    if lm_head:
        out["lm head"] = tokens * 2 * d * info["vocab"]
    return out


def best_seconds(fn: Callable[[], Any], repeats: int) -> float:
    """Fastest of `repeats` timed calls of `fn`, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def linear_rates(info: dict[str, Any], m_tokens: int, *, repeats: int = 5) -> dict[str, float]:
    """FLOP/s of ``F.linear`` (what ``nn.Linear`` runs) on the model's own projection shapes.

    `m_tokens` rows, float32, best of `repeats` after one warm-up call; keys as in
    :func:`forward_flops`. Attention gets the FLOP-weighted mean rate of the projections (its
    per-head matmuls are smaller and slower, so this keeps the limit optimistic).
    """
    import torch
    import torch.nn.functional as F

    d, n_heads, kv, e, n_mlp = (info["d_model"], info["n_heads"], info["n_kv_heads"],
                                info["head_dim"], info["d_mlp"])
    shapes = {  # name -> (in_features, out_features) of each matmul
        "q,o proj": [(d, n_heads * e), (n_heads * e, d)],
        "k,v proj": [(d, kv * e), (d, kv * e)],
        "mlp": [(d, n_mlp), (d, n_mlp), (n_mlp, d)],
        "lm head": [(d, info["vocab"])],
    }
    gen = torch.Generator().manual_seed(0)
    rates = {}
    with torch.inference_mode():
        for name, pairs in shapes.items():
            flops, seconds = 0.0, 0.0
            for fan_in, fan_out in pairs:
                x = torch.randn(m_tokens, fan_in, generator=gen)
                w = torch.randn(fan_out, fan_in, generator=gen)
                flops += 2.0 * m_tokens * fan_in * fan_out
                seconds += best_seconds(lambda x=x, w=w: F.linear(x, w), repeats)
            rates[name] = flops / seconds
    per_token = forward_flops(info, np.array([1]))
    proj = ("q,o proj", "k,v proj", "mlp")
    rates["attention"] = sum(per_token[k] for k in proj) / sum(per_token[k] / rates[k] for k in proj)
    return rates


def square_matmul_rate(n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of one float32 ``torch.matmul`` of two n x n matrices (machine reference)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2.0 * n ** 3 / best_seconds(lambda: torch.matmul(a, b), repeats)


# ---------------------------------------------------------------- the passes

@dataclass
class Prepared:
    texts: list[str]
    seqs: list[list[int]]
    lengths: np.ndarray
    batches: list[np.ndarray]
    pad_id: int
    add_special_tokens: bool
    prompt_format: str


def prepare(loaded: Any, taskset: Any, config: Any) -> Prepared:
    """Formatted prompts, token ids and the capture's batches, as `get_activations` makes them."""
    from engine.activations import prompt_rows
    from engine.capture import plan_batches, tokenize_prompts
    from tasks.formatting import format_prompt, resolve_prompt_format

    tok = loaded.tokenizer
    prompt_format = resolve_prompt_format("auto", tok)  # the suite's default
    texts = [format_prompt(p.text, tok, prompt_format) for p in prompt_rows(taskset)]
    add_special = prompt_format == "plain"
    seqs = tokenize_prompts(tok, texts, add_special_tokens=add_special)
    lengths = np.array([len(s) for s in seqs])
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    return Prepared(texts, seqs, lengths, plan_batches(lengths, config), pad_id, add_special, prompt_format)


def batched_inputs(prep: Prepared) -> list[dict[str, Any]]:
    """The capture's batches as model inputs: left padding, mask, explicit position ids."""
    from engine.capture import left_pad

    out = []
    for rows in prep.batches:
        ids, mask, positions = left_pad([prep.seqs[i] for i in rows], prep.pad_id)
        out.append({"input_ids": ids, "attention_mask": mask, "position_ids": positions})
    return out


def run_forwards(module: Any, inputs: list[dict[str, Any]]) -> None:
    import torch

    with torch.inference_mode():
        for item in inputs:
            module(**item, use_cache=False)


class PreloadedModel:
    """The part of `engine.model.lazy.LazyModel` that `get_activations` uses, over a loaded model.

    Lets this script fill the temporary activation cache with the model it already holds,
    under exactly the key a fresh ``LazyModel(alias)`` computes.
    """

    def __init__(self, lazy: Any, loaded: Any) -> None:
        self._lazy = lazy
        self.name, self.identity = lazy.name, lazy.identity
        self.tokenizer, self.model = loaded.tokenizer, loaded.model
        self.is_loaded = True

    def capture_fields(self) -> dict[str, str]:
        return self._lazy.capture_fields()

    def tokenizer_memo(self, cache: Any) -> Any:
        return self._lazy.tokenizer_memo(cache)


def warm_start(alias: str, tasks: str, cache_dir: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", WARM_START_CODE, alias, tasks, cache_dir],
                          check=False, cwd=REPO, env={**os.environ, "TQDM_DISABLE": "1"},
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Runner:
    """Times named passes, interleaved over repeats, waiting for a quiet machine before each."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.timings: dict[str, list[Timing]] = {}
        self.results: dict[str, list[Any]] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> None:
        await_quiet(self.args.pass_wait)
        timing, result = measure(fn)
        self.timings.setdefault(name, []).append(timing)
        self.results.setdefault(name, []).append(result)

    def best(self, name: str) -> Timing:
        return min(self.timings[name], key=lambda t: t.seconds)

    def rerun_contended(self, passes: dict[str, Callable[[], Any]]) -> None:
        for name, fn in passes.items():
            for _ in range(self.args.extra_runs):
                if not self.best(name).contended:
                    break
                self.run(name, fn)


# ---------------------------------------------------------------- one model

def bench_model(alias: str, taskset: Any, args: argparse.Namespace) -> dict[str, Any]:
    from engine.activations import get_activations
    from engine.cache import ActivationCache
    from engine.capture import CaptureConfig, capture_activations
    from engine.model.lazy import LazyModel
    from engine.model.loading import load_model

    config = CaptureConfig()
    loaded = load_model(alias, device="cpu", dtype="float32", attn_implementation="eager")
    model, info, tok = loaded.model, loaded.info, loaded.tokenizer
    decoder = model.get_decoder()
    prep = prepare(loaded, taskset, config)
    padded = [len(b) * int(prep.lengths[b].max()) for b in prep.batches]
    print(f"\n=== {alias}: {info['architecture']}, {info['n_layers']} layers, {info['n_heads']} heads "
          f"({info['n_kv_heads']} kv), d_model {info['d_model']}, {info['d_mlp']} neurons, "
          f"vocab {info['vocab']}; loaded in {loaded.load_seconds:.1f} s", flush=True)
    print(f"    {len(prep.seqs)} prompts ({prep.prompt_format} format), {prep.lengths.sum()} tokens "
          f"(length {prep.lengths.min()}-{prep.lengths.max()}); capture batching: "
          f"{[len(b) for b in prep.batches]} prompts per batch, {sum(padded)} padded tokens "
          f"({sum(padded) / prep.lengths.sum() - 1:.1%} padding)", flush=True)

    one_inputs = [dict(tok(t, return_tensors="pt", add_special_tokens=prep.add_special_tokens))
                  for t in prep.texts]
    b_inputs = batched_inputs(prep)
    run_forwards(model, [b_inputs[0], one_inputs[0]])  # warm-up: first-call allocations

    def sdpa_batched() -> None:
        model.set_attn_implementation("sdpa")
        try:
            run_forwards(model, b_inputs)
        finally:
            model.set_attn_implementation("eager")

    ONE, BATCHED, SDPA = "plain, one prompt at a time", "plain, capture batching", "plain, capture batching, SDPA"
    DECODER, CAPTURE, RATE = "decoder only, capture batching", "capture_activations", "F.linear rates"
    passes: dict[str, Callable[[], Any]] = {
        ONE: lambda: run_forwards(model, one_inputs),
        BATCHED: lambda: run_forwards(model, b_inputs),
        DECODER: lambda: run_forwards(decoder, b_inputs),
        CAPTURE: lambda: capture_activations(model, tok, prep.texts, config=config, progress=False,
                                             add_special_tokens=prep.add_special_tokens),
        RATE: lambda: linear_rates(info, m_tokens=int(np.median(padded))),
    }
    if args.sdpa:
        passes[SDPA] = sdpa_batched
    runner = Runner(args)
    for repeat in range(args.repeats):
        for name, fn in passes.items():
            runner.run(name, fn)
        print(f"    repeat {repeat + 1}/{args.repeats} done (1-min load {os.getloadavg()[0]:.2f})", flush=True)
    runner.rerun_contended(passes)
    rates = {k: max(r[k] for r in runner.results[RATE]) for k in runner.results[RATE][0]}

    # Warm start: fill a temporary activation cache the way the suite does, then read it back
    # from fresh processes that never load the weights.
    with tempfile.TemporaryDirectory(prefix="bench-capture-cache-") as tmp:
        lazy = LazyModel(alias)
        lazy.tokenizer_memo(ActivationCache(tmp)).resolve_format("auto")  # as a first session does
        fill, _ = measure(lambda: get_activations(taskset, PreloadedModel(lazy, loaded),
                                                  prompt_format=prep.prompt_format,
                                                  cache=ActivationCache(tmp), progress=False))
        start = {"warm start": lambda: warm_start(alias, args.tasks, tmp)}
        for _ in range(args.warm_repeats):
            runner.run("warm start", start["warm start"])
        runner.rerun_contended(start)

    best = {name: runner.best(name) for name in runner.timings if name != RATE}
    cap, batched, one, dec = best[CAPTURE], best[BATCHED], best[ONE], best[DECODER]
    flops = forward_flops(info, prep.lengths)
    limit = sum(flops[k] / rates[k] for k in flops)
    lm_head = forward_flops(info, prep.lengths, lm_head=True)["lm head"]
    padded_limit = sum(forward_flops(info, np.repeat(prep.lengths[b].max(), len(b)))[k] / rates[k]
                       for b in prep.batches for k in flops)

    def flag(*ts: Timing) -> str:
        return "  (contended)" if any(t.contended for t in ts) else ""

    print(f"    {'pass (eager attention unless noted)':40s} {'best s':>7s}  all runs: s (others' CPU share)")
    for name in [ONE, BATCHED, SDPA, DECODER, CAPTURE]:
        if name in best:
            print(f"    {name:40s} {best[name].seconds:7.2f}  "
                  f"{', '.join(str(t) for t in runner.timings[name])}{flag(best[name])}")
    print(f"    {'get_activations, cold (capture + write)':40s} {fill.seconds:7.2f}  {fill}{flag(fill)}")
    print(f"    {'ratio':40s} {'value':>7s}  target")
    r = cap.seconds / batched.seconds
    print(f"    {'capture / plain batched':40s} {r:7.2f}  <= {TARGET_VS_BATCHED}  "
          f"{pass_miss(r <= TARGET_VS_BATCHED)}{flag(cap, batched)}")
    print(f"    {'capture / plain one-by-one':40s} {cap.seconds / one.seconds:7.2f}{flag(cap, one)}")
    print(f"    {'capture / decoder only (= hook cost)':40s} {cap.seconds / dec.seconds:7.2f}{flag(cap, dec)}")
    print(f"    {'plain batched / plain one-by-one':40s} {batched.seconds / one.seconds:7.2f}")
    if SDPA in best:
        print(f"    {'plain batched, SDPA / eager':40s} {best[SDPA].seconds / batched.seconds:7.2f}")
    print(f"    FLOP count: {sum(flops.values()) / 1e9:.0f} GFLOP = "
          + " + ".join(f"{k} {v / 1e9:.0f}" for k, v in flops.items())
          + f" (the LM head of a plain forward adds {lm_head / 1e9:.0f})")
    print(f"    F.linear rates at {int(np.median(padded))} rows, GFLOP/s (best of {args.repeats}): "
          + ", ".join(f"{k} {rates[k] / 1e9:.0f}" for k in ("q,o proj", "k,v proj", "mlp", "lm head")))
    print(f"    {'FLOP limit, s (with padding)':40s} {limit:7.2f}  ({padded_limit:.2f})")
    r = cap.seconds / limit
    print(f"    {'capture / FLOP limit':40s} {r:7.2f}  <= {TARGET_VS_FLOP_LIMIT}   "
          f"{pass_miss(r <= TARGET_VS_FLOP_LIMIT)}{flag(cap)}")
    print(f"    {'decoder only / FLOP limit':40s} {dec.seconds / limit:7.2f}")
    print(f"    {'plain batched / FLOP limit with LM head':40s} "
          f"{batched.seconds / (limit + lm_head / rates['lm head']):7.2f}")
    starts = list(zip(runner.timings["warm start"], runner.results["warm start"]))
    for i, (timing, detail) in enumerate(starts, 1):
        phases, steps, prev = detail.get("phases", {}), [], 0.0
        for k, v in phases.items():
            steps.append(f"{k} {v - prev:.2f}")
            prev = v
        extra = (f"cache {detail.get('cache')}, weights loaded {detail.get('model_loaded')}, "
                 f"tokenizer loaded {detail.get('tokenizer_loaded')}, "
                 f"torch imported {detail.get('torch_imported')}") if phases else f"FAILED: {detail}"
        print(f"    warm start {i}: {timing} s: {', '.join(steps)}; the rest is interpreter "
              f"start and exit [{extra}]")
    warm = runner.best("warm start")
    warm_ok = all(d.get("cache") == "hit" and not d.get("model_loaded") and not d.get("tokenizer_loaded")
                  for _, d in starts)
    print(f"    {'warm session start, s':40s} {warm.seconds:7.2f}  < {TARGET_WARM_START_S}     "
          f"{pass_miss(warm.seconds < TARGET_WARM_START_S and warm_ok)}{flag(warm)}")
    return {"alias": alias, "capture": cap, "batched": batched, "one": one, "limit": limit,
            "warm": warm, "warm_ok": warm_ok}


# ---------------------------------------------------------------- main

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    def positive(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
        return value

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="smollm2,qwen0.5b",
                   help="comma-separated --model values (default: smollm2,qwen0.5b)")
    p.add_argument("--tasks", default="core", help="task set name or file (default: core)")
    p.add_argument("--repeats", type=positive, default=2,
                   help="timed runs of each pass, interleaved; best reported (default: 2)")
    p.add_argument("--extra-runs", type=int, default=2,
                   help="further runs of a pass whose best run was contended (default: 2)")
    p.add_argument("--warm-repeats", type=positive, default=2,
                   help="warm-start subprocesses per model, best reported (default: 2)")
    p.add_argument("--no-sdpa", dest="sdpa", action="store_false",
                   help="skip the SDPA reference forward (default: run it)")
    p.add_argument("--max-load", type=float, default=1.5,
                   help="at start, wait while the 1-minute load average is above this (default: 1.5)")
    p.add_argument("--max-wait", type=float, default=600.0,
                   help="longest wait for that load at start, s (default: 600)")
    p.add_argument("--pass-wait", type=float, default=60.0,
                   help="longest wait for a quiet machine before each timed run, s (default: 60)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    t0 = time.perf_counter()
    import torch
    import transformers

    from tasks.loader import load_tasks

    t_import = time.perf_counter() - t0
    taskset = load_tasks(args.tasks)
    print(f"bench_capture: torch {torch.__version__}, transformers {transformers.__version__}, "
          f"python {sys.version.split()[0]} (imports {t_import:.1f} s)")
    print(f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, load average "
          f"1/5/15 min {' / '.join(f'{x:.2f}' for x in os.getloadavg())}, others' CPU share now "
          f"{others_share():.0%}")
    print(f"task set {taskset.name!r}: {len(taskset.pairs)} pairs; best of {args.repeats} runs; "
          f"a run with > {CONTENDED_SHARE:.0%} of the CPUs used by others is flagged")
    print("start: " + wait_for_load(args.max_load, args.max_wait), flush=True)
    await_quiet(args.pass_wait)
    print(f"reference: torch.matmul float32 2048 x 2048 x 2048: {square_matmul_rate() / 1e9:.0f} GFLOP/s")

    results = [bench_model(alias.strip(), taskset, args)
               for alias in args.models.split(",") if alias.strip()]

    print(f"\n=== summary: seconds (best run); targets capture <= {TARGET_VS_BATCHED}x plain batched, "
          f"<= {TARGET_VS_FLOP_LIMIT}x FLOP limit, warm start < {TARGET_WARM_START_S:.0f} s")
    print(f"{'model':10s} {'one-by-one':>10s} {'batched':>8s} {'capture':>8s} {'FLOP lim':>8s}  "
          f"{'capture/batched':>15s}  {'capture/limit':>13s}  {'warm start':>10s}")
    for r in results:
        vs_b = r["capture"].seconds / r["batched"].seconds
        vs_l = r["capture"].seconds / r["limit"]
        print(f"{r['alias']:10s} {r['one'].seconds:10.2f} {r['batched'].seconds:8.2f} "
              f"{r['capture'].seconds:8.2f} {r['limit']:8.2f}  "
              f"{vs_b:10.2f} {pass_miss(vs_b <= TARGET_VS_BATCHED)}  "
              f"{vs_l:8.2f} {pass_miss(vs_l <= TARGET_VS_FLOP_LIMIT)}  "
              f"{r['warm'].seconds:5.2f} {pass_miss(r['warm'].seconds < TARGET_WARM_START_S and r['warm_ok'])}")
    contended = [r["alias"] for r in results
                 if any(r[k].contended for k in ("one", "batched", "capture", "warm"))]
    if contended:
        print(f"contended figures (others used > {CONTENDED_SHARE:.0%} of the CPUs in the best run): "
              f"{', '.join(contended)}; re-run on a quieter machine")
    print(f"load average at end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
