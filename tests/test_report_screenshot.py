"""Headless-Chromium checks of the HTML report; skipped where no Chromium is installed."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_report_screenshot.py"


def load_script():
    spec = importlib.util.spec_from_file_location("check_report_screenshot", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = load_script()
browser = check.find_chromium()
pytestmark = pytest.mark.skipif(browser is None, reason="no Chromium executable on PATH")


def test_screenshot_bundled_report(tmp_path):
    problems, png_path = check.check_report(browser, tmp_path)
    assert problems == []
    assert png_path.stat().st_size > 10_000


def test_screenshot_sees_page_requests(tmp_path):
    # Negative control: the net-log check must see what a page with remote resources requests.
    page = tmp_path / "remote.html"
    page.write_text(
        '<p>text</p><img src="http://example.invalid/a.png">'
        '<link rel="stylesheet" href="https://example.invalid/b.css">',
        encoding="utf-8",
    )
    net_log = tmp_path / "net-log.json"
    check.take_screenshot(browser, page, tmp_path / "remote.png", net_log, 400, 300)
    assert sorted(check.page_requests(net_log)) == ["http://example.invalid/a.png", "https://example.invalid/b.css"]


def test_screenshot_blank_page_fails(tmp_path):
    page = tmp_path / "blank.html"
    page.write_text("<html><body></body></html>", encoding="utf-8")
    png = tmp_path / "blank.png"
    check.take_screenshot(browser, page, png, tmp_path / "net-log.json", 400, 300)
    problems = check.screenshot_problems(png, 400, 300)
    assert problems[0] == "screenshot is nearly blank: 0.0% of pixels differ from the background"
    assert len(problems) == 3
