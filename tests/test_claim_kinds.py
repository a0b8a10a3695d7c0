"""A claim kind is one declaration (`kinds.spec.ClaimKind`): incomplete ones are refused, every
shipped kind has claims, and a new kind added in one module reaches discovery, the plan, the
report and the Sensitivity table."""
from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest

from evaluation.schema import shipped_claims_dir
from kinds import BUILTIN_KINDS, kind_named, registered_kinds
from kinds.discovery import discover
from kinds.spec import ClaimKind, CostModel

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def _parts(**changes):
    parts = dict(name="toy", file_name="toy.yaml", description="a toy", scope="model", load=lambda p: None,
                 evaluate=lambda c, r: None, plots=(("a plot", lambda r: None),), cost=CostModel(1.0))
    parts.update(changes)
    return parts


@pytest.mark.parametrize(("change", "field"), [
    ({"plots": ()}, "`plots`"),
    ({"plots": (("no function", None),)}, "`plots`"),
    ({"cost": 12.0}, "`cost`"),
    ({"load": None}, "`load`"),
    ({"evaluate": "evaluate"}, "`evaluate`"),
    ({"sensitivity": None}, "`sensitivity`"),
    ({"scope": "everywhere"}, "`scope`"),
    ({"file_name": ""}, "`file_name`"),
])
def test_a_kind_missing_a_part_is_refused(change, field):
    with pytest.raises(TypeError, match=f"claim kind .* is incomplete: .*{field}"):
        ClaimKind(**_parts(**change))


def test_every_shipped_kind_has_shipped_claims_and_distinct_files():
    found = discover([shipped_claims_dir()])
    assert {c.kind.name for c in found} == {k.name for k in BUILTIN_KINDS}
    assert len({k.file_name for k in BUILTIN_KINDS}) == len(BUILTIN_KINDS)


def test_two_kinds_with_one_file_name_are_an_error():
    from kinds import _check_unique

    with pytest.raises(ValueError, match="two claim kinds share 'claim.yaml'"):
        _check_unique([*BUILTIN_KINDS, ClaimKind(**_parts(file_name="claim.yaml"))])
    with pytest.raises(KeyError, match="no claim kind 'nope'; registered: component"):
        kind_named("nope")
    assert registered_kinds() == BUILTIN_KINDS


def test_cost_model_counts_warm_claims_from_the_cache():
    cost = CostModel(100.0, scale_exponent=1.0, cache_kinds=("pattern",), entries_per_claim=3)
    assert cost.seconds(2, scale=2.0, cached={}) == 400.0
    assert cost.seconds(2, scale=2.0, cached={"pattern": 3}) == 200.0 + 2.0   # one claim warm
    assert cost.seconds(2, scale=2.0, cached={"pattern": 9}) == 2 * 2.0       # never more than n warm
    assert CostModel(100.0).seconds(1, scale=1.0, cached={"x": 5}) == 100.0   # no cache kinds: always cold


TOY_PLUGIN = '''
"""A toy claim kind, declared whole in one module and added through the suite's hook."""
import io

from evaluation.result import ClaimResult
from evaluation.schema import ClaimFileError, check_keys, claim_texts, read_yaml
from kinds.spec import ClaimKind, CostModel


def load(path):
    data = read_yaml(path)
    problems = []
    check_keys(data, "", ("id", "title", "statement", "coins"), ("notes",), problems)
    texts = claim_texts(data, problems) if isinstance(data, dict) else {}
    if problems:
        raise ClaimFileError(path, problems)
    return type("ToyClaim", (), {**texts, "coins": data["coins"], "path": path})


def evaluate(claim, run):
    heads = sum(claim.coins)
    return ClaimResult(claim_id=claim.id, title=claim.title, statement=claim.statement, level="model",
                       model=run.name, verdict="supported" if heads >= 2 else "refuted",
                       message=f"{claim.id}: {heads} heads", figures={"heads": heads},
                       profiles={"coins": claim.coins}, kind="toy")


def coin_plot(result):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.bar(range(len(result.profiles["coins"])), result.profiles["coins"])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def sensitivity(result):
    return {"trained": result.verdict, "toy twin": "refuted"}


TOY = ClaimKind(name="toy", file_name="toy.yaml", description="coin flips", scope="model", load=load,
                evaluate=evaluate, plots=(("Coin flips of the toy", coin_plot),),
                cost=CostModel(cold_seconds=36000.0, scale_exponent=0.0), sensitivity=sensitivity)


def pytest_claim_kinds(config):
    return [TOY]
'''


def test_a_new_kind_in_one_module_reaches_discovery_plan_report_and_sensitivity(pytester, tmp_path):
    pytester.makepyfile(toykind=TOY_PLUGIN)
    claim_dir = pytester.path / "my_claims" / "t1_coins"
    claim_dir.mkdir(parents=True)
    (claim_dir / "toy.yaml").write_text(textwrap.dedent("""\
        id: T1
        title: Coins come up heads
        statement: At least two of three coins show heads.
        coins: [1, 1, 0]
        """))
    env = os.pathsep.join(filter(None, [str(pytester.path), str(ROOT), os.environ.get("PYTHONPATH")]))
    pytester._monkeypatch.setenv("PYTHONPATH", env)
    run = pytester.runpytest_subprocess(
        "-p", "toykind", str(shipped_claims_dir()), "--claims", "my_claims", "--claim", "T1", "--model", "tiny",
        "--cache-dir", str(tmp_path / "cache"), "--report-dir", "r", "-p", "no:cacheprovider", "-v")
    out = run.stdout.str()
    assert run.ret == 0, out
    assert "test_claim[T1-tiny] PASSED" in out                      # discovery and evaluation
    plan = next(line for line in out.splitlines() if "plan: tiny" in line)
    assert "1 claim (1 toy)" in plan and re.search(r"est\. [\d.]+-[\d.]+ h", plan)  # its cost: hours
    page = (pytester.path / "r" / "report.html").read_text()
    assert "Coin flips of the toy" in page and "data:image/png;base64," in page    # its plot on its card
    assert "toy twin" in page and "Sensitivity" in page                             # its Sensitivity rows
    record = json.loads((pytester.path / "r" / "evidence.json").read_text())["records"][0]
    assert record["kind"] == "toy" and record["figures"]["sensitivity"] == {"trained": "supported",
                                                                            "toy twin": "refuted"}
