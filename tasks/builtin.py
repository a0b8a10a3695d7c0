"""The built-in task sets, by name.

Contents
--------
DATA_DIR        : ``tasks/data/``, where the shipped YAML files live.
BUILTIN_SETS    : name -> one-line description, for help texts and error messages.
builtin_taskset : build (once, then cached) the set with a given name.

=============================  ============================================================
name                           sides (a vs b)
=============================  ============================================================
core                           recall vs reasoning, hand-written (``data/core.yaml``)
extended                       recall vs reasoning, generated from ``data/facts/*.csv``
surface-recall                 recall vs recall with varied filler (core; control)
surface-reasoning              reasoning vs reasoning reworded (``data/surface-reasoning.yaml``)
surface-recall-extended        as surface-recall, on the extended set
surface-reasoning-extended     as surface-reasoning, generated for the extended set
factorial-hops-closed          closed-book one-hop vs two-hop (``tasks.factorial``)
factorial-book-onehop          one-hop closed-book vs open-book (``tasks.factorial``)
factorial-study                closed-book one-hop vs open-book two-hop (``tasks.factorial``)
factorial                      = factorial-hops-closed (every item: >= 200 per cell)
factorial250-hops-closed       closed-book one-hop vs two-hop on 250 items (F1-F3's set)
factorial250-hops-open         open-book one-hop vs two-hop on the same 250 items
factorial250-book-onehop       one-hop closed-book vs open-book on the same 250 items
=============================  ============================================================

The ``factorial250-*`` sets are one family-stratified subsample (`tasks.factorial.subsample`,
seed 0) of the factorial: F1-F3 capture ~500 prompts per set instead of ~1,600.

The built-in ``surface-recall`` sets pad by whitespace words (no tokenizer is known at
import time). For a filler difference measured in a model's own tokens, call
``tasks.filler.filler_contrast(load_tasks("core"), count_tokens, seed=...)``.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

from tasks.factorial import FactorialSet, generate_factorial, named_contrast, subsample
from tasks.filler import count_words, filler_contrast
from tasks.generate import generate_extended, generate_surface_reasoning
from tasks.loader import load_task_file
from tasks.taskset import TaskSet

DATA_DIR = Path(__file__).resolve().parent / "data"

# Seed of the built-in sets; a different seed is a different set (and sha256).
BUILTIN_SEED = 0


def _core() -> TaskSet:
    return load_task_file(DATA_DIR / "core.yaml")


def _surface_recall(base: TaskSet, name: str) -> TaskSet:
    return filler_contrast(base, count_words, seed=BUILTIN_SEED, name=name)


@functools.cache
def _factorial() -> FactorialSet:
    return generate_factorial(seed=BUILTIN_SEED)


#: Items of the factorial's subsample that F1-F3 use (>= 200 per cell before the correctness filter).
FACTORIAL_SUBSAMPLE = 250


@functools.cache
def _factorial_small() -> FactorialSet:
    return subsample(_factorial(), FACTORIAL_SUBSAMPLE, seed=BUILTIN_SEED)


_BUILDERS: dict[str, tuple[str, Callable[[], TaskSet]]] = {
    "core": ("hand-written recall vs reasoning pairs", _core),
    "extended": ("recall vs reasoning generated from the fact tables",
                 lambda: generate_extended(seed=BUILTIN_SEED)),
    "surface-recall": ("control: core recall vs the same recall with varied filler",
                       lambda: _surface_recall(builtin_taskset("core"), "surface-recall")),
    "surface-reasoning": ("control: core reasoning vs the same reasoning reworded",
                          lambda: load_task_file(DATA_DIR / "surface-reasoning.yaml")),
    "surface-recall-extended": (
        "control: extended recall vs the same recall with varied filler",
        lambda: _surface_recall(builtin_taskset("extended"), "surface-recall-extended")),
    "surface-reasoning-extended": (
        "control: extended reasoning vs the same reasoning reworded",
        lambda: generate_surface_reasoning(seed=BUILTIN_SEED)),
    "factorial-hops-closed": ("factorial: closed-book one-hop vs two-hop (the reasoning effect)",
                              lambda: named_contrast(_factorial(), "hops-closed")),
    "factorial-book-onehop": ("factorial: one-hop closed-book vs open-book (the copy effect)",
                              lambda: named_contrast(_factorial(), "book-onehop")),
    "factorial-study": ("factorial: closed-book one-hop vs open-book two-hop (the study's mix)",
                        lambda: named_contrast(_factorial(), "study")),
    "factorial": ("factorial: closed-book one-hop vs two-hop, every item (= factorial-hops-closed)",
                  lambda: named_contrast(_factorial(), "hops-closed")),
    "factorial250-hops-closed": (
        f"factorial: closed-book one-hop vs two-hop on {FACTORIAL_SUBSAMPLE} stratified items (F1-F3)",
        lambda: named_contrast(_factorial_small(), "hops-closed")),
    "factorial250-hops-open": (
        f"factorial: open-book one-hop vs two-hop on the same {FACTORIAL_SUBSAMPLE} items",
        lambda: named_contrast(_factorial_small(), "hops-open")),
    "factorial250-book-onehop": (
        f"factorial: one-hop closed-book vs open-book on the same {FACTORIAL_SUBSAMPLE} items",
        lambda: named_contrast(_factorial_small(), "book-onehop")),
}

BUILTIN_SETS: dict[str, str] = {name: desc for name, (desc, _) in _BUILDERS.items()}


@functools.cache
def builtin_taskset(name: str) -> TaskSet:
    """Return the built-in set `name` (built once per process; TaskSets are immutable).

    Examples
    --------
    >>> builtin_taskset("surface-reasoning").labels
    ('reasoning', 'reasoning-reworded')
    """
    if name not in _BUILDERS:
        raise KeyError(f"unknown built-in task set {name!r}; choose one of {', '.join(_BUILDERS)}")
    ts = _BUILDERS[name][1]()
    return ts if ts.name == name else dataclasses.replace(ts, name=name)
