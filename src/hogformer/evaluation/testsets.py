"""The paper's test sets: where each one's images lie under a data root, how pairs match, and its protocol.

Three benchmarks (spec section 6), each a list of :class:`TestSet`:

* ``three-task`` (Setting III) and ``five-task`` (Setting IV): the AdaIR/PromptIR test folders (AdaIR's
  ``INSTALL.md`` layout and ``utils/dataset_utils.py``): CBSD68 with synthetic Gaussian noise at sigma 15, 25 and
  50, Rain100L, SOTS outdoor, and for five tasks GoPro and LOL. Every image is centre-cropped to a multiple of 16;
  PSNR/SSIM on RGB in [0, 1] as scikit-image computes them.
* ``allweather`` (Setting I): the Histoformer test folders (``Allweather_Histoformer.yml``): Snow100K-S,
  Snow100K-L, Outdoor-Rain Test1 and RainDrop test_a. Whole images, reflect-padded to a multiple of 16 by the
  restorer; PSNR on the MATLAB-style Y channel and Gaussian 11x11 SSIM.

``paired`` (any two folders) is built with :func:`paired_set`. The folder layouts, with what each folder must
hold, are in ``docs/evaluation.md``.

Discovery (:func:`find_pairs`) reads names only; images are opened later by the runner. Every problem it finds
raises an exception whose message names the folder or file concerned.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.listing import list_images
from ..metrics import PROTOCOL_AIO, PROTOCOL_ALLWEATHER, Protocol

__all__ = [
    "BENCHMARKS",
    "MATCHERS",
    "Benchmark",
    "Pair",
    "TestSet",
    "find_pairs",
    "get_benchmark",
    "paired_set",
    "select_sets",
]

DOCS = "docs/evaluation.md"


# ----------------------------------------------------------------------------------------------------------
# pairing rules: degraded file name -> clean file names to try, in order
# ----------------------------------------------------------------------------------------------------------
def _same_name(name: str) -> list[str]:
    return [name]


def _sots(name: str) -> list[str]:
    """SOTS outdoor: hazy ``0001_0.8_0.2.jpg`` -> clear ``0001.png`` (AdaIR ``_get_gt_path``, task dehaze)."""
    return [name, name.split("_")[0] + ".png"]


def _rain100(name: str) -> list[str]:
    """Rain100L: same name as AdaIR distributes it (``input/1.png`` -> ``target/1.png``); else ``rain-N`` ->
    ``norain-N``, the names of the original release (and of the training folders)."""
    out = [name]
    if name.startswith("rain-"):
        out.append("norain-" + name[len("rain-") :])
    return out


def _raindrop(name: str) -> list[str]:
    """RainDrop: same name (Histoformer's copy); else the original ``N_rain.png`` -> ``N_clean.png``."""
    stem, ext = os.path.splitext(name)
    out = [name]
    if stem.endswith("_rain"):
        out.append(stem[: -len("_rain")] + "_clean" + ext)
    return out


_OUTDOOR_RAIN_SUFFIX = re.compile(r"_s\d+_a\d+$")


def _outdoor_rain(name: str) -> list[str]:
    """Outdoor-Rain Test1: same name (Histoformer's copy); else ``im_0001_s80_a04.png`` -> ``im_0001.png``."""
    stem, ext = os.path.splitext(name)
    out = [name]
    if _OUTDOOR_RAIN_SUFFIX.search(stem):
        out.append(_OUTDOOR_RAIN_SUFFIX.sub("", stem) + ext)
    return out


MATCHERS: dict[str, Callable[[str], list[str]]] = {
    "same-name": _same_name,
    "sots": _sots,
    "rain100": _rain100,
    "raindrop": _raindrop,
    "outdoor-rain": _outdoor_rain,
}
"""Pairing rules by name. Each gives the clean file names to try for a degraded file name, in order; when none
exists, a clean file with the same stem as a candidate and any image extension is accepted."""


# ----------------------------------------------------------------------------------------------------------
# descriptions
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TestSet:
    """One test set: where its images are, how degraded and clean images pair, and how it is scored.

    Attributes:
        name: the name tables and ``--sets`` use, e.g. ``"CBSD68-sigma25"``.
        task: the restoration task (``denoise``, ``derain``, ``dehaze``, ``deblur``, ``enhance``, ``desnow``,
            ``deraindrop``, ``paired``).
        gt_dir: folder of the clean images, relative to the data root (or absolute).
        lq_dir: folder of the degraded images, relative to the data root (or absolute); ``None`` when the
            degraded images are synthesised from the clean ones (CBSD68).
        match: the pairing rule, a key of :data:`MATCHERS`.
        protocol: how PSNR/SSIM are computed.
        crop_multiple: centre-crop both images to a multiple of this before restoring and scoring (AdaIR's
            ``crop_img(..., base=16)``); 0 keeps the whole image (the restorer reflect-pads it to a multiple of
            16 and crops the result back).
        noise_sigma: for synthesised sets, the Gaussian noise standard deviation on the 0..255 scale, added as
            the official test does (:func:`hogformer.data.degradations.official_test_noise`).
    """

    __test__ = False  # not a pytest test class, despite the name

    name: str
    task: str
    gt_dir: str
    lq_dir: str | None
    match: str = "same-name"
    protocol: Protocol = PROTOCOL_AIO
    crop_multiple: int = 0
    noise_sigma: float | None = None

    def __post_init__(self) -> None:
        if self.match not in MATCHERS:
            raise ValueError(f"unknown pairing rule {self.match!r}; valid rules: {', '.join(MATCHERS)}")
        if isinstance(self.crop_multiple, bool) or not isinstance(self.crop_multiple, int) or self.crop_multiple < 0:
            raise ValueError(f"crop_multiple must be an int >= 0, got {self.crop_multiple!r}")
        if (self.lq_dir is None) != (self.noise_sigma is not None):
            raise ValueError(f"{self.name}: a set has either a degraded folder or a noise sigma, exactly one")

    @property
    def synthetic(self) -> bool:
        """True when the degraded images are made from the clean ones (seeded noise)."""
        return self.lq_dir is None

    def preprocessing(self) -> str:
        """What happens to an image pair before the metrics, in words."""
        if self.crop_multiple:
            return f"centre-crop to a multiple of {self.crop_multiple}"
        return "whole image (reflect-padded to a multiple of 16 for the network, cropped back)"

    def describe(self, noise_seed: int | None = None) -> str:
        """The full protocol of this set on one line: metrics, preprocessing and, if any, the synthetic noise."""
        parts = [self.protocol.describe(), self.preprocessing()]
        if self.noise_sigma is not None:
            seed = "" if noise_seed is None else f", seed {noise_seed}+i"
            parts.append(f"noise sigma {self.noise_sigma:g}{seed}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Benchmark:
    """A named list of test sets, as one table of the paper reports them."""

    name: str
    title: str
    sets: tuple[TestSet, ...] = field(default_factory=tuple)

    def set_names(self) -> list[str]:
        return [s.name for s in self.sets]


def _aio(
    name: str, task: str, gt: str, lq: str | None, match: str = "same-name", sigma: float | None = None
) -> TestSet:
    return TestSet(name, task, gt, lq, match, PROTOCOL_AIO, crop_multiple=16, noise_sigma=sigma)


def _weather(name: str, task: str, folder: str, lq: str) -> TestSet:
    return TestSet(name, task, f"{folder}/gt", f"{folder}/{lq}", "same-name", PROTOCOL_ALLWEATHER, crop_multiple=0)


_THREE = (
    _aio("CBSD68-sigma15", "denoise", "denoise/bsd68", None, sigma=15.0),
    _aio("CBSD68-sigma25", "denoise", "denoise/bsd68", None, sigma=25.0),
    _aio("CBSD68-sigma50", "denoise", "denoise/bsd68", None, sigma=50.0),
    _aio("Rain100L", "derain", "derain/Rain100L/target", "derain/Rain100L/input", "rain100"),
    _aio("SOTS-outdoor", "dehaze", "dehaze/target", "dehaze/input", "sots"),
)
_FIVE_EXTRA = (
    _aio("GoPro", "deblur", "deblur/gopro/target", "deblur/gopro/input"),
    _aio("LOL", "enhance", "enhance/lol/target", "enhance/lol/input"),
)
_ALLWEATHER = (
    _weather("Snow100K-S", "desnow", "Snow100K-S", "synthetic"),
    _weather("Snow100K-L", "desnow", "Snow100K-L", "synthetic"),
    TestSet("Outdoor-Rain-Test1", "derain", "Test1/gt", "Test1/input", "outdoor-rain", PROTOCOL_ALLWEATHER),
    TestSet("RainDrop-test_a", "deraindrop", "RainDrop/gt", "RainDrop/input", "raindrop", PROTOCOL_ALLWEATHER),
)

BENCHMARKS: dict[str, Benchmark] = {
    "three-task": Benchmark("three-task", "Setting III: three tasks (AdaIR/PromptIR protocol)", _THREE),
    "five-task": Benchmark("five-task", "Setting IV: five tasks (AdaIR protocol)", _THREE + _FIVE_EXTRA),
    "allweather": Benchmark("allweather", "Setting I: all-weather (Histoformer protocol)", _ALLWEATHER),
}
"""The paper's benchmarks by name; the data root of each is described in ``docs/evaluation.md``."""


def get_benchmark(name: str) -> Benchmark:
    """The registered benchmark ``name`` (``three-task``, ``five-task``, ``allweather``)."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise ValueError(f"unknown benchmark {name!r}; choose one of {', '.join(BENCHMARKS)} or 'paired'") from None


def select_sets(benchmark: Benchmark, names: Sequence[str] | None) -> list[TestSet]:
    """The sets of ``benchmark`` named in ``names`` (case-insensitive, in the benchmark's order); all if None.

    Names may also be given comma-separated (``["Rain100L,LOL"]``).
    """
    if not names:
        return list(benchmark.sets)
    wanted = [n.strip().lower() for item in names for n in item.split(",") if n.strip()]
    known = {s.name.lower(): s for s in benchmark.sets}
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(
            f"unknown set(s) {', '.join(unknown)} for benchmark {benchmark.name}; "
            f"valid names: {', '.join(benchmark.set_names())}"
        )
    return [s for s in benchmark.sets if s.name.lower() in wanted]


def paired_set(
    lq_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    protocol: Protocol = PROTOCOL_AIO,
    *,
    crop_multiple: int = 0,
    name: str = "paired",
) -> TestSet:
    """A test set of any two folders, degraded and clean images paired by file name (or stem)."""
    return TestSet(name, "paired", os.fspath(gt_dir), os.fspath(lq_dir), "same-name", protocol, crop_multiple)


# ----------------------------------------------------------------------------------------------------------
# discovery
# ----------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """One image of a set: its name (for tables and saved files), its files, and its noise seed if synthetic."""

    name: str
    gt: Path
    lq: Path | None
    noise_seed: int | None = None


def _folder(root: Path | None, rel: str, test_set: TestSet, role: str) -> Path:
    path = Path(rel) if root is None else root / rel
    if not path.is_dir():
        where = f" under the data root {root}" if root is not None else ""
        what = "exists but is not a folder" if path.exists() else "is missing"
        raise FileNotFoundError(
            f"{path}: the {role} folder of {test_set.name} {what}{where} (expected layout: see {DOCS})"
        )
    return path


def _index(files: list[Path]) -> tuple[dict[str, Path], dict[str, list[Path]]]:
    by_name = {f.name: f for f in files}
    by_stem: dict[str, list[Path]] = {}
    for f in files:
        by_stem.setdefault(f.stem, []).append(f)
    return by_name, by_stem


def _find_gt(
    lq: Path, test_set: TestSet, gt_dir: Path, by_name: dict[str, Path], by_stem: dict[str, list[Path]]
) -> Path:
    candidates = MATCHERS[test_set.match](lq.name)
    for cand in candidates:
        if cand in by_name:
            return by_name[cand]
    for cand in candidates:
        same_stem = by_stem.get(Path(cand).stem, [])
        if len(same_stem) == 1:
            return same_stem[0]
        if len(same_stem) > 1:
            names = ", ".join(p.name for p in same_stem)
            raise ValueError(f"{lq}: ambiguous clean image in {gt_dir}: {names} all match; keep one")
    tried = ", ".join(candidates)
    raise FileNotFoundError(
        f"{lq}: no clean image for this degraded image in {gt_dir} (looked for {tried}, any image extension)"
    )


def find_pairs(
    test_set: TestSet,
    data_root: str | os.PathLike[str] | None,
    *,
    noise_seed: int = 0,
) -> list[Pair]:
    """List the image pairs of ``test_set`` under ``data_root``, sorted by file name.

    Degraded images are matched to clean ones by the set's rule (:data:`MATCHERS`); every degraded image must
    find a clean image and every clean image must be used. For a synthetic set every clean image is one pair,
    and image ``i`` (0-based, in file-name order) gets the noise seed ``noise_seed + i``.

    Args:
        test_set: the set.
        data_root: the folder the set's folders are relative to; ``None`` when they are absolute or relative
            to the working directory (``paired``).
        noise_seed: base seed of the synthetic noise.

    Raises:
        FileNotFoundError: a folder is missing or holds no image, or a degraded image has no clean image.
        ValueError: a clean image matches no degraded image, or matching is ambiguous.
    """
    root = None if data_root is None else Path(data_root)
    if root is not None and not root.is_dir():
        raise FileNotFoundError(f"{root}: data root not found (expected layout: see {DOCS})")
    gt_dir = _folder(root, test_set.gt_dir, test_set, "clean-image")
    gt_files = list_images([gt_dir])
    if test_set.lq_dir is None:
        return [Pair(f.stem, f, None, noise_seed + i) for i, f in enumerate(gt_files)]
    lq_dir = _folder(root, test_set.lq_dir, test_set, "degraded-image")
    lq_files = list_images([lq_dir])
    by_name, by_stem = _index(gt_files)
    pairs = [Pair(lq.stem, _find_gt(lq, test_set, gt_dir, by_name, by_stem), lq) for lq in lq_files]
    used = {p.gt for p in pairs}
    unused = [f for f in gt_files if f not in used]
    if unused:
        more = f" (and {len(unused) - 1} more)" if len(unused) > 1 else ""
        raise ValueError(
            f"{unused[0]}: clean image of {test_set.name} that no degraded image in {lq_dir} matches{more}; "
            f"the two folders must hold the same images"
        )
    return pairs
