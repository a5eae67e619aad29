"""The HOGformer U-Net: four encoder levels with image skips, a latent, three decoder levels and refinement
(paper Fig. 2; spec 1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from . import low_memory
from .block import HOGformerBlock
from .config import SIZE_MULTIPLE, HOGformerConfig
from .layers import Downsample, OverlapPatchEmbed, SkipPatchEmbed, Upsample

#: Largest strip of the low-memory mode's automatic size: 256K pixels (a 2048-pixel-wide image in strips of 128
#: rows); larger strips hold more memory and run no faster on a CPU.
MAX_STRIP_PIXELS = 1 << 18
#: Smallest strip of the automatic size: 32K pixels (a 512x512 image in 8 strips of 64 rows).
MIN_STRIP_PIXELS = 1 << 15


def auto_strip_pixels(height: int, width: int) -> int:
    """The low-memory mode's strip size for a ``height x width`` input: an eighth of the image, between
    :data:`MIN_STRIP_PIXELS` and :data:`MAX_STRIP_PIXELS`.

    The low-memory peak is the few full-resolution maps the U-Net keeps (proportional to the image) plus one
    strip's working set (about ten maps of the strip's size), so an eighth keeps the strips' share of the peak
    bounded at every size; the bounds keep strips cache-friendly on a CPU (docs/performance.md has the
    measurements and the commands that make them).
    """
    return min(max(height * width // 8, MIN_STRIP_PIXELS), MAX_STRIP_PIXELS)


def _level(config: HOGformerConfig, width: int, n_blocks: int, heads: int) -> nn.Sequential:
    hidden = config.hidden_features(width)
    return nn.Sequential(
        *(HOGformerBlock(width, heads, hidden, config.bias, config.layernorm_type) for _ in range(n_blocks))
    )


#: The default of :meth:`HOGformer.forward`'s ``strip_pixels``: the model's own :meth:`HOGformer.set_low_memory`.
FROM_MODEL = object()


def _checked_strip_pixels(strip_pixels: object) -> int | str | None:
    if (
        strip_pixels is not None
        and strip_pixels != "auto"
        and not (isinstance(strip_pixels, int) and not isinstance(strip_pixels, bool) and strip_pixels >= 1)
    ):
        raise ValueError(f"strip_pixels must be 'auto', an int >= 1 or None, got {strip_pixels!r}")
    return strip_pixels


class HOGformer(nn.Module):
    """All-in-one restoration network. Input ``(B, C, H, W)`` with H and W multiples of 8; output the same
    shape (the restored image, residual on the input). Use :func:`hogformer.inference.run_padded` or
    :class:`hogformer.Restorer` for other sizes."""

    def __init__(self, config: HOGformerConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or HOGformerConfig()
        d, nb, hd, bias = config.dim, config.num_blocks, config.heads, config.bias
        self.patch_embed = OverlapPatchEmbed(config.inp_channels, d)
        self.encoder_level1 = _level(config, d, nb[0], hd[0])
        self.down1_2 = Downsample(d)
        self.encoder_level2 = _level(config, 2 * d, nb[1], hd[1])
        self.down2_3 = Downsample(2 * d)
        self.encoder_level3 = _level(config, 4 * d, nb[2], hd[2])
        self.down3_4 = Downsample(4 * d)
        self.latent = _level(config, 8 * d, nb[3], hd[3])
        self.up4_3 = Upsample(8 * d)
        self.reduce_chan_level3 = nn.Conv2d(8 * d, 4 * d, kernel_size=1, bias=bias)
        self.decoder_level3 = _level(config, 4 * d, nb[2], hd[2])
        self.up3_2 = Upsample(4 * d)
        self.reduce_chan_level2 = nn.Conv2d(4 * d, 2 * d, kernel_size=1, bias=bias)
        self.decoder_level2 = _level(config, 2 * d, nb[1], hd[1])
        self.up2_1 = Upsample(2 * d)
        self.decoder_level1 = _level(config, 2 * d, nb[0], hd[0])
        self.refinement = _level(config, 2 * d, config.num_refinement_blocks, hd[0])
        self.output = nn.Conv2d(2 * d, config.out_channels, kernel_size=3, padding=1, bias=bias)
        c = config.inp_channels
        self.skip_patch_embed1 = SkipPatchEmbed(c, bias)
        self.skip_patch_embed2 = SkipPatchEmbed(c, bias)
        self.skip_patch_embed3 = SkipPatchEmbed(c, bias)
        self.reduce_chan_level_1 = nn.Conv2d(2 * d + c, 2 * d, kernel_size=1, bias=bias)
        self.reduce_chan_level_2 = nn.Conv2d(4 * d + c, 4 * d, kernel_size=1, bias=bias)
        self.reduce_chan_level_3 = nn.Conv2d(8 * d + c, 8 * d, kernel_size=1, bias=bias)
        #: Low-memory mode (:meth:`set_low_memory`): strip size in pixels, ``"auto"`` (sized per input by
        #: :func:`auto_strip_pixels`), or None for the plain forward.
        self.strip_pixels: int | str | None = None
        #: Activation checkpointing in training (:meth:`set_checkpointing`).
        self.checkpointing = False
        #: Called after every transformer block (:meth:`set_block_callback`).
        self.block_callback: Callable[[], None] | None = None

    @property
    def num_blocks(self) -> int:
        """Transformer blocks one forward runs (the calls of the block callback per forward)."""
        return sum(1 for m in self.modules() if isinstance(m, HOGformerBlock))

    def set_block_callback(self, callback: Callable[[], None] | None) -> HOGformer:
        """Call ``callback()`` after every transformer block of every forward (``None``: none), e.g. to show
        progress inside one large image. Returns the model."""
        self.block_callback = callback
        return self

    def set_low_memory(self, strip_pixels: int | str | None = "auto") -> HOGformer:
        """Run the transformer blocks strip by strip (about ``strip_pixels`` pixels a strip; ``"auto"``: sized
        per input by :func:`auto_strip_pixels`) and in place, so that no full-resolution tensor wider than a
        level's own features is ever allocated; ``None`` turns it off. The mathematics is unchanged (float64
        outputs agree with the plain forward to rounding; float32 within its usual noise); it is for inference
        only (the forward refuses to run it with autograd on). Returns the model."""
        self.strip_pixels = _checked_strip_pixels(strip_pixels)
        return self

    def set_checkpointing(self, enabled: bool = True) -> HOGformer:
        """Activation checkpointing for training: with autograd on, each transformer block keeps only its input
        for the backward pass and recomputes its activations there (about a third more time, a fraction of the
        activation memory). The gradients are those of the plain forward (the recomputation repeats the same
        arithmetic; on a GPU, where the histogram scatter is not bitwise deterministic, a near-tie in a sort
        can break differently in the recomputation, which moves a gradient by float32 noise only).
        No effect without autograd. Returns the model."""
        self.checkpointing = bool(enabled)
        return self

    def _run_level(self, level: nn.Sequential, x: torch.Tensor, strip_pixels: int | None) -> torch.Tensor:
        checkpointed = self.checkpointing and torch.is_grad_enabled()
        for block in level:
            if strip_pixels is not None:  # x is always a temporary of forward, so updating it in place is safe
                low_memory.add_block_(cast(HOGformerBlock, block), x, strip_pixels)
            elif checkpointed:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
            if self.block_callback is not None:
                self.block_callback()
        return x

    def forward(self, img: torch.Tensor, strip_pixels: int | str | None | object = FROM_MODEL) -> torch.Tensor:
        """The network on ``img`` (``(B, C, H, W)``, H and W multiples of 16). ``strip_pixels`` chooses this
        call's execution: None the plain forward, an int or ``"auto"`` the low-memory forward
        (:meth:`set_low_memory`); by default the model's own setting."""
        h, w = img.shape[-2:]
        strip_pixels = self.strip_pixels if strip_pixels is FROM_MODEL else _checked_strip_pixels(strip_pixels)
        if strip_pixels is not None and torch.is_grad_enabled():
            raise RuntimeError(
                "HOGformer low-memory mode is for inference: run it under torch.no_grad() or "
                "torch.inference_mode(), or turn it off with set_low_memory(None)"
            )
        if h % SIZE_MULTIPLE or w % SIZE_MULTIPLE:
            raise ValueError(
                f"HOGformer needs height and width divisible by {SIZE_MULTIPLE}, got {h}x{w}; "
                "pad the input (hogformer.inference.run_padded) or use hogformer.Restorer"
            )
        sp = auto_strip_pixels(h, w) if isinstance(strip_pixels, str) else strip_pixels  # the only str: "auto"
        enc1 = self._run_level(self.encoder_level1, self.patch_embed(img), sp)
        skip1 = self.skip_patch_embed1(img)
        enc2 = self._run_level(
            self.encoder_level2, self.reduce_chan_level_1(torch.cat((self.down1_2(enc1), skip1), 1)), sp
        )
        skip2 = self.skip_patch_embed2(skip1)
        enc3 = self._run_level(
            self.encoder_level3, self.reduce_chan_level_2(torch.cat((self.down2_3(enc2), skip2), 1)), sp
        )
        skip3 = self.skip_patch_embed3(skip2)
        x = self._run_level(self.latent, self.reduce_chan_level_3(torch.cat((self.down3_4(enc3), skip3), 1)), sp)
        del skip1, skip2, skip3
        x = self._run_level(self.decoder_level3, self.reduce_chan_level3(torch.cat((self.up4_3(x), enc3), 1)), sp)
        del enc3
        x = self._run_level(self.decoder_level2, self.reduce_chan_level2(torch.cat((self.up3_2(x), enc2), 1)), sp)
        del enc2
        x = self._run_level(self.decoder_level1, torch.cat((self.up2_1(x), enc1), 1), sp)
        del enc1
        x = self._run_level(self.refinement, x, sp)
        return self.output(x) + img
