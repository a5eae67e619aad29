"""A stand-in for the official network, for ``vs_official``, where the official code as a whole is not at hand
but copies of its two block modules are: the official DHOGSA attention and DIFF feed-forward (``FFN_DIFF``).

    HOGFORMER_OFFICIAL_ATTENTION=dhogsa.py HOGFORMER_OFFICIAL_FFN=ffn_diff.py \\
        python -m benchmarks.vs_official.vs_official --official benchmarks/vs_official/official_standin.py

The network is the project's U-Net (embedding, down- and up-sampling, skips: a few percent of the time) with every
block's parts swapped: the official attention and feed-forward classes from the two files (constructors
``(dim, num_heads, bias)`` and ``(dim, ffn_expansion_factor, bias)``, published state-dict names), and the norms
computed as the official code's are written (a 3-D round trip and ``var``): rearranged to
``(B, H*W, C)``, mean and biased variance over channels, normalised, rearranged back. State-dict names stay the
published ones, so ``vs_official`` loads the same weights into both. Its float64 output equals the project's
(check it with ``python -m benchmarks.vs_official.official_standin``, which prints the difference).

The official process must not take this package's allocator setting: ``HOGFORMER_NO_MALLOPT=1`` is set here
before the package is imported. None of the official code ships with this project; the files come from the user.
"""

from __future__ import annotations

import os

os.environ["HOGFORMER_NO_MALLOPT"] = "1"  # the official code sets no allocator behaviour

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks.vs_official.vs_official import official_module  # noqa: E402
from hogformer.models import HOGformer, HOGformerConfig  # noqa: E402
from hogformer.models.block import HOGformerBlock  # noqa: E402


def _class_from(variable: str, name: str) -> type:
    path = os.environ.get(variable)
    if not path or not os.path.isfile(path):
        raise SystemExit(f"{variable}: set it to a Python file defining the official {name} (got {path!r})")
    module = official_module(path)
    if not hasattr(module, name):
        raise SystemExit(f"{variable}={path}: no class {name}")
    return getattr(module, name)


class ThreeDNorm(nn.Module):
    """Per-pixel norm over channels through a ``(B, H*W, C)`` copy and ``var``, as the official
    norms compute it ("WithBias" subtracts the mean, "BiasFree" does not; no parameters, spec 2)."""

    def __init__(self, subtract_mean: bool) -> None:
        super().__init__()
        self.subtract_mean = subtract_mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a copy, as a rearrange to 3-D makes
        var = t.var(-1, keepdim=True, unbiased=False)
        t = ((t - t.mean(-1, keepdim=True)) if self.subtract_mean else t) / torch.sqrt(var + 1e-5)
        return t.reshape(b, h, w, c).permute(0, 3, 1, 2).contiguous()


class HOGformerOfficialStandIn(HOGformer):
    """The published constructor's arguments; blocks built from the official module classes."""

    def __init__(
        self,
        inp_channels=3,
        out_channels=3,
        dim=36,
        num_blocks=(4, 4, 6, 8),
        num_refinement_blocks=4,
        heads=(1, 2, 4, 8),
        ffn_expansion_factor=2.667,
        bias=False,
        LayerNorm_type="WithBias",  # noqa: N803  (the official spelling)
    ) -> None:
        config = dict(
            inp_channels=inp_channels,
            out_channels=out_channels,
            dim=dim,
            num_blocks=num_blocks,
            num_refinement_blocks=num_refinement_blocks,
            heads=heads,
            ffn_expansion_factor=ffn_expansion_factor,
            bias=bias,
            LayerNorm_type=LayerNorm_type,
        )
        super().__init__(HOGformerConfig.from_dict(config))
        attention = _class_from("HOGFORMER_OFFICIAL_ATTENTION", "DHOGSA")
        feedforward = _class_from("HOGFORMER_OFFICIAL_FFN", "FFN_DIFF")
        for block in self.modules():
            if isinstance(block, HOGformerBlock):
                channels = block.attn_g_spatial.qkv.in_channels
                block.attn_g_spatial = attention(channels, block.attn_g_spatial.num_heads, bias)
                block.ffn = feedforward(channels, ffn_expansion_factor, bias)
                block.norm_g = ThreeDNorm(LayerNorm_type == "WithBias")
                block.norm_ff1 = ThreeDNorm(LayerNorm_type == "WithBias")


if __name__ == "__main__":  # the float64 check
    from hogformer.models import preset

    torch.manual_seed(0)
    ours = HOGformer(preset("official")).double().eval()
    with torch.no_grad():  # away from the initialisation, so every branch does real work
        for t in ours.parameters():
            t.add_(0.005 * torch.randn_like(t))
    theirs = HOGformerOfficialStandIn().double().eval()
    theirs.load_state_dict(ours.state_dict())
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        print(f"float64 max abs difference to the project's network: {(theirs(x) - ours(x)).abs().max().item():.3g}")
