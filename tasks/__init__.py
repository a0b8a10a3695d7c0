"""Prompt pairs for the suite: recall vs multi-step reasoning, and their controls.

Contents
--------
taskset    : Prompt, TaskPair, TaskSet (frozen, hashed), CATEGORIES.
loader     : load_tasks (built-in name or YAML path), validation, dump_tasks.
builtin    : the built-in sets (core, extended, surface-* controls).
generate   : the extended sets from the fact tables in ``data/facts/``.
templates  : prompt templates per relation.
filler     : length matching and the recall-with-filler control.
formatting : chat / plain prompt formats.
errors     : TaskFileError, LengthMatchError, PromptFormatError.
factorial, factorial_templates : the hops x book factorial items and their prompt templates.
control_sequences : token sequences of the positive controls (induction, previous token, cloze facts).
subjects, seeding : where a prompt's subject sits; seeds derived from stable bytes.

Examples
--------
>>> from tasks import load_tasks
>>> core = load_tasks("core")
>>> core.pairs[0].a.text
'What is the capital of Switzerland?'
"""
from tasks.builtin import BUILTIN_SETS
from tasks.errors import LengthMatchError, PromptFormatError, TaskFileError
from tasks.filler import FILLER_POOL, count_words, filler_contrast, length_matched
from tasks.formatting import PROMPT_FORMATS, content_token_spans, format_prompt, resolve_prompt_format
from tasks.loader import dump_tasks, load_task_file, load_tasks, parse_tasks
from tasks.taskset import CATEGORIES, DEFAULT_LABELS, Prompt, TaskPair, TaskSet

__all__ = [
    "BUILTIN_SETS", "CATEGORIES", "DEFAULT_LABELS", "FILLER_POOL", "PROMPT_FORMATS",
    "LengthMatchError", "Prompt", "PromptFormatError", "TaskFileError", "TaskPair", "TaskSet",
    "content_token_spans", "count_words", "dump_tasks", "filler_contrast", "format_prompt", "length_matched",
    "load_task_file", "load_tasks", "parse_tasks", "resolve_prompt_format",
]
