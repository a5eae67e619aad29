"""The app in a real browser: Playwright drives headless Debian chromium against ``hogformer app``.

Needs gradio, playwright (the Python package; its own browser download is never used) and the ``chromium``
Debian package. Locally these tests skip when one is missing; in CI they fail instead (see conftest.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import chromium_path, need

pytestmark = pytest.mark.slow

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SAMPLE = Path(__file__).resolve().parents[2] / "src" / "hogformer" / "assets" / "sample.png"


@pytest.fixture(scope="module")
def browser():
    sync_api = need("playwright.sync_api")
    path = chromium_path()
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser, app_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.goto(app_server)
    pg.wait_for_selector("#restore-button")
    yield pg
    context.close()


def noisy_input(path: Path) -> np.ndarray:
    """A 128x96 crop of the sample photo with Gaussian noise (sigma 25), written as 8-bit PNG; returns it."""
    from hogformer.data.degradations import gaussian_noise, quantise_8bit

    rgb = np.asarray(Image.open(SAMPLE).convert("RGB"), dtype=np.float32)[:96, :128] / 255
    noisy = quantise_8bit(gaussian_noise(rgb, np.random.default_rng(3), 25.0))
    arr = np.round(noisy * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return arr


def test_upload_restore_and_download(page, tmp_path: Path) -> None:
    source = noisy_input(tmp_path / "noisy.png")
    page.locator("#inputs input[type=file]").set_input_files(str(tmp_path / "noisy.png"))
    page.wait_for_selector("#inputs >> text=noisy")  # the upload is listed
    page.click("#restore-button")
    link = page.locator("#downloads a[download]").first
    link.wait_for(timeout=120_000)
    assert "Restored 1 of 1" in page.locator("#status").inner_text()

    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "noisy-restored.png"
    data = Path(download.path()).read_bytes()
    result = Image.open(io.BytesIO(data))
    assert result.format == "PNG" and result.mode == "RGB"
    assert result.size == (128, 96)  # full resolution, as uploaded
    restored = np.asarray(result)
    assert np.abs(restored.astype(np.int16) - source).mean() > 2  # it did change the image

    # The comparison slider holds both images, and the inspect estimate and figure sit beside the result.
    page.wait_for_function("document.querySelectorAll('#compare img').length >= 2")
    estimate = page.locator("#estimate").inner_text()
    assert estimate.split("\n")[1].strip() == "noise"  # the headline of the label: the input is noisy
    page.locator("#inspect-plot img").wait_for()


def test_bad_file_is_a_message_not_a_traceback(page, tmp_path: Path) -> None:
    bad = tmp_path / "holiday.png"
    bad.write_text("this is not an image")
    noisy_input(tmp_path / "good.png")
    page.locator("#inputs input[type=file]").set_input_files([str(bad), str(tmp_path / "good.png")])
    page.wait_for_selector("#inputs >> text=holiday")
    page.click("#restore-button")
    page.locator("#downloads a[download]").first.wait_for(timeout=120_000)
    status = page.locator("#status").inner_text()
    assert "Restored 1 of 2" in status
    assert "holiday.png" in status and "not an image" in status
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and 'File "' not in body
