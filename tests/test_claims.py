"""Claim files: the shipped claims load; malformed files name the file and every problem."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evaluation.component_claim import load_claim
from evaluation.schema import ClaimFileError
from kinds.discovery import discover

ROOT = Path(__file__).resolve().parents[1] / "hypotheses"


def _valid() -> dict:
    return yaml.safe_load((ROOT / "h1_layers" / "claim.yaml").read_text())


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "bad" / "claim.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_shipped_claims_load_with_unique_ids():
    claims = [c.loaded() for c in discover([ROOT]) if c.kind.name == "component"]
    ids = [c.id for c in claims]
    assert {"H1", "H2", "H3", "H1p", "H2p", "H3p", "H1d"} <= set(ids)
    assert len(ids) == len(set(ids))


def test_study_defaults_are_the_studys_criteria():
    h1, h2, h3 = (load_claim(ROOT / d / "claim.yaml") for d in ("h1_layers", "h2_heads", "h3_neurons"))
    assert (h1.test, h1.alpha, h1.min_effect, h1.cv.folds, h1.cv.min_consistency) == ("mann_whitney", 0.01, 0.8, 5, 1.0)
    assert (h2.alpha, h2.min_effect) == (0.0001, 1.0)
    assert (h3.correction, h3.min_effect, h3.cv.required) == ("fdr_bh", 0.5, False)
    assert h2.reported["recall"] == 239 and h3.reported["total"] == 530432


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: d.pop("alpha"), "missing key `alpha`"),
        (lambda d: d.update(colour="red"), "unknown key `colour`"),
        (lambda d: d.update(alpha=1.5), "`alpha` must be in (0, 1)"),
        (lambda d: d.update(alpha=0), "`alpha` must be in (0, 1)"),
        (lambda d: d.update(alpha="0.01"), "`alpha` must be a number"),
        (lambda d: d.update(features=["resid_norm_last", "mlp_mean"]), "unknown feature 'mlp_mean'"),
        (lambda d: d.update(test="t_test"), "`test` is 't_test'; allowed: mann_whitney"),
        (lambda d: d.update(level="circuit"), "`level` is 'circuit'"),
        (lambda d: d.update(correction="fdr_xx"), "`correction` is 'fdr_xx'"),
        (lambda d: d["cv"].update(folds=1), "`folds` must be in [2, 1000)"),
        (lambda d: d["cv"].update(required="yes"), "`cv.required` must be true or false"),
        (lambda d: d["expect"].update(op="=="), "`expect.op` is '=='"),
        (lambda d: d.update(reported=[1, 2]), "`reported` must be a mapping"),
    ],
)
def test_each_problem_is_named(tmp_path, change, expected):
    data = _valid()
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(ClaimFileError) as err:
        load_claim(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_all_problems_reported_at_once(tmp_path):
    data = _valid()
    data.pop("title")
    data["alpha"] = 2
    data["test"] = "nope"
    data["extra"] = 1
    with pytest.raises(ClaimFileError) as err:
        load_claim(_write(tmp_path, data))
    assert len(err.value.problems) == 4


def test_correction_alias_is_canonicalised(tmp_path):
    data = _valid()
    data["correction"] = "BH"
    assert load_claim(_write(tmp_path, data)).correction == "fdr_bh"


def test_unreadable_and_non_yaml_files(tmp_path):
    with pytest.raises(ClaimFileError, match="cannot read"):
        load_claim(tmp_path / "missing.yaml")
    with pytest.raises(ClaimFileError, match="not valid YAML"):
        load_claim(_write(tmp_path, "id: [unclosed"))
    with pytest.raises(ClaimFileError, match="must be a mapping"):
        load_claim(_write(tmp_path, "- just\n- a list\n"))


def test_depth_claim_needs_depth_section(tmp_path):
    data = _valid()
    data["level"] = "depth"
    with pytest.raises(ClaimFileError, match="missing key `depth.source`|`depth` must be a mapping"):
        load_claim(_write(tmp_path, data))
    data = _valid()
    data["depth"] = {"source": "head", "alternative": "greater"}
    with pytest.raises(ClaimFileError, match="only allowed when `level` is depth"):
        load_claim(_write(tmp_path, data))


def test_nearly_empty_file_lists_every_missing_key(tmp_path):
    with pytest.raises(ClaimFileError) as err:
        load_claim(_write(tmp_path, "id: BAD\nalpha: 7\n"))
    problems = err.value.problems
    for key in ("title", "statement", "level", "features", "test", "correction", "min_effect", "cv", "expect"):
        assert f"missing key `{key}`" in problems
    assert "`alpha` must be in (0, 1), got 7" in problems
