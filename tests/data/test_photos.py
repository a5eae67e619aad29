"""The held-out photos read from a folder of copies (machines without sporco, e.g. a GPU box)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from hogformer.data.photos import HELDOUT_PHOTOS, heldout_photos


def _write(folder, names, rng):
    written = {}
    for name in names:
        img = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / name)
        written[name.rsplit(".", 1)[0]] = img
    return written


def test_folder_copy_is_read_in_order_as_rgb_uint8(tmp_path):
    written = _write(tmp_path, HELDOUT_PHOTOS, np.random.default_rng(0))
    photos = heldout_photos(tmp_path)
    assert [n for n, _ in photos] == ["kodim23", "monarch", "barbara", "sail", "tulips"]
    for name, img in photos:
        assert img.dtype == np.uint8 and img.shape == (20, 30, 3)
        np.testing.assert_array_equal(img, written[name])


def test_folder_missing_a_photo_names_it(tmp_path):
    _write(tmp_path, HELDOUT_PHOTOS[:-1], np.random.default_rng(0))
    with pytest.raises(FileNotFoundError, match="tulips.png"):
        heldout_photos(tmp_path)
