"""The one typed, frozen configuration of a HOGformer network, and its published presets (paper Sec. 4.1)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

#: Pixel side of the patches whose HOG histograms condition DHOGSA (spec 4a). Fixed by the architecture.
HOG_PATCH_SIZE = 8
#: Number of orientation bins of the in-network HOG (spec 4a).
HOG_BINS = 9
#: Height and width of the input must be multiples of this (three 2x down-samplings).
SIZE_MULTIPLE = 8

_NORM_TYPES = ("WithBias", "BiasFree")


@dataclass(frozen=True)
class HOGformerConfig:
    """Every hyper-parameter of the network; nothing else is needed to rebuild it.

    Field names follow the official constructor, except ``layernorm_type`` (official: ``LayerNorm_type``),
    which :meth:`from_dict` also accepts.
    """

    inp_channels: int = 3
    out_channels: int = 3
    dim: int = 36
    num_blocks: tuple[int, int, int, int] = (4, 4, 6, 8)
    num_refinement_blocks: int = 4
    heads: tuple[int, int, int, int] = (1, 2, 4, 8)
    ffn_expansion_factor: float = 2.667
    bias: bool = False
    layernorm_type: str = "WithBias"

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_blocks", tuple(int(n) for n in self.num_blocks))
        object.__setattr__(self, "heads", tuple(int(h) for h in self.heads))
        problems = []
        if len(self.num_blocks) != 4 or len(self.heads) != 4:
            problems.append("num_blocks and heads need 4 entries (one per U-Net level)")
        if self.inp_channels != self.out_channels:
            problems.append("inp_channels must equal out_channels (the output adds the input image)")
        if self.layernorm_type not in _NORM_TYPES:
            problems.append(f"layernorm_type must be one of {_NORM_TYPES}, not {self.layernorm_type!r}")
        if self.dim < 2 or self.dim % 2:
            problems.append(f"dim must be even and >= 2, not {self.dim}")
        if not problems:
            widths = (self.dim, 2 * self.dim, 4 * self.dim, 8 * self.dim)
            for width, h in zip(widths, self.heads):
                if h < 1 or width % h:
                    problems.append(f"a level of width {width} cannot be split into {h} heads")
            if self.heads[0] < 1 or (2 * self.dim) % self.heads[0]:
                problems.append("decoder level 1 (width 2*dim) must split into heads[0] heads")
            for width in widths:
                if self.hidden_features(width) % 4:
                    problems.append(
                        f"the feed-forward width int({width} * ffn_expansion_factor) = "
                        f"{self.hidden_features(width)} must be a multiple of 4"
                    )
        if problems:
            raise ValueError("invalid HOGformerConfig: " + "; ".join(problems))

    def hidden_features(self, width: int) -> int:
        """Width ``h`` of the DIFF feed-forward of a block of ``width`` channels (spec 3)."""
        return int(width * self.ffn_expansion_factor)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["num_blocks"] = list(self.num_blocks)
        d["heads"] = list(self.heads)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HOGformerConfig:
        """Build from a dict in this class's or the official constructor's spelling; unknown keys are errors."""
        d = dict(d)
        if "LayerNorm_type" in d:
            d["layernorm_type"] = d.pop("LayerNorm_type")
        # Arguments of the official constructor that change nothing in the network.
        for inert in ("dual_pixel_task", "num_experts"):
            d.pop(inert, None)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown HOGformerConfig fields: {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> HOGformerConfig:
        return cls.from_dict(json.loads(text))


PRESETS: dict[str, HOGformerConfig] = {
    # The configuration of every published checkpoint (Settings I, III, IV): 16,646,220 parameters.
    "official": HOGformerConfig(),
    # The small configuration of the golden fixtures (../shared/golden/tiny_config.json).
    "tiny": HOGformerConfig(dim=12, num_blocks=(1, 1, 1, 2), num_refinement_blocks=1),
    # The width of the shipped default weights: trainable and usable on a 2-core CPU.
    "small": HOGformerConfig(dim=18, num_blocks=(1, 2, 2, 3), num_refinement_blocks=1),
}


def preset(name: str) -> HOGformerConfig:
    """Return a named configuration (see :data:`PRESETS`)."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
