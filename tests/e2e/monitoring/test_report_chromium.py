"""The HTML monitoring report rendered by a real browser: Debian's chromium from
scripts/services/chromium.sh (a machine where it cannot be installed fails the test) dumps the DOM
and takes a screenshot. The screenshot, DOM dump and the report itself are kept in
build/test-artefacts/monitor-report/. (The HTML itself: tests/unit/monitoring/test_report_html.py.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from mlops_helpers.monitoring import svg
from mlops_helpers.monitoring.report_html import sorted_features, write_report
from report_support import NASTY, Outline, breast_cancer_report, color_count, distinct_colors, feature_rows, read_png
from services import REPO, run_service_script

pytestmark = pytest.mark.chromium  # started by the test itself (scripts/services/chromium.sh), not by a fixture

ARTEFACTS = REPO / "build" / "test-artefacts" / "monitor-report"
WIDTH, HEIGHT = 1280, 2400


@pytest.fixture(scope="module")
def data() -> dict:
    # Through JSON, as the report gets it from the monitoring code.
    return json.loads(json.dumps(breast_cancer_report()))


# --- a real browser -----------------------------------------------------------------------------

def _chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [binary, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
               "--no-first-run", "--hide-scrollbars", "--force-device-scale-factor=1", *args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr[-3000:]}"
    return completed


def test_report_renders_in_chromium(data: dict, tmp_path: Path) -> None:
    binary = run_service_script("chromium.sh", "install").strip().splitlines()[-1]
    assert Path(binary).is_file(), f"scripts/services/chromium.sh printed {binary!r}, which is not a file"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    report = write_report(data, ARTEFACTS / "report.html")
    screenshot = ARTEFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    url = report.resolve().as_uri()

    dom = _chromium(binary, tmp_path / "profile-dom", "--dump-dom", url).stdout
    (ARTEFACTS / "report.dom.html").write_text(dom, encoding="utf-8")
    outline = Outline(dom)
    features = sorted_features(data["drift"])
    for i, feature in enumerate(features):
        card = outline.cards[f"feature-{i}"]
        n = len(feature["bins"]["reference"])
        assert len(card["svgs"]) == 1 and card["bars"] == {"reference": n, "live": n}, feature["feature"]
    n_svgs = sum(1 for tag, _ in outline.tags if tag == "svg")
    assert n_svgs == 2 * (len(features) + 1) + 1, "SVG elements lost in the browser's DOM"
    assert NASTY in [row["feature"] for row in feature_rows(outline)]

    _chromium(binary, tmp_path / "profile-shot", f"--screenshot={screenshot}", f"--window-size={WIDTH},{HEIGHT}", url)
    assert screenshot.is_file(), "chromium wrote no screenshot"
    png = read_png(screenshot.read_bytes())
    assert (png.width, png.height) == (WIDTH, HEIGHT)
    not_white = float(np.any(png.pixels != 255, axis=2).mean())
    colours = distinct_colors(png)
    reference, live = color_count(png, svg.REFERENCE_COLOR), color_count(png, svg.LIVE_COLOR)
    print(f"screenshot {screenshot}: {colours} colours, {not_white:.1%} not white, "
          f"{reference} reference-bar and {live} live-bar pixels")
    assert colours >= 200, f"only {colours} distinct colours: the page looks blank"
    assert 0.05 <= not_white <= 0.8
    assert reference >= 2000 and live >= 2000, f"bar colours missing: reference {reference}, live {live} pixels"
    # The drift badge red and the table text are there too (the header and the summary rendered).
    assert color_count(png, "#c62828") >= 200
