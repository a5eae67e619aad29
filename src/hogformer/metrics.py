"""PSNR and SSIM under explicit evaluation protocols (spec section 6).

Two published protocols are supported:

* Settings III/IV (AdaIR/PromptIR): PSNR and SSIM on RGB in [0, 1] exactly as scikit-image computes them
  (``peak_signal_noise_ratio(data_range=1)``, ``structural_similarity(data_range=1, channel_axis=-1)``:
  7x7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03).
* Setting I (all-weather, Histoformer/BasicSR): PSNR and SSIM on the MATLAB-style BT.601 luma channel,
  SSIM with the 11x11 Gaussian window (sigma 1.5, population covariance) on the 0..255 image, keeping only
  the pixels whose window lies fully inside the image (BasicSR's ``cv2.filter2D(...)[5:-5, 5:-5]``).

Everything is computed in float64 with numpy only; scikit-image is not needed at runtime.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "PROTOCOL_AIO",
    "PROTOCOL_ALLWEATHER",
    "Protocol",
    "evaluate_pair",
    "psnr",
    "rgb_to_y",
    "ssim",
]

_CHANNELS = ("rgb", "y")
_SSIM_WINDOWS = ("uniform7", "gaussian11")
_K1 = 0.01
_K2 = 0.03


@dataclass(frozen=True)
class Protocol:
    """How PSNR/SSIM are computed; every results table prints :meth:`describe`.

    Attributes:
        channel: ``"rgb"`` (all channels of the [0, 1] image) or ``"y"`` (MATLAB-style BT.601 luma).
        crop_border: pixels removed from each side of both images before any metric is computed.
        ssim_window: ``"uniform7"`` (scikit-image default: 7x7 uniform window, sample covariance) or
            ``"gaussian11"`` (Wang et al. / BasicSR: 11x11 Gaussian, sigma 1.5, population covariance).
    """

    channel: str = "rgb"
    crop_border: int = 0
    ssim_window: str = "uniform7"

    def __post_init__(self) -> None:
        if self.channel not in _CHANNELS:
            raise ValueError(f"Protocol.channel must be one of {_CHANNELS}, got {self.channel!r}")
        if self.ssim_window not in _SSIM_WINDOWS:
            raise ValueError(f"Protocol.ssim_window must be one of {_SSIM_WINDOWS}, got {self.ssim_window!r}")
        if isinstance(self.crop_border, bool) or not isinstance(self.crop_border, (int, np.integer)):
            raise TypeError(f"Protocol.crop_border must be an int, got {type(self.crop_border).__name__}")
        if self.crop_border < 0:
            raise ValueError(f"Protocol.crop_border must be >= 0, got {self.crop_border}")

    def describe(self) -> str:
        """One human-readable line, e.g. ``"RGB, uniform 7x7 SSIM, no border crop"``."""
        channel = "RGB" if self.channel == "rgb" else "Y (BT.601)"
        window = "uniform 7x7 SSIM" if self.ssim_window == "uniform7" else "gaussian 11x11 SSIM"
        crop = "no border crop" if self.crop_border == 0 else f"{self.crop_border} px border crop"
        return f"{channel}, {window}, {crop}"

    def to_dict(self) -> dict[str, str | int]:
        """Plain dict of the fields, for JSON/YAML result files."""
        return asdict(self)


PROTOCOL_AIO = Protocol("rgb", 0, "uniform7")
"""Settings III/IV (AdaIR/PromptIR): scikit-image PSNR/SSIM on RGB in [0, 1]."""

PROTOCOL_ALLWEATHER = Protocol("y", 0, "gaussian11")
"""Setting I (Histoformer/BasicSR): Y-channel PSNR and Gaussian 11x11 SSIM."""


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """MATLAB-style BT.601 luma of an RGB image, on the [0, 1] scale.

    Computes ``(16 + (65.481 R + 128.553 G + 24.966 B)) / 255`` with R, G, B in [0, 1], i.e. the 0..255 luma
    of MATLAB's ``rgb2ycbcr`` divided by 255: white maps to 235/255 and black to 16/255.

    Args:
        img: HxWx3 float array in [0, 1], channels in RGB order.

    Returns:
        HxW float64 array.
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"rgb_to_y expects an HxWx3 RGB image, got shape {img.shape}")
    img = img.astype(np.float64, copy=False)
    y = 16.0 + img @ np.array([65.481, 128.553, 24.966])
    return y / 255.0


def _prepare(pred: np.ndarray, target: np.ndarray, protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    """Validate, crop the border and select the channel; returns two float64 arrays in [0, 1] scale."""
    pred = np.asarray(pred)
    target = np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got pred {pred.shape} and target {target.shape}"
        )
    if pred.ndim not in (2, 3):
        raise ValueError(f"expected HxW or HxWxC images, got shape {pred.shape}")
    for name, arr in (("pred", pred), ("target", target)):
        if not np.issubdtype(arr.dtype, np.floating):
            raise TypeError(
                f"{name} has dtype {arr.dtype}; metrics expect float images in [0, 1] "
                f"(convert 8-bit images with img.astype(np.float32) / 255)"
            )
        if arr.size and float(np.max(arr)) > 1.5:
            raise ValueError(
                f"{name} has values up to {float(np.max(arr)):.3g}; metrics expect images in [0, 1] "
                f"(divide 0..255 images by 255 and clip model outputs to [0, 1])"
            )
    b = protocol.crop_border
    if b:
        h, w = pred.shape[:2]
        if h <= 2 * b or w <= 2 * b:
            raise ValueError(f"crop_border={b} leaves nothing of an image of shape {pred.shape}")
        pred = pred[b:-b, b:-b]
        target = target[b:-b, b:-b]
    if protocol.channel == "y":
        if pred.ndim != 3 or pred.shape[-1] != 3:
            raise ValueError(f"the 'y' protocol needs HxWx3 RGB images, got shape {pred.shape}")
        return rgb_to_y(pred), rgb_to_y(target)
    return pred.astype(np.float64), target.astype(np.float64)


def psnr(pred: np.ndarray, target: np.ndarray, protocol: Protocol = PROTOCOL_AIO) -> float:
    """Peak signal-to-noise ratio in dB, with data range 1.

    The MSE is taken over all pixels and channels together (as scikit-image and BasicSR do). On the Y channel
    this is the same value BasicSR's ``calculate_psnr(..., test_y_channel=True)`` gives on the 0..255 scale
    with data range 255 (the factor 255**2 cancels).

    Args:
        pred: restored image, float HxWxC or HxW in [0, 1].
        target: ground truth, same shape.
        protocol: channel and border crop; the SSIM window is ignored.

    Returns:
        PSNR in dB; ``math.inf`` for identical images.
    """
    x, y = _prepare(pred, target, protocol)
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(1.0 / mse)


def _gaussian_taps(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian, as ``cv2.getGaussianKernel(size, sigma)``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable correlation of a 2-D image with ``outer(taps, taps)``, keeping only 'valid' positions."""
    k = taps.size
    h, w = img.shape
    rows = np.zeros((h - k + 1, w), dtype=np.float64)
    for i, t in enumerate(taps):
        rows += t * img[i : i + h - k + 1, :]
    out = np.zeros((h - k + 1, w - k + 1), dtype=np.float64)
    for j, t in enumerate(taps):
        out += t * rows[:, j : j + w - k + 1]
    return out


def _ssim_channel(x: np.ndarray, y: np.ndarray, window: str) -> float:
    """Mean SSIM of one 2-D channel given on the [0, 1] scale."""
    if window == "uniform7":
        size, scale, data_range = 7, 1.0, 1.0
        taps = np.full(size, 1.0 / size)
        cov_norm = size * size / (size * size - 1.0)  # sample covariance, as scikit-image
    else:
        size, scale, data_range = 11, 255.0, 255.0  # BasicSR works on the 0..255 image
        taps = _gaussian_taps(size, 1.5)
        cov_norm = 1.0
    h, w = x.shape
    if h < size or w < size:
        raise ValueError(
            f"SSIM with the {window} window needs images of at least {size}x{size} "
            f"(after border crop), got {h}x{w}"
        )
    if scale != 1.0:
        x = x * scale
        y = y * scale
    c1 = (_K1 * data_range) ** 2
    c2 = (_K2 * data_range) ** 2
    mu_x = _filter_valid(x, taps)
    mu_y = _filter_valid(y, taps)
    var_x = cov_norm * (_filter_valid(x * x, taps) - mu_x * mu_x)
    var_y = cov_norm * (_filter_valid(y * y, taps) - mu_y * mu_y)
    cov_xy = cov_norm * (_filter_valid(x * y, taps) - mu_x * mu_y)
    num = (2.0 * mu_x * mu_y + c1) * (2.0 * cov_xy + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return float(np.mean(num / den))


def ssim(pred: np.ndarray, target: np.ndarray, protocol: Protocol = PROTOCOL_AIO) -> float:
    """Mean structural similarity, averaged over channels.

    Only window positions that lie fully inside the (cropped) image count: scikit-image crops
    ``(win_size - 1) // 2`` pixels after filtering and BasicSR keeps ``filter2D(...)[5:-5, 5:-5]``, so neither
    result depends on a border mode.

    Args:
        pred: restored image, float HxWxC or HxW in [0, 1].
        target: ground truth, same shape.
        protocol: channel, border crop and SSIM window.

    Returns:
        SSIM, 1.0 for identical images.
    """
    x, y = _prepare(pred, target, protocol)
    if x.ndim == 2:
        return _ssim_channel(x, y, protocol.ssim_window)
    values = [_ssim_channel(x[..., c], y[..., c], protocol.ssim_window) for c in range(x.shape[-1])]
    return float(np.mean(values))


def evaluate_pair(pred: np.ndarray, target: np.ndarray, protocol: Protocol) -> dict[str, float]:
    """Both metrics of one image pair under ``protocol``: ``{"psnr": ..., "ssim": ...}``."""
    return {"psnr": psnr(pred, target, protocol), "ssim": ssim(pred, target, protocol)}
