"""Render the HTML report of the bundled data in headless Chromium and check what shows.

Checks, each printed as a line starting with "FAILED" when it does not hold:

- the HTML names no external resource (no script, link, frame, remote URL or CSS url());
- Chromium's net log shows no request made by the page; Chromium's own background
  requests (initiator "not an origin") are ignored, and every host name is mapped to
  NOTFOUND, so none of them reaches the network;
- the screenshot has the window's size, is not blank, and shows the red CORP curve of the
  reliability diagram and the orange -log(p) curve of the loss-term plot.

Usage, from the repository root with the test dependencies installed:

    uv run --group test python scripts/check_report_screenshot.py [--output docs/report-screenshot.png]

--output keeps a copy of the screenshot reduced to a 64-color palette. Exit status: 0 when
every check passes, 1 when one fails, 2 when no Chromium executable is found.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Default window: wide enough for the two plots side by side, tall enough to show them.
WIDTH, HEIGHT = 1280, 1560
# Line colors of matplotlib's default cycle that the plots use: tab:red and tab:orange.
CORP_CURVE_RGB = (214, 39, 40)
POSITIVE_CURVE_RGB = (255, 127, 14)


def find_chromium() -> str | None:
    """Return the path of the first Chromium or Chrome executable on PATH, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def take_screenshot(browser: str, html_path: Path, png_path: Path, net_log_path: Path, width: int, height: int) -> None:
    """Load `html_path` in headless Chromium, write a `width` x `height` PNG and a net log."""
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            # Every host name fails to resolve, so no request can leave the machine.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--log-net-log={net_log_path}",
            "--hide-scrollbars",
            f"--screenshot={png_path}",
            f"--window-size={width},{height}",
            html_path.resolve().as_uri(),
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


def page_requests(net_log_path: Path) -> list[str]:
    """Return the URLs that the page requested, from a Chromium net log (JSON).

    A request started by a page has that page's origin as initiator ("null" for a file://
    page); Chromium's own background requests have the initiator "not an origin".
    """
    log = json.loads(net_log_path.read_text(encoding="utf-8"))
    event_names = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    urls = []
    for event in log["events"]:
        parameters = event.get("params") or {}
        if event_names.get(event["type"]) != "URL_REQUEST_START_JOB" or "url" not in parameters:
            continue
        if parameters.get("initiator") != "not an origin":
            urls.append(parameters["url"])
    return urls


def count_pixels_near(image: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 30) -> int:
    """Count pixels within `tolerance` of `rgb` in every channel."""
    return int(np.all(np.abs(image[..., :3].astype(int) - np.array(rgb)) <= tolerance, axis=-1).sum())


def screenshot_problems(png_path: Path, width: int, height: int) -> list[str]:
    """Return what is wrong with the screenshot: size, blankness, missing plot curves."""
    from PIL import Image

    with Image.open(png_path) as file:
        image = np.asarray(file.convert("RGB"))
    problems = []
    if image.shape[:2] != (height, width):
        problems.append(f"screenshot is {image.shape[1]}x{image.shape[0]}, expected {width}x{height}")
    background = image[0, 0]
    drawn = float(np.any(image != background, axis=-1).mean())
    if drawn < 0.05:
        problems.append(f"screenshot is nearly blank: {drawn:.1%} of pixels differ from the background")
    for name, rgb in [("CORP curve (red)", CORP_CURVE_RGB), ("-log(p) curve (orange)", POSITIVE_CURVE_RGB)]:
        if count_pixels_near(image, rgb) < 200:
            problems.append(f"screenshot shows no {name}: fewer than 200 pixels of RGB {rgb}")
    return problems


def write_bundled_report(html_path: Path) -> None:
    """Write the report of the bundled Caravan predictions, by customer type, with the CLI."""
    from logloss.cli import cli

    cli(["report", "--by", "customer_type", "-o", str(html_path)], standalone_mode=False)


def check_report(browser: str, work_dir: Path, width: int = WIDTH, height: int = HEIGHT) -> tuple[list[str], Path]:
    """Render the bundled report in `work_dir`; return the problems found and the PNG path."""
    from logloss._report_html import external_references

    html_path = work_dir / "report.html"
    png_path = work_dir / "report.png"
    net_log_path = work_dir / "net-log.json"
    write_bundled_report(html_path)
    problems = [f"HTML names {reference}" for reference in external_references(html_path.read_text("utf-8"))]
    take_screenshot(browser, html_path, png_path, net_log_path, width, height)
    problems += [f"page requested {url}" for url in page_requests(net_log_path)]
    problems += screenshot_problems(png_path, width, height)
    return problems, png_path


def save_small_copy(png_path: Path, output: Path) -> None:
    """Save `png_path` to `output` with a 64-color palette, a fraction of the full size."""
    from PIL import Image

    output.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(png_path) as image:
        image.convert("RGB").quantize(colors=64).save(output, optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="also save the screenshot here, reduced to 64 colors")
    parser.add_argument("--width", type=int, default=WIDTH, help="window width in pixels")
    parser.add_argument("--height", type=int, default=HEIGHT, help="window height in pixels")
    arguments = parser.parse_args(argv)

    browser = find_chromium()
    if browser is None:
        print(f"no Chromium found on PATH (looked for {', '.join(CHROMIUM_NAMES)})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work_dir:
        problems, png_path = check_report(browser, Path(work_dir), arguments.width, arguments.height)
        if arguments.output is not None:
            save_small_copy(png_path, arguments.output)
    for problem in problems:
        print(f"FAILED: {problem}")
    if not problems:
        print(f"report screenshot: all checks passed ({arguments.width}x{arguments.height})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
