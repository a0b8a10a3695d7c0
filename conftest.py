"""Session fixtures of the suite: options, tasks, the model (lazily loaded) and its activations.

Fixtures (all session-scoped, used read-only)
--------------------------------------------
run_options       : validated command-line options (`fixtures.options.RunOptions`).
taskset           : the task set of ``--tasks``.
model_name        : parametrized over ``--model`` (session scope: tests are grouped by model).
model_under_test  : `LazyModel` of that model: weights load at most once, and only on a cache miss;
                    released when the session moves on to the next model.
tokenizer         : its tokenizer.
prompt_format     : "chat" or "plain", resolved from ``--prompt-format`` and the tokenizer (memo).
activation_cache  : the on-disk `ActivationCache` (disabled by ``--no-cache``).
activation_provider: activations of the model and its controls on any task set.
activations       : `Activations` of the model on the task set.
behaviour         : greedy answers and accuracy on the task set.
claim_controls    : the controls runner claims are evaluated with (None with ``--no-controls``).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures.options import RUN_OPTIONS, add_options, read_options
from fixtures.workers import share_cores_between_workers

pytest_plugins = ["hypotheses.report"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    share_cores_between_workers()
    options = read_options(config)
    config.stash[RUN_OPTIONS] = options
    if any(str(arg).rstrip("/").endswith("hypotheses") or "hypotheses/" in str(arg) for arg in config.args):
        from fixtures.models import ModelSpecError, resolve_model

        for name in options.models:  # parsing only: an unknown model stops the run before any work
            try:
                resolve_model(name)
            except ModelSpecError as exc:
                raise pytest.UsageError(f"--model: {exc}") from None
        from tasks.errors import TaskFileError
        from tasks.loader import load_tasks

        try:
            load_tasks(options.tasks)
        except TaskFileError as exc:
            raise pytest.UsageError(f"--tasks: {exc}") from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that needs a model runs once per ``--model``; session scope groups the tests
    by model, so each model is loaded once and released before the next."""
    if "model_name" in metafunc.fixturenames:
        models = metafunc.config.stash[RUN_OPTIONS].models
        metafunc.parametrize("model_name", models, ids=list(models), scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # All tests of one model run together (stable sort: claim order kept), so each model is
    # loaded once and released before the next; pytest's own reordering does not do this here
    # because every direct-parametrized item gets its own parameter index.
    order = {name: i for i, name in enumerate(config.stash[RUN_OPTIONS].models)}

    def model_rank(item: pytest.Item) -> int:
        callspec = getattr(item, "callspec", None)
        return order.get(callspec.params.get("model_name"), -1) if callspec is not None else -1

    items.sort(key=model_rank)
    # With pytest-xdist `--dist loadgroup`, one worker takes all tests of one model.
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "model_name" in callspec.params:
            item.add_marker(pytest.mark.xdist_group(name=str(callspec.params["model_name"])))


@pytest.fixture(scope="session")
def run_options(pytestconfig: pytest.Config):
    return pytestconfig.stash[RUN_OPTIONS]


@pytest.fixture(scope="session")
def cache_root(run_options) -> Path:
    from fixtures.models import cache_root as _cache_root

    return _cache_root(run_options.cache_dir)


@pytest.fixture(scope="session")
def taskset(run_options):
    from tasks.loader import load_tasks

    return load_tasks(run_options.tasks)


@pytest.fixture(scope="session")
def model_under_test(model_name, run_options, cache_root):
    from fixtures.lazy_model import LazyModel

    model = LazyModel(model_name, device=run_options.device, dtype=run_options.dtype,
                      trust_remote_code=run_options.trust_remote_code, cache_dir=str(cache_root),
                      device_map=run_options.device_map, max_memory=run_options.max_memory)
    yield model
    model.release()


@pytest.fixture(scope="session")
def tokenizer(model_under_test):
    return model_under_test.tokenizer


@pytest.fixture(scope="session")
def prompt_format(run_options, model_under_test, activation_cache) -> str:
    # Through the tokenizer memo: a warm session never loads the tokenizer.
    return model_under_test.tokenizer_memo(activation_cache).resolve_format(run_options.prompt_format)


@pytest.fixture(scope="session")
def activation_cache(run_options, cache_root):
    from fixtures.cache import ActivationCache

    return ActivationCache(cache_root / "activations", enabled=run_options.use_cache)


@pytest.fixture(scope="session")
def activation_provider(run_options, model_under_test, prompt_format, activation_cache):
    """Activations of the model and of its controls (random weights, derived task sets)."""
    from fixtures.provider import ActivationProvider

    return ActivationProvider(model_under_test, prompt_format, activation_cache, seed=run_options.seed,
                              progress=not os.environ.get("CI"))


@pytest.fixture(scope="session")
def activations(pytestconfig, run_options, taskset, model_under_test, prompt_format, activation_cache,
                activation_provider):
    from hypotheses.evidence import set_run_metadata

    acts = activation_provider.get(taskset)
    fields = model_under_test.capture_fields()
    parity = _parity_checks(taskset, model_under_test, prompt_format, activation_cache)
    per_model = {
        "model_id": model_under_test.identity, "dtype": fields["dtype"], "device": fields["device_kind"],
        "prompt_format": prompt_format, "cache": f"{acts.meta['cache']} ({activation_cache.root})",
        "parity_checks": [check.describe() for check in parity],
    }
    if len(run_options.models) > 1:  # one row per model and field in the Environment table
        per_model = {f"{model_under_test.name} {k}": v for k, v in per_model.items()}
    set_run_metadata(
        pytestconfig, model=", ".join(run_options.models), task_file=str(taskset.source_path or taskset.name),
        task_hash=taskset.sha256, seed=run_options.seed, **per_model,
    )
    return acts


def _parity_checks(taskset, model, prompt_format, cache):
    """Parity guards on the first pairs' prompts (cached, so a warm run loads no weights)."""
    from fixtures.activations import prompt_rows
    from fixtures.parity import cached_parity

    subset = type(taskset)(name=taskset.name, pairs=taskset.pairs[:4], labels=taskset.labels)
    texts = model.tokenizer_memo(cache).format_prompts([p.text for p in prompt_rows(subset)], prompt_format)
    return cached_parity(model, texts, add_special_tokens=prompt_format == "plain", cache=cache)


@pytest.fixture(scope="session")
def behaviour(taskset, model_under_test, prompt_format, activation_cache):
    """Greedy answers of the model on the task set (accuracy per side, correct pairs)."""
    from fixtures.behaviour import get_behaviour

    return get_behaviour(taskset, model_under_test, prompt_format=prompt_format, cache=activation_cache)


@pytest.fixture(scope="session")
def claim_controls(run_options, activation_provider, taskset, activations, activation_cache):
    from hypotheses.controls import make_controls

    if not run_options.controls:
        return None
    return make_controls(activation_provider, taskset, activations, seed=run_options.seed,
                         cache=activation_cache)
