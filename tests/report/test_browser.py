"""The report in a real browser: headless Chromium opens report.html, shows every figure, reports no error.

A Snakemake report is a single-page app whose results are data URIs inside a script: a
figure is an <img> only once the app shows it. The test clicks through the report as a
person would (category, sample, the eye button of each figure), asks the browser whether
each image decoded at its real size, looks at the screenshots' pixels, opens the summary
table, and reads the console. Chromium comes from Debian (installed when missing); where it
cannot be installed the test is skipped and says why.
"""
from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ._browser import Browser, find_chromium, open_browser
from .conftest import SAMPLES, ReportRun
from .test_report import FIGURES, png_size

REPO = Path(__file__).resolve().parents[2]

#: click the innermost element whose text is exactly the argument (what a person clicks on)
CLICK_TEXT = """(text => {
  const all = [...document.querySelectorAll('#app a, #app li, #app span, #app div, #app td, #app p')];
  const el = all.filter(e => e.textContent.trim() === text).pop();
  if (!el) return false;
  el.click();
  return true;
})(%s)"""
#: click the "eye" (view) button of the results row whose cells hold the argument
CLICK_VIEW = """(label => {
  const row = [...document.querySelectorAll('#app tr')].find(r => [...r.cells].some(c => c.textContent.trim() === label));
  const eye = row && row.querySelector('a[iconname="eye"]');
  if (!eye) return false;
  eye.click();
  return true;
})(%s)"""
#: the natural width of the figure shown, once it has decoded (0 while loading or broken)
SHOWN_IMAGE = """(() => {
  const img = document.querySelector('#app img[src^="data:image/png"]');
  return img && img.complete && img.naturalWidth > 0 ? [img.naturalWidth, img.naturalHeight, img.src.length] : null;
})()"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium from Debian, installed by tools/ensure-debian-packages.sh when missing."""
    install = subprocess.run(["bash", str(REPO / "tools" / "ensure-debian-packages.sh"), "chromium"],
                             capture_output=True, text=True, timeout=1200)
    path = find_chromium()
    if path is None:
        why = (install.stderr or install.stdout).strip().splitlines()[-3:]
        pytest.skip("headless Chromium is not installed and could not be installed here "
                    f"(tools/ensure-debian-packages.sh chromium exited {install.returncode}: {' '.join(why)})")
    return path


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _assert_painted(png: bytes, *, what: str) -> np.ndarray:
    """Not blank: several colours, and a good share of the screen not background white."""
    pixels = _pixels(png)
    non_white = np.any(pixels < 235, axis=2).mean()
    assert pixels.std() > 10 and non_white > 0.02, f"{what}: the screenshot looks blank ({non_white:.1%} painted)"
    return pixels


def _click(browser: Browser, script: str, text: str) -> None:
    assert browser.evaluate(script % json.dumps(text)), f"nothing to click for {text!r}"


def test_report_renders_every_figure_in_chromium(chromium: str, report_run: ReportRun, tmp_path: Path) -> None:
    with open_browser(chromium, tmp_path) as browser:
        browser.open(report_run.html.as_uri())
        browser.wait_for("document.querySelector('#app') && document.querySelector('#app').innerText"
                         ".includes('Quality control')")
        home = browser.screenshot(tmp_path / "home.png").read_bytes()
        _assert_painted(home, what="report home page")
        menu = browser.evaluate("document.querySelector('#app').innerText")
        for category in ("Samples", "Quality control", "Staging and publishing"):
            assert category in menu

        shown = 0
        for sample in SAMPLES:
            browser.evaluate("app.setView({navbarMode: 'menu'})")  # back to the menu, as the home button does
            _click(browser, CLICK_TEXT, "Quality control")
            browser.wait_for(f"document.querySelector('#app').innerText.includes({json.dumps(sample)})")
            _click(browser, CLICK_TEXT, sample)
            for name, (label, _) in FIGURES.items():
                browser.wait_for(CLICK_VIEW % json.dumps(label).replace("eye.click();", ""))
                _click(browser, CLICK_VIEW, label)
                expected = png_size((report_run.results / "report" / sample / f"{name}.png").read_bytes())
                width, height, _ = browser.wait_for(
                    f"(() => {{ const s = {SHOWN_IMAGE}; return s && s[0] === {expected[0]} && s; }})()")
                assert (width, height) == expected, f"{sample} {label}: shown at {width}x{height}"
                shown += 1
                if sample == "tumour" and name == "reads_along_genome":
                    screen = browser.screenshot(tmp_path / "figure.png").read_bytes()
                    pixels = _assert_painted(screen, what="the figure")
                    # the figure's bars (#3b6ea8) cover a good part of the screen
                    bars = (np.abs(pixels - np.array([59, 110, 168])).sum(axis=2) < 60).mean()
                    assert bars > 0.05, f"the read density bars are not on screen ({bars:.1%})"
        assert shown == len(SAMPLES) * len(FIGURES)

        # the per-sample table opens in its frame and holds a row per sample
        browser.evaluate("app.setView({navbarMode: 'menu'})")
        _click(browser, CLICK_TEXT, "Samples")
        browser.wait_for(CLICK_VIEW % json.dumps("per-sample summary").replace("eye.click();", ""))
        _click(browser, CLICK_VIEW, "per-sample summary")
        browser.wait_for("document.querySelector('#app iframe[src^=\"data:text/html\"]') !== null")
        cells = browser.wait_for_frame_text("tumour")
        assert "normal-1" in cells and "Reads per chunk" in cells

        # the cohort: its heatmap, and its tables' page
        browser.evaluate("app.setView({navbarMode: 'menu'})")
        _click(browser, CLICK_TEXT, "Cohort")
        browser.wait_for(CLICK_VIEW % json.dumps("results/cohort/plot.png").replace("eye.click();", ""))
        _click(browser, CLICK_VIEW, "results/cohort/plot.png")
        expected = png_size((report_run.results / "cohort" / "plot.png").read_bytes())
        width, _, _ = browser.wait_for(f"(() => {{ const s = {SHOWN_IMAGE}; return s && s[0] === {expected[0]} && s; }})()")
        assert width == expected[0]
        _click(browser, CLICK_VIEW, "results/report/cohort.html")
        cohort = browser.wait_for_frame_text("Reads per sample and region")
        assert "tumour" in cohort and "chrM" in cohort

        assert browser.problems() == []
