"""evidence.json has one owner (`report.evidence`): what it writes it reads back, and a damaged
or foreign file is refused with an error naming the file and the field."""
from __future__ import annotations

import json

import pytest

from report.evidence import EvidenceFileError, read_evidence, write_evidence


def test_written_evidence_reads_back(tmp_path):
    records = [{"id": "H1", "model": "tiny", "verdict": "refuted", "figures": {"n_pairs": 38}}]
    path = write_evidence(tmp_path / "evidence.json", records, run={"model": "tiny", "seed": 0})
    doc = read_evidence(path)
    assert doc["records"] == records and doc["run"] == {"model": "tiny", "seed": 0} and doc["errors"] == []


@pytest.mark.parametrize(("text", "match"), [
    ("{not json", "not a JSON evidence file"),
    ("[1, 2]", "expected a JSON object"),
    (json.dumps({"schema_version": 99, "records": []}), "`schema_version` is 99"),
    (json.dumps({"schema_version": 1}), "`records` must be a list"),
    (json.dumps({"schema_version": 1, "records": [{"id": "H1"}]}), r"`records\[0\]` must be a mapping with `id` and `model`"),
])
def test_a_damaged_file_is_named(tmp_path, text, match):
    path = tmp_path / "evidence.json"
    path.write_text(text)
    with pytest.raises(EvidenceFileError, match=match) as info:
        read_evidence(path)
    assert str(path) in str(info.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(EvidenceFileError, match="cannot be read"):
        read_evidence(tmp_path / "nowhere.json")
