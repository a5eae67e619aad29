"""The numpy HOG of ``inspect`` against the torch HOG descriptor of the loss, and on images whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hogformer.diagnosis.hog import bin_centres_degrees, cell_histograms, grey, orientation_profile, sobel
from hogformer.losses.hog import HOGDescriptor


@pytest.mark.parametrize("shape", [(64, 64), (61, 83), (8, 8), (17, 40)])
def test_matches_the_loss_descriptor(shape: tuple[int, int]) -> None:
    rgb = np.random.default_rng(1).random((*shape, 3)).astype(np.float32)
    mine = cell_histograms(rgb)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    ref = HOGDescriptor(block=1)(x).reshape(9, shape[0] // 8, shape[1] // 8).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(mine, ref, atol=2e-6, rtol=1e-5)


def test_sobel_is_cross_correlation_with_zero_padding() -> None:
    g = np.random.default_rng(2).random((9, 11)).astype(np.float32)
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    ref = torch.nn.functional.conv2d(torch.from_numpy(g)[None, None], torch.stack([kx, kx.T])[:, None], padding=1)
    dx, dy = sobel(g)
    np.testing.assert_allclose(dx, ref[0, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(dy, ref[0, 1].numpy(), atol=1e-5)


def _inner_profile(rgb: np.ndarray) -> np.ndarray:
    """The profile of the cells off the image border (zero padding makes edges along the border)."""
    return orientation_profile(cell_histograms(rgb)[1:-1, 1:-1])


def test_edges_land_in_the_right_bins() -> None:
    # A vertical edge (intensity changes along x) has a horizontal gradient: 0 degrees, bin 0.
    vertical = np.zeros((32, 32, 3), np.float32)
    vertical[:, 16:] = 1
    p = _inner_profile(vertical)
    assert p[0] > 0.99
    # A horizontal edge: 90 degrees, halfway between the 80 and 100 degree bins.
    horizontal = np.ascontiguousarray(vertical.transpose(1, 0, 2))
    p = _inner_profile(horizontal)
    assert p[4] == pytest.approx(0.5, abs=1e-3) and p[5] == pytest.approx(0.5, abs=1e-3)
    # A 45 degree diagonal edge (unsigned, so either direction of the step).
    yy, xx = np.mgrid[:64, :64]
    diagonal = np.repeat(((xx + yy) > 64).astype(np.float32)[..., None], 3, axis=2)
    p = _inner_profile(diagonal)
    assert p[2] + p[3] > 0.9  # 40 and 60 degrees around 45
    assert list(bin_centres_degrees()) == [0, 20, 40, 60, 80, 100, 120, 140, 160]


def test_grey_weights_and_size_errors() -> None:
    assert grey(np.ones((2, 2, 3), np.float32) * np.array([1, 0, 0], np.float32))[0, 0] == pytest.approx(0.299)
    with pytest.raises(ValueError, match="at least 8x8"):
        cell_histograms(np.zeros((7, 50, 3), np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        grey(np.zeros((4, 4, 4)))
