"""What a claims run came to, in one line and one exit status.

Contents
--------
RunOutcome     : counts of claim tests by verdict (supported, refuted or confounded,
                 inconclusive, without a verdict, skipped), from the report plugin's records.
RunOutcome.line : "report written: reports/.../report.html — 3 of 10 claims supported, 6 refuted
                 or confounded, 1 without a verdict".
RunOutcome.every_claim_has_a_verdict : no crash, no malformed claim file, no error: what
                 ``--exit-zero-on-verdicts`` (and `make report`) turns into exit status 0.
write_verdicts : the terminal's "claim verdicts" lines, one per claim and model.

A refuted, confounded or inconclusive claim is a result (inconclusive: the data could not
decide, e.g. too few usable items); a test that ended without recording a verdict
(a crash, a bad claim file, too few usable prompts) is not, and neither is evidence that could
not be written.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from report.fragments import short_figure

_MARKUP = {"supported": {"green": True}, "refuted": {"red": True, "bold": True},
           "confounded": {"yellow": True, "bold": True}, "inconclusive": {"purple": True},
           "error": {"red": True}}


@dataclass(frozen=True)
class RunOutcome:
    """Claim tests of one run, by how they ended."""

    supported: int
    refuted_or_confounded: int
    without_verdict: int
    skipped: int
    write_failures: int = 0
    inconclusive: int = 0

    @classmethod
    def of(cls, records: Sequence[Mapping[str, Any]], unverdicted: Sequence[Mapping[str, Any]],
           skipped: Sequence[Mapping[str, Any]] = (), write_failures: Sequence[str] = ()) -> RunOutcome:
        """Count `records` (one per verdict), `unverdicted` (tests and collectors that failed
        without a verdict) and `skipped` claim tests.

        Examples
        --------
        >>> RunOutcome.of([{"verdict": "supported"}, {"verdict": "refuted"}], [{"test": "x"}]).total
        3
        """
        supported = sum(1 for r in records if r.get("verdict") == "supported")
        failed = sum(1 for r in records if r.get("verdict") in ("refuted", "confounded"))
        inconclusive = sum(1 for r in records if r.get("verdict") == "inconclusive")
        # A record with verdict "error" is a claim that could not be judged: no verdict either.
        errors = len(unverdicted) + sum(1 for r in records if r.get("verdict") not in
                                        ("supported", "refuted", "confounded", "inconclusive"))
        return cls(supported, failed, errors, len(skipped), len(write_failures), inconclusive)

    @property
    def total(self) -> int:
        return (self.supported + self.refuted_or_confounded + self.inconclusive + self.without_verdict
                + self.skipped)

    @property
    def every_claim_has_a_verdict(self) -> bool:
        """Nothing crashed and the evidence was written (refuted and confounded are results)."""
        return self.without_verdict == 0 and self.write_failures == 0

    def counts(self) -> str:
        """``"3 of 10 claims supported, 6 refuted or confounded, 1 without a verdict"``."""
        parts = [f"{self.supported} of {self.total} claim{'s' if self.total != 1 else ''} supported",
                 f"{self.refuted_or_confounded} refuted or confounded"]
        if self.inconclusive:
            parts.append(f"{self.inconclusive} inconclusive")
        if self.without_verdict:
            parts.append(f"{self.without_verdict} without a verdict (crash or error: see the report)")
        if self.skipped:
            parts.append(f"{self.skipped} skipped")
        return ", ".join(parts)

    def line(self, written: Path | None, *, base: Path | None = None) -> str:
        """The last line of a claims run: where the report is, and what it says."""
        if written is None:
            return f"report NOT written — {self.counts()}"
        shown = written
        if base is not None:
            try:
                shown = written.relative_to(base)
            except ValueError:
                pass
        return f"report written: {shown} — {self.counts()}"

    def markup(self) -> dict[str, bool]:
        """Terminal colours of `line`: green when every claim holds, red after a crash, else yellow."""
        if self.total and self.supported == self.total:
            return {"green": True}
        return {"yellow": True} if self.every_claim_has_a_verdict else {"red": True, "bold": True}


def write_verdicts(write: Callable[..., None], records: Sequence[Mapping[str, Any]],
                   unverdicted: Sequence[Mapping[str, Any]]) -> None:
    """One aligned line per record (id, model, verdict, `short_figure`), then every test without
    a verdict; `write` is the terminal reporter's ``write_line``."""
    id_width = max([len(str(r.get("id"))) for r in records] + [5])
    model_width = max([len(str(r.get("model"))) for r in records] + [5])
    for record in records:
        verdict = str(record.get("verdict"))
        write(f"{record.get('id')!s:<{id_width}}  {record.get('model')!s:<{model_width}}  "
              f"{verdict:<10}  {short_figure(record)}", **_MARKUP.get(verdict, {}))
    for error in unverdicted:
        write(f"no verdict: {error['test']} ({error['when']}): {error['error']}", red=True)
