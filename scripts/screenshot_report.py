#!/usr/bin/env python3
"""Render an evidence report in headless Chromium: a PNG of the first screen and where the
verdict table sits.

Usage
-----
    python scripts/screenshot_report.py reports/latest/report.html -o first_screen.png
    python scripts/screenshot_report.py report.html --measure      # JSON: the verdict table's box

The measurement loads a copy of the page with one script appended that records the bounding
box of the summary's verdict table (``#hx-verdicts``) after pytest-html's own script has run,
read back with ``--dump-dom``. Exit status 2 when no Chromium is found (``chromium``,
``chromium-browser``, ``google-chrome``, or ``$CHROMIUM``); Debian: ``apt-get install chromium``.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTH, HEIGHT = 1280, 900
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TARGET = "#hx-verdicts"

_MEASURE = """<script>
window.addEventListener('load', function () {
  var box = {found: false};
  var el = document.querySelector(%(target)s);
  if (el) {
    var r = el.getBoundingClientRect();
    box = {found: true, top: r.top + window.scrollY, bottom: r.bottom + window.scrollY,
           left: r.left, right: r.right, viewport: [window.innerWidth, window.innerHeight]};
  }
  var env = document.getElementById('environment-header');
  if (env) { box.environment_top = env.getBoundingClientRect().top + window.scrollY; }
  var out = document.createElement('pre');
  out.id = 'hx-measure';
  out.textContent = JSON.stringify(box);
  document.body.appendChild(out);
});
</script>"""


def find_chromium() -> str | None:
    """A Chromium executable: ``$CHROMIUM`` if set, else the first of `BROWSERS` on PATH."""
    candidates = [os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else list(BROWSERS)
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    return None


def _command(browser: str, *extra: str, height: int = HEIGHT) -> list[str]:
    # --no-sandbox: Chromium refuses to run as root with its sandbox (containers, CI).
    return [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--disable-dev-shm-usage", f"--window-size={WIDTH},{height}", *extra]


def screenshot(report: Path, out: Path, *, browser: str, height: int = HEIGHT, timeout: float = 120) -> Path:
    """Save the first WIDTH x `height` pixels of `report` as a PNG at `out`."""
    out = out.resolve()
    subprocess.run(_command(browser, f"--screenshot={out}", "--virtual-time-budget=5000", report.resolve().as_uri(),
                            height=height), check=True, capture_output=True, timeout=timeout)
    if not out.is_file():
        raise RuntimeError(f"{browser} wrote no screenshot to {out}")
    return out


def measure(report: Path, *, browser: str, timeout: float = 120) -> dict:
    """Bounding box (page pixels) of the verdict table in a WIDTH x HEIGHT window, and the top of
    the Environment header: ``{"found", "top", "bottom", "left", "right", "environment_top"}``."""
    page = report.read_text(encoding="utf-8")
    script = _MEASURE % {"target": json.dumps(TARGET)}
    page = page.replace("</body>", script + "</body>") if "</body>" in page else page + script
    with tempfile.TemporaryDirectory() as tmp:
        # Beside nothing else: the report is self-contained, so a copy renders the same.
        copy = Path(tmp) / "report.html"
        copy.write_text(page, encoding="utf-8")
        done = subprocess.run(_command(browser, "--dump-dom", "--virtual-time-budget=5000", copy.as_uri()),
                              check=True, capture_output=True, text=True, timeout=timeout)
    match = re.search(r'<pre id="hx-measure">(.*?)</pre>', done.stdout, re.S)
    if match is None:
        raise RuntimeError(f"{browser} did not run the measuring script (stderr: {done.stderr[-500:]})")
    return json.loads(html.unescape(match.group(1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="a report.html")
    parser.add_argument("-o", "--output", type=Path, default=Path("report_first_screen.png"),
                        help="PNG to write (default: report_first_screen.png)")
    parser.add_argument("--height", type=int, default=HEIGHT,
                        help=f"window height in pixels (default: {HEIGHT}, the first screen)")
    parser.add_argument("--measure", action="store_true",
                        help="print the verdict table's bounding box as JSON instead of a screenshot")
    args = parser.parse_args(argv)
    browser = find_chromium()
    if browser is None:
        print("no Chromium found (chromium, chromium-browser, google-chrome or $CHROMIUM); "
              "Debian/Ubuntu: apt-get install chromium", file=sys.stderr)
        return 2
    if not args.report.is_file():
        parser.error(f"{args.report}: no such file")
    if args.measure:
        print(json.dumps(measure(args.report, browser=browser)))
        return 0
    print(screenshot(args.report, args.output, browser=browser, height=args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
