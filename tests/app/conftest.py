"""Fixtures of the app tests: what they need, and one app server started for the session.

Gradio, gradio_client, Playwright and Debian's chromium are optional dependencies. Where one is missing the
tests that need it skip, except in CI (``CI=true``) or with ``HOGFORMER_REQUIRE_BROWSER=1``, where the skip
becomes a failure: CI installs them (``.ci/run``), so a missing one there is a broken setup, not a reason to skip.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser")


def _required() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true") or os.environ.get("HOGFORMER_REQUIRE_BROWSER") == "1"


def missing(what: str) -> None:
    """Skip (locally) or fail (in CI) because ``what`` is not installed."""
    message = f"{what} is not installed (pip install -e '.[dev]'; apt-get install chromium)"
    if _required():
        pytest.fail(message + "; CI must install it (CI=true or HOGFORMER_REQUIRE_BROWSER=1)")
    pytest.skip(message)


def need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"the Python package {module!r}")


def chromium_path() -> str:
    """Debian's chromium (or ``$HOGFORMER_CHROMIUM``); Playwright's own browser download is never used."""
    env = os.environ.get("HOGFORMER_CHROMIUM")
    if env:
        return env
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    missing("chromium (Debian package 'chromium')")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``hogformer app`` in a child process on a free port of 127.0.0.1, with the shipped weights; its URL."""
    need("gradio")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("app") / "server.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", GRADIO_ANALYTICS_ENABLED="False")
    env["TMPDIR"] = str(log_path.parent)  # results and uploads stay in the test's folder
    cmd = [sys.executable, "-m", "hogformer.cli", "app", "--port", str(port), "--device", "cpu"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"hogformer app exited with {proc.returncode}:\n{Path(log_path).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"hogformer app did not answer at {url} in 180 s:\n{Path(log_path).read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
