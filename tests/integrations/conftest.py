"""The spandrel tests need spandrel and torchvision, which do not load beside the CPU torch of the main
environment: CI runs ``tests/integrations/test_spandrel.py`` in an environment of its own (docs/integrations.md).

Where spandrel is not importable that module is not collected, and the run says so in its header; with
``HOGFORMER_REQUIRE_SPANDREL=1`` (set by CI in the spandrel environment) a missing spandrel is an error instead.
"""

from __future__ import annotations

import importlib.util
import os


def _spandrel_importable() -> bool:
    if importlib.util.find_spec("spandrel") is None:
        return False
    try:
        import spandrel  # noqa: F401  (imports torchvision, which fails beside a mismatched torch)
    except Exception:
        return False
    return True


_HAVE_SPANDREL = _spandrel_importable()
collect_ignore = [] if _HAVE_SPANDREL or os.environ.get("HOGFORMER_REQUIRE_SPANDREL") == "1" else ["test_spandrel.py"]


def pytest_report_header(config) -> str | None:
    if "test_spandrel.py" in collect_ignore:
        return (
            "tests/integrations/test_spandrel.py: not collected (spandrel/torchvision not importable here); "
            "CI runs it in its spandrel environment"
        )
    return None
