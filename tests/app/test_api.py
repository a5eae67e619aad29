"""The named API endpoint ``/restore`` through gradio_client, against a running ``hogformer app``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import need

pytestmark = pytest.mark.slow


def test_restore_endpoint_returns_the_restored_file(app_server: str, tmp_path: Path) -> None:
    client_mod = need("gradio_client")
    rng = np.random.default_rng(0)
    grey = np.clip(np.linspace(0, 1, 80)[None, :] + rng.normal(0, 0.1, (56, 80)), 0, 1)
    src = (grey * 65535).astype(np.uint16)
    Image.fromarray(src).save(tmp_path / "scan.png")  # 16-bit grey PNG
    client = client_mod.Client(app_server, verbose=False)
    assert "/restore" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    out = Path(client.predict(client_mod.handle_file(str(tmp_path / "scan.png")), api_name="/restore"))
    assert out.name == "scan-restored.png"
    result = Image.open(out)
    assert result.size == (80, 56)
    restored = np.asarray(result)
    assert restored.dtype == np.uint16 and restored.ndim == 2  # the input's format and depth
    assert np.abs(restored.astype(np.float64) - src).mean() > 100


def test_restore_endpoint_error_is_one_line(app_server: str, tmp_path: Path) -> None:
    client_mod = need("gradio_client")
    (tmp_path / "notes.png").write_text("not an image")
    client = client_mod.Client(app_server, verbose=False)
    with pytest.raises(Exception) as info:
        client.predict(client_mod.handle_file(str(tmp_path / "notes.png")), api_name="/restore")
    message = str(info.value)
    assert "notes.png" in message and "not an image" in message
    assert "Traceback" not in message
