"""What every intervention claim on one model shares: measured prompts, clean run, means, cache.

Contents
--------
InsufficientData  : too few prompts to evaluate a claim (an error, not a refutation).
InterventionData  : lazily built, computed once per model and task set:
                    - the answer target of each prompt (`engine.intervention.answer_metrics`),
                    - the clean run of every measured sequence (metrics, residual stream),
                    - the reference means for mean ablation (disk-cached),
                    - the user content's token offsets and their position-matched means,
                    - a disk cache for each claim's raw measurements.
threads           : context manager running torch with `compute_threads()` threads.

Row numbering follows `engine.activations`: rows 0..n-1 are side a (recall) of pairs
0..n-1, rows n..2n-1 side b (reasoning) of the same pairs.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from engine.cache import ActivationCache, CacheKey
from evaluation.result import InsufficientEvidence

if TYPE_CHECKING:
    import os

    from engine.activations import Activations
    from engine.intervention.ablation import PositionMeans, ReferenceMeans
    from engine.intervention.answer_metrics import AnswerTarget
    from engine.intervention.runner import Packed
    from engine.intervention.runs import CleanRun
    from engine.model.lazy import LazyModel
    from engine.progress import Step
    from tasks.taskset import Prompt, TaskSet


class InsufficientData(InsufficientEvidence):
    """Too few usable prompts: the claim cannot be decided on this model and task set
    ("inconclusive")."""


@contextmanager
def threads() -> Iterator[int]:
    """Run the block with `engine.intervention.runs.compute_threads()` torch threads,
    re-checked once a minute by the ablation loops (`engine.intervention.runs.retune_threads`)."""
    import torch

    from engine.intervention.runs import adaptive_threads, compute_threads

    before = torch.get_num_threads()
    n = compute_threads()
    torch.set_num_threads(n)
    adaptive_threads(True)
    try:
        yield n
    finally:
        adaptive_threads(False)
        torch.set_num_threads(before)


class InterventionData:
    """Shared inputs of the intervention claims on one model (a `LazyModel`) and task set.

    Parameters
    ----------
    model : engine.model.lazy.LazyModel
    taskset : tasks.taskset.TaskSet
    activations : engine.activations.Activations
        The captured activations (component selection reads them; nothing is recaptured).
    prompt_format : str
    cache : ActivationCache
    seed : int
    progress : bool
        Show progress bars for the long measurements.
    """

    def __init__(self, model: LazyModel, taskset: TaskSet, activations: Activations, *, prompt_format: str,
                 cache: ActivationCache, seed: int, progress: bool = True) -> None:
        self.model, self.taskset, self.activations = model, taskset, activations
        self.show_progress = progress
        self.prompt_format, self.cache, self.seed = prompt_format, cache, seed
        self.timings: dict[str, float] = {}

    @property
    def n_pairs(self) -> int:
        return len(self.taskset.pairs)

    @cached_property
    def prompts(self) -> list[Prompt]:
        from engine.activations import prompt_rows

        return prompt_rows(self.taskset)

    @cached_property
    def targets(self) -> tuple[list[AnswerTarget | None], dict[str, int]]:
        """`AnswerTarget` per row (None = not usable) and the counts of each filtering step."""
        from engine.capture import tokenize_prompts
        from engine.intervention.answer_metrics import answer_targets, greedy_tokens
        from tasks.formatting import format_prompt

        tok = self.model.tokenizer
        tokens = greedy_tokens(self.taskset, self.model, prompt_format=self.prompt_format, cache=self.cache)
        texts = [format_prompt(p.text, tok, self.prompt_format) for p in self.prompts]
        ids = tokenize_prompts(tok, texts, add_special_tokens=self.prompt_format == "plain")
        return answer_targets(self.prompts, ids, tokens, tok)

    @cached_property
    def measured_rows(self) -> np.ndarray:
        """Rows whose answer was located in a correct greedy completion."""
        return np.array([i for i, t in enumerate(self.targets[0]) if t is not None], dtype=int)

    @property
    def pad_id(self) -> int:
        tok = self.model.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else 0

    @cached_property
    def clean(self) -> tuple[Packed, CleanRun, np.ndarray]:
        """``(packed, clean_run, targets)`` over `measured_rows` (in that order)."""
        import time

        import torch

        from engine.intervention.runner import pack
        from engine.intervention.runs import clean_run

        if not len(self.measured_rows):
            raise InsufficientData(f"no prompt's greedy answer is correct ({self.targets[1]}): "
                                   "nothing to intervene on")
        model = self.model.model
        start = time.perf_counter()
        chosen = [self.targets[0][i] for i in self.measured_rows]
        # The shared prefix stops before the first content token: content-position ablations
        # (`content_offsets`) must find every content token in the suffix columns.
        first_content = min(int(np.argmax(o >= 0)) for o in self.content_offsets)
        packed = pack([list(t.ids) for t in chosen], self.pad_id, max_prefix=first_content)
        targets = torch.tensor([t.target for t in chosen], dtype=torch.long)
        with threads(), self.progress("clean runs", len(chosen), unit="prompt"):
            run = clean_run(model, packed, targets)
        self.timings["clean run"] = time.perf_counter() - start
        return packed, run, targets.numpy()

    @cached_property
    def content_offsets(self) -> list[np.ndarray]:
        """Per measured row, `engine.intervention.content.content_offsets` of its sequence
        (prompt + lead-in): the user content's tokens counted back from its last (-1 elsewhere)."""
        from engine.intervention.content import content_offsets
        from tasks.formatting import content_token_spans

        chosen = [self.targets[0][i] for i in self.measured_rows]
        spans = content_token_spans(self.model.tokenizer, [self.prompts[t.row].text for t in chosen],
                                    self.prompt_format)
        return [content_offsets(len(t.ids), span) for t, span in zip(chosen, spans)]

    @cached_property
    def position_means(self) -> PositionMeans:
        """Position-matched means of the content tokens of every measured prompt (both sides,
        prompt tokens only; `engine.intervention.ablation.position_means`), disk-cached."""
        import time

        from engine.intervention.ablation import PositionMeans, position_means

        chosen = [self.targets[0][i] for i in self.measured_rows]
        seqs = [list(t.ids[:t.n_prompt]) for t in chosen]
        offsets = [o[:t.n_prompt] for o, t in zip(self.content_offsets, chosen)]

        def compute() -> dict[str, np.ndarray]:
            start = time.perf_counter()
            with threads(), self.progress("position-matched content means", len(seqs), unit="prompt"):
                means = position_means(self.model.model, seqs, offsets, pad_id=self.pad_id)
            self.timings["position means"] = time.perf_counter() - start
            return means.arrays()

        arrays, _ = self.cached("h5_position_means", {"seqs": seqs, "offsets": [o.tolist() for o in offsets]},
                                compute)
        return PositionMeans.from_arrays(arrays)

    @cached_property
    def clean_top1(self) -> np.ndarray:
        """bool per measured row: the clean model's top-1 token is the target (disk-cached, so a
        warm run decides which prompts are usable without loading the weights)."""
        spec = {"sequences": [(self.targets[0][i].ids, self.targets[0][i].target) for i in self.measured_rows]}
        arrays, _ = self.cached("h5_clean_top1", spec,
                                lambda: {"top1": self.clean[1].metrics.top1.astype(np.int8)})
        return arrays["top1"].astype(bool)

    @cached_property
    def usable(self) -> np.ndarray:
        """bool [2n]: the prompt's answer is located and the clean model's top-1 token is it."""
        ok = np.zeros(2 * self.n_pairs, dtype=bool)
        if len(self.measured_rows):
            ok[self.measured_rows] = self.clean_top1
        return ok

    def counts(self) -> dict[str, int]:
        """How many prompts each filtering step keeps, per side."""
        if not len(self.measured_rows):
            raise InsufficientData(f"no prompt's greedy answer is correct ({self.targets[1]}): "
                                   "nothing to intervene on")
        base = self.targets[1]
        n = self.n_pairs
        ok = self.usable
        correct = np.array([t is not None for t in self.targets[0]])
        return {"prompts": base["prompts"], "greedy_correct": base["greedy_correct"],
                "answer_located": base["located"], "clean_top1": int(ok.sum()),
                "usable_recall": int(ok[:n].sum()), "usable_reasoning": int(ok[n:].sum()),
                "located_recall": int(correct[:n].sum()), "located_reasoning": int(correct[n:].sum())}

    @cached_property
    def means(self) -> ReferenceMeans:
        import time

        from engine.intervention.ablation import get_reference_means

        start = time.perf_counter()
        with threads(), self.progress("reference means for ablation", len(self.prompts), unit="prompt"):
            means = get_reference_means(self.taskset, self.model, prompt_format=self.prompt_format,
                                        cache=self.cache)
        self.timings["reference means"] = time.perf_counter() - start
        return means

    def progress(self, desc: str, total: int, *, unit: str = "run") -> AbstractContextManager[Step]:
        """A `engine.progress.step` (tqdm-like ``update(n)``, ``n``; silent with
        ``progress=False``) for a long measurement."""
        from engine.progress import step

        return step(f"{desc} ({self.model.name})", total=total, unit=unit, enabled=self.show_progress)

    def cached(self, kind: str, spec: dict, compute: Callable[[], dict[str, np.ndarray]]) -> tuple[dict, str]:
        """Raw measurements of a claim from the disk cache, else `compute()` (then stored).

        `spec` must hold everything that changes the numbers (claim file hash, conditions, rows);
        returns ``(arrays, "hit" | "miss")``.
        """
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
        key = CacheKey(model_identity=self.model.identity, tasks_sha256=self.taskset.sha256,
                       capture={"kind": kind, "spec": digest, "prompt_format": self.prompt_format,
                                **self.model.capture_fields()})
        hit = self.cache.get(key)
        if hit is not None:
            return hit[0], "hit"
        arrays = compute()
        self.cache.put(key, arrays, meta={"model": self.model.name, "kind": kind})
        return arrays, "miss"


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes (claim files are part of the measurement cache keys)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()
