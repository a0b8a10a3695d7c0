"""``pytest hypotheses/ --collect-only`` lists the claims and writes nothing: no report
directory, no evidence; a ``--claim`` typo is still a usage error."""
from __future__ import annotations

import os
from pathlib import Path

from evaluation.schema import shipped_claims_dir

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def test_collect_only_writes_no_report(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    run = pytester.runpytest_subprocess(str(shipped_claims_dir()), "--collect-only", "-q", "--model", "tiny",
                                        "-p", "no:cacheprovider")
    assert run.ret == 0
    assert "test_claim[H1-tiny]" in run.stdout.str()
    assert not (pytester.path / "reports").exists() and "report written" not in run.stdout.str()
    typo = pytester.runpytest_subprocess(str(shipped_claims_dir()), "--collect-only", "--claim", "H99",
                                         "--model", "tiny", "-p", "no:cacheprovider")
    assert typo.ret == 4 and "--claim H99: no claim has this id" in typo.stderr.str()
    assert not (pytester.path / "reports").exists()
