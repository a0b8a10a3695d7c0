"""Progress of long steps: the callback API, the terminal sink, and that progress reaches the
terminal (also from pytest-xdist workers) but never a test's captured output or the report.

Nothing here waits on the clock: sinks get a fake clock, and the inner runs set the sink's
delay to 0 so a step shows from its first count.
"""
from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest

from engine import progress
from engine.progress import Step, StreamSink, format_seconds

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def importable_suite(monkeypatch):
    """Subprocess runs import the suite from this checkout, installed or not."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def read_all(fd: int) -> str:
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks).decode()


@pytest.fixture
def pipe():
    read, write = os.pipe()
    yield read, write
    os.close(read)
    os.close(write)


def test_step_counts_eta_and_units():
    clock = Clock()
    step = Step("capture m / core", 12, "batch", None, clock=clock)
    assert step.eta() is None and step.describe() == "capture m / core: 0/12 batches, 0:00"
    clock.now += 10
    step.update(4)
    assert step.eta() == pytest.approx(20.0)
    assert step.describe() == "capture m / core: 4/12 batches, 0:10, ETA 0:20"
    step.update(8)
    assert step.describe(final=True) == "capture m / core: done, 12 batches in 0:10"
    assert Step("convert x", None, "", None, clock=clock).describe() == "convert x: 0:00"
    open_ended = Step("H5a null", None, "condition", None, clock=clock)
    open_ended.update(40)
    assert open_ended.describe() == "H5a null: 40 conditions, 0:00"
    assert format_seconds(3725) == "1:02:05"


def test_line_sink_is_silent_for_short_steps_and_throttles_long_ones(pipe):
    read, write = pipe
    clock = Clock()
    sink = StreamSink(write, live=False, interval=20, delay=2, prefix="[gw1] ", clock=clock, ticker=False)
    short = Step("quick", 3, "draw", sink, clock=clock)
    sink.start(short)
    short.update(3)
    sink.finish(short)
    assert read_all(read) == ""  # under the delay: nothing at all
    long = Step("permutation null H1", 200, "draw", sink, clock=clock)
    sink.start(long)
    clock.now += 3
    long.update(10)   # first line once the delay has passed
    clock.now += 5
    long.update(10)   # within the interval: no line
    clock.now += 20
    long.update(10)   # a line every `interval` seconds
    sink.finish(long)
    lines = read_all(read).splitlines()
    assert lines == ["[gw1] permutation null H1: 10/200 draws, 0:03, ETA 0:57",
                     "[gw1] permutation null H1: 30/200 draws, 0:28, ETA 2:39",
                     "[gw1] permutation null H1: done, 30 draws in 0:28"]


def test_live_sink_rewrites_one_line_and_restores_the_reporter_line(pipe):
    read, write = pipe
    clock = Clock()
    sink = StreamSink(write, live=True, delay=0, clock=clock, ticker=False,
                      before_first=lambda: "\n", after_last=lambda: "tests/test_x.py ..")
    step = Step("capture m / core", 2, "batch", sink, clock=clock)
    sink.start(step)
    step.update(1)
    clock.now += 1
    step.update(1)
    sink.finish(step)
    out = read_all(read)
    assert out.startswith("\n\rcapture m / core: 1/2 batches")
    assert "\x1b[K" in out and out.count("\n") == 2  # the fresh line and the kept final line
    assert out.endswith("capture m / core: done, 2 batches in 0:01\x1b[K\ntests/test_x.py ..")


def test_nested_steps_show_the_innermost(pipe):
    read, write = pipe
    clock = Clock()
    sink = StreamSink(write, live=False, delay=0, clock=clock, ticker=False)
    outer = Step("H5a ablations", 10, "condition", sink, clock=clock)
    sink.start(outer)
    inner = Step("loading m", None, "", sink, clock=clock)
    sink.start(inner)
    outer.update(1)  # not shown while the inner step runs
    inner.update(0)
    sink.finish(inner)
    assert read_all(read).splitlines() == ["loading m: 0:00", "loading m: done, in 0:00"]


def test_step_api_uses_the_current_sink_and_can_be_disabled():
    events = []

    class Recorder:
        def start(self, step): events.append(("start", step.title))
        def update(self, step): events.append(("update", step.n))
        def finish(self, step): events.append(("finish", step.n))
        def note(self, message): events.append(("note", message))

    previous = progress.set_sink(Recorder())
    try:
        with progress.step("a", total=2) as s:
            s.update(2)
        with progress.step("b", enabled=False) as s:
            s.update(1)
        progress.note("hello")
    finally:
        progress.set_sink(previous)
    assert events == [("start", "a"), ("update", 2), ("finish", 2), ("note", "hello")]


def test_default_sink_writes_notes_to_stderr(capsys):
    previous = progress.set_sink(None)
    try:
        progress.note("converting x.gguf")
    finally:
        progress.set_sink(previous)
    assert capsys.readouterr().err == "[circuit-hypotheses] converting x.gguf\n"


def test_quiet_tqdm_silences_library_bars_in_the_block_only():
    import io

    from tqdm.auto import tqdm

    quiet, loud = io.StringIO(), io.StringIO()
    with progress.quiet_tqdm():
        for _ in tqdm(range(3), file=quiet, desc="Loading weights"):
            pass
    for _ in tqdm(range(3), file=loud, desc="Loading weights"):
        pass
    assert quiet.getvalue() == "" and "Loading weights" in loud.getvalue()


# ---- inside a pytest run ---------------------------------------------------------------------

INNER = """
from engine import progress

def test_long_step_{n}():
    progress.current_sink().delay = 0  # show from the first count (no waiting in tests)
    with progress.step("capture demo-{n}", total=3, unit="batch") as s:
        for _ in range(3):
            s.update(1)
    print("STDOUT-OF-TEST-{n}")
    assert False, "fail, so the captured output goes into the report"
"""


def _run(pytester, *args):
    pytester.makepyfile(**{f"test_steps_{n}": INNER.format(n=n) for n in (1, 2)})
    report = pytester.path / "out" / "report.html"
    run = pytester.runpytest_subprocess("-p", "fixtures.plugin", "-p", "report.plugin", "-p", "no:cacheprovider",
                                        "--html", str(report),
                                        "--self-contained-html", *args)
    return run, html.unescape(report.read_text(encoding="utf-8"))


@pytest.mark.parametrize("args, prefix", [((), "  "), (("-n", "2"), "[gw")], ids=["plain", "xdist"])
def test_progress_reaches_the_terminal_but_not_the_report(pytester, args, prefix):
    if args and not pytester.parseconfig().pluginmanager.has_plugin("xdist"):
        pytest.skip("pytest-xdist not installed")
    run, page = _run(pytester, *args)
    run.assert_outcomes(failed=2)
    err = run.stderr.str()
    for n in (1, 2):
        assert re.search(rf"^{re.escape(prefix)}.*capture demo-{n}: done, 3 batches in", err, re.M), err
        assert f"STDOUT-OF-TEST-{n}" in page  # captured output does reach the report...
        assert f"capture demo-{n}: done" not in page and "/3 batches" not in page  # ...progress does not
    assert "capture demo-1: done" not in run.stdout.str()


def test_progress_off(pytester):
    run, _ = _run(pytester, "--progress", "off")
    run.assert_outcomes(failed=2)
    assert "capture demo-1: done" not in run.stderr.str() + run.stdout.str()
