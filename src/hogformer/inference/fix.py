"""Restore only what the user asks for (``hogformer restore --fix noise,blur``): a measured post-process.

The network is blind: it restores whatever it sees, and on a clean photo that is dark on purpose it may
brighten it as if it were under-exposed. :func:`apply_fix` keeps what was not asked for by splitting the image
into a low-frequency part (a Gaussian low-pass of :data:`LOWPASS_SIGMA` pixels: brightness, colour, haze veil)
and the detail on top of it:

* ``detail`` fixes (noise, blur, JPEG artefacts) change detail, not brightness or colour: the result is the
  model's output brought back to the *input's* local brightness and colour, ``out * lowpass(in) /
  lowpass(out)`` (a ratio, not a difference, so that detail the model brightened is scaled down with it
  instead of clipping at black). For noise, ``lowpass(in)`` is first corrected for clipping: noise clipped at
  0 and 1 lifts the mean of dark areas and lowers that of bright ones (:func:`unclip_mean`, with the noise
  level estimated from the input);
* ``tone`` fixes (haze, low light) change brightness and colour, not detail: the input is scaled by the
  model's local gain, ``in * lowpass(out) / lowpass(in)``, so its noise and texture stay as they were;
* ``all`` fixes (rain, snow: streaks and flakes plus the veil they add), or a mix of detail and tone fixes:
  the model's output as it is, as with ``auto`` (the default: blind restoration).

docs/model-card.md ("Restoring only what you ask") has the held-out measurements
(``python -m benchmarks.quality.fix_table``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F

__all__ = ["FIXES", "LOWPASS_SIGMA", "apply_fix", "estimate_noise", "gaussian_lowpass", "parse_fix", "unclip_mean"]

#: Each fix ``--fix`` accepts and what it may change: ``detail``, ``tone`` or ``all`` (see the module docstring).
FIXES = {
    "noise": "detail",
    "blur": "detail",
    "jpeg": "detail",
    "haze": "tone",
    "lowlight": "tone",
    "rain": "all",
    "snow": "all",
}
#: Standard deviation in pixels of the Gaussian low-pass that separates tone from detail (measured:
#: docs/model-card.md; small enough to follow local brightness, large enough to average noise away).
LOWPASS_SIGMA = 8.0


def parse_fix(spec: str | Iterable[str] | None) -> frozenset[str] | None:
    """The set of fixes named by ``spec`` (``"noise,blur"``, a list of names, or ``"auto"`` / ``None`` for
    blind restoration, returned as None). Unknown names raise ``ValueError`` listing the valid ones."""
    if spec is None:
        return None
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [str(n).strip().lower() for n in names if str(n).strip()]
    if not names:
        raise ValueError(f"--fix needs one or more of: auto, {', '.join(FIXES)}")
    if "auto" in names:
        if len(names) > 1:
            raise ValueError(f"--fix auto restores everything; it cannot be combined with {', '.join(names)}")
        return None
    unknown = [n for n in names if n not in FIXES]
    if unknown:
        raise ValueError(f"unknown fix {', '.join(map(repr, unknown))}; valid: auto, {', '.join(FIXES)}")
    return frozenset(names)


def gaussian_lowpass(x: torch.Tensor, sigma: float = LOWPASS_SIGMA) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, H, W)`` images, reflect-padded (replicate where the image is smaller
    than the kernel's reach), in the input's dtype and device."""
    radius = max(1, int(3.0 * sigma + 0.5))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    h, w = x.shape[-2:]
    mode = "reflect" if radius < min(h, w) else "replicate"
    y = F.pad(x, (radius, radius, 0, 0), mode=mode)
    y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    y = F.pad(y, (0, 0, radius, radius), mode=mode)
    return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def estimate_noise(x: torch.Tensor) -> torch.Tensor:
    """Immerkaer's estimate of the white-noise standard deviation of each ``(B, C, H, W)`` image (on the
    image's scale; over all channels), shape ``(B,)``. Texture raises it a little."""
    k = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], dtype=x.dtype, device=x.device)
    c = x.shape[1]
    if min(x.shape[-2:]) < 3:
        return torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    m = F.conv2d(x, k.view(1, 1, 3, 3).expand(c, 1, 3, 3), groups=c)
    return math.sqrt(math.pi / 2) * m.abs().mean(dim=(1, 2, 3)) / 6.0


def unclip_mean(mean: torch.Tensor, sigma: torch.Tensor, steps: int = 256) -> torch.Tensor:
    """The mean ``m`` of a signal whose noisy copy, ``clip(m + N(0, sigma**2), 0, 1)``, has mean ``mean``
    (element-wise; ``sigma`` of shape ``(B,)``): inverts ``E[clip] = integral_0^1 Phi((m - t) / sigma) dt``
    by interpolation on a grid of ``steps`` values of ``m`` in [-3 sigma, 1 + 3 sigma], then clips to [0, 1]."""
    out = torch.empty_like(mean)
    t = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
    for b in range(mean.shape[0]):
        s = max(float(sigma[b]), 1e-6)
        m = torch.linspace(-3 * s, 1 + 3 * s, 4 * steps, dtype=torch.float64)
        clipped_mean = torch.special.ndtr((m[:, None] - t[None, :]) / s).mean(dim=1)
        flat = mean[b].reshape(-1).to(torch.float64).cpu()
        idx = torch.searchsorted(clipped_mean, flat.clamp(float(clipped_mean[0]), float(clipped_mean[-1])))
        idx = idx.clamp(1, len(m) - 1)
        x0, x1, y0, y1 = m[idx - 1], m[idx], clipped_mean[idx - 1], clipped_mean[idx]
        value = x0 + (flat - y0) * (x1 - x0) / (y1 - y0).clamp_min(1e-12)
        out[b] = value.clamp(0, 1).reshape(mean[b].shape).to(mean.dtype)
    return out


def apply_fix(
    inp: torch.Tensor, out: torch.Tensor, fixes: frozenset[str] | None, sigma: float = LOWPASS_SIGMA
) -> torch.Tensor:
    """The model's output ``out`` of ``inp`` (both ``(B, C, H, W)`` in [0, 1]) restricted to ``fixes`` (None:
    ``out`` unchanged); see the module docstring. Returns a new tensor in [0, 1]."""
    if fixes is None:
        return out
    kinds = {FIXES[f] for f in fixes}
    if "all" in kinds or kinds == {"detail", "tone"}:
        return out
    inp = inp.to(out.dtype)
    low_in, low_out = gaussian_lowpass(inp, sigma), gaussian_lowpass(out, sigma)
    if kinds == {"detail"}:
        if "noise" in fixes:
            noise = estimate_noise(inp)
            if float(noise.max()) > 2.0 / 255.0:
                low_in = unclip_mean(low_in, noise)
        return (out * (low_in / low_out.clamp_min(1e-4))).clamp_(0, 1)  # where low_out is ~0, so is out
    eps = 1.0 / 255.0  # a gain bounded in black areas, where the input is mostly noise
    return (inp * ((low_out + eps) / (low_in + eps))).clamp_(0, 1)
