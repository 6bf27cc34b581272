"""The augmentation registry of AugmentedGate.

Each augmentation works in the mixture's input space (float32 ``(N, C, H, W)`` in [0, 1]), on
the whole batch at once: ``(x, generator, **params) -> tensor``; only the random numbers
are drawn sample by sample (:class:`_SampleRandom`), so that a sample's views do not depend
on its position in the batch.
:data:`AUGMENTATIONS` lists them with their default parameters, :data:`AUGMENTATION_SETS` the
named lists of passes, and :func:`resolve_augmentations` validates a user's list.
"""

import hashlib
import math
from numbers import Real
from typing import NamedTuple

import numpy as np
import torch
from torch.nn import functional as nnf
from torchvision.transforms.v2 import functional as F

# -- per-sample random numbers ---------------------------------------------------------------
_MASK64 = 2**64 - 1


def _splitmix64(z):
    """splitmix64's finaliser on a Python int: a bijective scramble of 64 bits."""
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK64
    return z ^ (z >> 31)


class _SampleRandom:
    """Random numbers of each sample from its own values and a seed, not from its position.

    Every sample has a key, a hash of its values and the seed; each draw seeds a torch
    generator from the key and the draw's number and fills that sample's part. A sample
    gets the same numbers in any chunk, batch, order or subset of ``X``, so its augmented
    views, hence the gate's decision for it, do not depend on what else is predicted with
    it (equal samples get equal views). Stands in for a ``torch.Generator`` in the
    augmentations (:func:`_uniform`, :func:`_normal`).
    """

    def __init__(self, X, seed):
        self._X, self._seed, self._keys, self._draws = X, int(seed), None, 0
        self._generator = torch.Generator()

    def fill(self, shape, method):
        """A float32 tensor of ``shape``, row ``i`` filled by ``method`` ("uniform_",
        "normal_") from sample ``i``'s generator; every call is a new draw."""
        if self._keys is None:  # hashed at the first draw: sharpening and flips draw none
            rows = np.ascontiguousarray(self._X, dtype=np.float32).reshape(len(self._X), -1)
            salt = self._seed.to_bytes(8, "little")
            self._keys = [int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8,
                                                         key=salt).digest(), "little")
                          for row in rows]
        self._draws += 1
        out = torch.empty(shape)
        for i, key in enumerate(self._keys):
            seed = _splitmix64(key + self._draws * 0x9E3779B97F4A7C15 & _MASK64) >> 1
            getattr(out[i], method)(generator=self._generator.manual_seed(seed))
        return out


def _uniform(generator, shape):
    """Uniform [0, 1) from a ``torch.Generator`` or, per sample, a :class:`_SampleRandom`."""
    if isinstance(generator, torch.Generator):
        return torch.rand(shape, generator=generator)
    return generator.fill(shape, "uniform_")


def _normal(generator, shape):
    """Standard normal from a ``torch.Generator`` or, per sample, a :class:`_SampleRandom`."""
    if isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator)
    return generator.fill(shape, "normal_")


# -- augmentations: (N, ...) float32 tensor, random source, params -> tensor -----------------
# (the source is a torch.Generator or, in AugmentedGate, a per-sample _SampleRandom)
def _clip(x, clip):
    return x.clamp_(0.0, 1.0) if clip else x


def _sharpen(x, generator, *, alpha, lightness, clip):
    # imgaug's Sharpen(alpha, lightness): the image blended with its sharpened version, kernel
    # (1 - alpha) * identity + alpha * [[-1, -1, -1], [-1, 8 + lightness, -1], [-1, -1, -1]],
    # i.e. (1 + alpha * (8 + lightness)) * x - alpha * (3 x 3 box sum of x); borders replicated.
    # (Sums of shifted slices: several times faster than a depthwise conv2d on the CPU.)
    padded = nnf.pad(x, (1, 1, 1, 1), mode="replicate")
    rows = padded[..., :-2, :] + padded[..., 1:-1, :] + padded[..., 2:, :]
    box = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
    return _clip(x * (1.0 + alpha * (8.0 + lightness)) - alpha * box, clip)


def _gaussian_noise(x, generator, *, std, clip):
    # v2.functional.gaussian_noise(x, sigma=std, clip=clip), drawn from our own generator
    return _clip(x + std * _normal(generator, x.shape), clip)


def _poisson_noise(x, generator, *, rate, scale, clip):
    # the original code adds min(Poisson(rate), 1) to every value: a Bernoulli(1 - e^-rate) draw
    events = _uniform(generator, x.shape) < -math.expm1(-rate)
    return _clip(x + scale * events, clip)


def _horizontal_flip(x, generator):
    return F.horizontal_flip(x)


def _vertical_flip(x, generator):
    return F.vertical_flip(x)


def _crop_boxes(n, height, width, scale, ratio, generator):
    """One ``v2.RandomResizedCrop`` box per sample, drawn for all samples at once.

    Returns integer ``(top, left, h, w)`` tensors of shape ``(n,)``, with the distribution of
    ``v2.RandomResizedCrop.make_params``: 10 tries of a random area and log-uniform aspect
    ratio, the first that fits, else the central crop of the closest allowed ratio.
    """
    tries = 10
    area = height * width * (scale[0] + (scale[1] - scale[0]) * _uniform(generator, (n, tries)))
    low, high = math.log(ratio[0]), math.log(ratio[1])
    log_ratio = low + (high - low) * _uniform(generator, (n, tries))
    aspect = torch.exp(log_ratio)
    w = torch.round(torch.sqrt(area * aspect)).long()
    h = torch.round(torch.sqrt(area / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.long().argmax(dim=1, keepdim=True)  # the first try that fits
    found = fits.any(dim=1)
    w, h = w.gather(1, first)[:, 0], h.gather(1, first)[:, 0]
    top = (_uniform(generator, (n,)) * (height - h + 1)).long()
    left = (_uniform(generator, (n,)) * (width - w + 1)).long()
    if not found.all():  # the fallback central crop, as torchvision's
        in_ratio = width / height
        if in_ratio < min(ratio):
            fw, fh = width, int(round(width / min(ratio)))
        elif in_ratio > max(ratio):
            fw, fh = int(round(height * max(ratio))), height
        else:
            fw, fh = width, height
        w, h = torch.where(found, w, fw), torch.where(found, h, fh)
        top = torch.where(found, top, (height - fh) // 2)
        left = torch.where(found, left, (width - fw) // 2)
    return top, left, h, w


def _random_resized_crop(x, generator, *, scale, ratio):
    # v2.RandomResizedCrop(size=(H, W), scale, ratio) with one box per sample, resized back to
    # (H, W) bilinearly as v2.functional.resized_crop does: sample positions
    # left + (j + 0.5) * w / W - 0.5, clamped to the box, read with one grid_sample call
    n, _, height, width = x.shape
    top, left, h, w = _crop_boxes(n, height, width, scale, ratio, generator)

    def positions(start, length, size):
        pos = start[:, None] + (torch.arange(size) + 0.5) * (length[:, None] / size) - 0.5
        pos = pos.clamp(min=start[:, None].float(), max=(start + length - 1)[:, None].float())
        return (2 * pos + 1) / size - 1  # grid_sample's coordinates (align_corners=False)

    gx = positions(left, w, width)[:, None, :].expand(n, height, width)
    gy = positions(top, h, height)[:, :, None].expand(n, height, width)
    grid = torch.stack([gx, gy], dim=-1).to(x.dtype)
    return nnf.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


# -- parameter checks ---------------------------------------------------------------------------
def _is_real(v):
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


class _Check(NamedTuple):
    test: object
    text: str


_UNIT = _Check(lambda v: _is_real(v) and 0 <= v <= 1, "a real number in [0, 1]")
_NON_NEGATIVE = _Check(lambda v: _is_real(v) and v >= 0, "a real number >= 0")
_BOOL = _Check(lambda v: isinstance(v, (bool, np.bool_)), "a bool")
_SCALE = _Check(
    lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and all(map(_is_real, v))
    and 0 < v[0] <= v[1] <= 1,
    "a pair (low, high) with 0 < low <= high <= 1",
)
_RATIO = _Check(
    lambda v: isinstance(v, (tuple, list)) and len(v) == 2 and all(map(_is_real, v))
    and 0 < v[0] <= v[1],
    "a pair (low, high) with 0 < low <= high",
)


class _Augmentation(NamedTuple):
    func: object
    defaults: dict
    checks: dict
    spatial: bool  # needs images (N, C, H, W)


_AUGMENTATIONS = {
    "sharpen": _Augmentation(
        _sharpen, {"alpha": 0.5, "lightness": 1.0, "clip": True},
        {"alpha": _UNIT, "lightness": _NON_NEGATIVE, "clip": _BOOL}, True),
    "gaussian_noise": _Augmentation(
        _gaussian_noise, {"std": 1.0, "clip": True},
        {"std": _NON_NEGATIVE, "clip": _BOOL}, False),
    "poisson_noise": _Augmentation(
        _poisson_noise, {"rate": 0.5, "scale": 1.0, "clip": True},
        {"rate": _NON_NEGATIVE, "scale": _NON_NEGATIVE, "clip": _BOOL}, False),
    "horizontal_flip": _Augmentation(_horizontal_flip, {}, {}, True),
    "vertical_flip": _Augmentation(_vertical_flip, {}, {}, True),
    "random_resized_crop": _Augmentation(
        _random_resized_crop, {"scale": (0.08, 1.0), "ratio": (3 / 4, 4 / 3)},
        {"scale": _SCALE, "ratio": _RATIO}, True),
}

#: augmentation name -> its parameters and their defaults (one pass each)
AUGMENTATIONS = {name: dict(aug.defaults) for name, aug in _AUGMENTATIONS.items()}


def _passes(name, key, values):
    return tuple((name, {key: v}) for v in values)


#: The augmentation sets of Table 3 of the paper, one (name, params) pair per pass
AUGMENTATION_SETS = {
    "sharpen": (("sharpen", {"alpha": 0.5}),),
    "sharpen_5_alphas": _passes("sharpen", "alpha", (0.1, 0.3, 0.5, 0.7, 1.0)),
    "gaussian": (("gaussian_noise", {"std": 1.0}),),
    "gaussian_5": (("gaussian_noise", {"std": 1.0}),) * 5,
    "gaussian_6_stds": _passes("gaussian_noise", "std", (0.05, 0.1, 0.3, 0.5, 0.7, 1.0)),
    "poisson": (("poisson_noise", {"rate": 0.5}),),
    "poisson_5": (("poisson_noise", {"rate": 0.5}),) * 5,
    "poisson_6_rates": _passes("poisson_noise", "rate", (0.05, 0.1, 0.3, 0.5, 0.7, 1.0)),
    "flips": (("horizontal_flip", {}), ("vertical_flip", {})),
    "random_crop": (("random_resized_crop", {}),),
}


def _known_augmentations():
    return "; ".join(
        f"{name}({', '.join(f'{p}={d!r}' for p, d in aug.defaults.items())})"
        for name, aug in _AUGMENTATIONS.items()
    )


def resolve_augmentations(augmentations):
    """Check an augmentation setting and return its passes with every parameter filled in.

    Parameters
    ----------
    augmentations : str or sequence
        A key of :data:`AUGMENTATION_SETS`, or a sequence of passes, each a
        ``(name, params)`` pair or a bare name (its default parameters).

    Returns
    -------
    passes : list of (str, dict)
        One ``(name, params)`` pair per pass, ``params`` complete.

    Raises
    ------
    ValueError
        Naming the unknown augmentation or parameter, or the bad value, and
        what is allowed.

    Examples
    --------
    >>> resolve_augmentations([("gaussian_noise", {"std": 0.1}), "horizontal_flip"])
    [('gaussian_noise', {'std': 0.1, 'clip': True}), ('horizontal_flip', {})]
    """
    if isinstance(augmentations, str):
        if augmentations not in AUGMENTATION_SETS:
            raise ValueError(
                f"Unknown augmentation set {augmentations!r}; the sets are "
                f"{sorted(AUGMENTATION_SETS)}, or give a list of (name, params) passes."
            )
        augmentations = AUGMENTATION_SETS[augmentations]
    passes = []
    for item in augmentations:
        if isinstance(item, str):
            name, params = item, {}
        elif isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], dict):
            name, params = item
        else:
            raise ValueError(
                f"Each augmentation must be a (name, params dict) pair or a name, got {item!r}."
            )
        if name not in _AUGMENTATIONS:
            raise ValueError(
                f"Unknown augmentation {name!r}. The augmentations, with their parameters and "
                f"defaults, are: {_known_augmentations()}."
            )
        aug = _AUGMENTATIONS[name]
        for key, value in params.items():
            if key not in aug.checks:
                allowed = ", ".join(aug.checks) or "none"
                raise ValueError(
                    f"Unknown parameter {key!r} for augmentation {name!r}; its parameters are: "
                    f"{allowed}."
                )
            if not aug.checks[key].test(value):
                raise ValueError(
                    f"Parameter {key!r} of augmentation {name!r} must be {aug.checks[key].text}, "
                    f"got {value!r}."
                )
        passes.append((name, {**aug.defaults, **params}))
    return passes
