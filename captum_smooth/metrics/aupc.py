"""Area under the perturbation curve (Goh et al., 2021, SmoothTaylor paper).

See docs/reference.md#aupc.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.progress import progress_bar
from captum_smooth.metrics import _common as common


class AUPCResult(NamedTuple):
    """Per-example AUPC and the curves behind it.

    Example:
        >>> from captum_smooth.metrics import aupc
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> images = torch.rand(2, 3, 8, 8)  # raw pixels in [0, 1]
        >>> attributions = torch.randn(2, 3, 8, 8)
        >>> result = aupc(model, images, attributions, target=1, window_size=2, n_steps=4,
        ...               n_candidates=8, generator=torch.Generator().manual_seed(0))
        >>> result.score.shape, result.curve.shape, result.windows.shape  # 4 windows' corners
        (torch.Size([2]), torch.Size([2, 5]), torch.Size([2, 4, 2]))
    """

    score: Tensor
    """``(B,)`` AUPC, Simpson's rule over the curve; lower is better."""
    curve: Tensor
    """``(B, n_steps + 1)``: ``[f(x), mean f after window 1, …] / |f(x)|``."""
    windows: Tensor
    """``(B, n_steps, 2)`` top-left corner (row, column) of each perturbed window, in order;
    ``-1`` where no free window was left."""


def aupc(
    forward_func: Callable[..., Any],
    inputs: Tensor,
    attributions: Tensor,
    target: Any = None,
    *,
    window_size: int = 15,
    n_steps: int = 30,
    n_candidates: int = 50,
    pixel_range: tuple[float, float] = (0.0, 1.0),
    input_transform: common.InputTransform | None = None,
    channel_reduction: common.ChannelReduction = "sum",
    batch_size: int | None = None,
    generator: torch.Generator | None = None,
    show_progress: bool = False,
    cache: common.Cache | None = None,
) -> AUPCResult:
    r"""Area under the perturbation curve, AUPC (Goh et al., ICPR 2020, §5.1).

    Reference: Goh et al., "Understanding Integrated Gradients with SmoothTaylor for Deep
    Neural Network Attribution", ICPR 2020, §5.1.

    The 2-D map (channels summed) scores every ``k × k`` window by its mean ``|attribution|``;
    up to ``L`` non-overlapping windows are picked greedily, best first. They are perturbed
    one after another, cumulatively: each is replaced by uniform noise in ``pixel_range``
    (``P`` candidates), the mean output over the candidates is recorded and the candidate whose
    output is closest to the median is kept for the next step. With ``f`` the model's output
    for the target (the raw logit in the paper):

    .. math:: c = [f(x), \bar f_1, …, \bar f_L] / |f(x)|, \qquad
              \mathrm{AUPC} = \int_0^L c \ \text{(Simpson's rule, } dx = 1)

    Lower is better (the output falls fastest when the map's top windows are perturbed).
    For a positive ``f(x)`` the curve starts at 1 and the score lies in ``[0, L]`` while
    outputs stay in ``[0, f(x)]``; it is unbounded otherwise. When no free window is left
    (small images) the remaining steps leave the image unchanged.

    Args:
        forward_func: the model: images → outputs ``(B, K)``.
        inputs: ``(B, C, H, W)`` images in *raw pixel* space (the space of ``pixel_range``).
        attributions: ``(B, C, H, W)`` attributions of ``inputs`` or a ``(B, H, W)`` map.
        target: the class per example (int, sequence or tensor); ``None``: the model's top-1
            class on ``inputs``.
        window_size: ``k``, the window side in pixels (paper: 15).
        n_steps: ``L``, the number of windows perturbed (paper: 30).
        n_candidates: ``P``, noise candidates per step (paper: 50).
        pixel_range: ``(low, high)`` of the uniform noise, in raw pixel units (paper: [0, 1)).
        input_transform: raw pixels → model inputs (e.g. ImageNet normalisation); applied to
            every row before ``forward_func``. ``None``: the identity.
        channel_reduction: ``"sum"`` (signed, default) or ``"abs_sum"`` over channels.
        batch_size: at most this many rows go through the model at once (``None``: as many
            as hold 2.5 million input elements, 16 rows of 3×224×224). Chunks never span
            two steps: each step starts from the previous step's kept candidates.
        generator: the source of the noise, for reproducible scores.
        show_progress: show a tqdm progress bar over the rows.
        cache: a dict shared by calls on the same images (``evaluate_methods`` passes one per
            batch): the unperturbed images' outputs are computed once. The perturbed images
            are not cached: they are rarely the same for two maps, and looking them up would
            read the device once per step.

    Returns:
        :class:`AUPCResult` ``(score, curve, windows)``.

    Example:
        >>> from captum_smooth.examples import normalize
        >>> from captum_smooth.metrics import aupc
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> images = torch.rand(2, 3, 8, 8)  # raw pixels in [0, 1]
        >>> attributions = torch.randn(2, 3, 8, 8)
        >>> result = aupc(model, images, attributions, target=torch.tensor([0, 2]),
        ...               window_size=2, n_steps=4, n_candidates=8, input_transform=normalize,
        ...               batch_size=256, generator=torch.Generator().manual_seed(0))
        >>> result.score.shape, result.curve[:, 0].abs().tolist()  # from f(x) / |f(x)| = ±1
        (torch.Size([2]), [1.0, 1.0])
    """
    images = common.check_images("inputs", inputs)
    common.check_class_indices(target, images)
    heatmap = common.saliency_map(attributions, images.shape, channel_reduction, images.device)
    check.check_callable("forward_func", forward_func)
    check.check_callable("input_transform", input_transform, optional=True)
    check.check_count("window_size", window_size)
    check.check_count("n_steps", n_steps)
    check.check_count("n_candidates", n_candidates)
    low, high = check.check_range("pixel_range", pixel_range)
    check.check_batch_size(batch_size, "batch_size")
    generator = check.check_generator(generator, images)
    n_examples, _, height, width = images.shape
    if window_size > min(height, width):
        raise ValueError(
            f"`window_size` ({window_size}) is larger than the images ({height}×{width})"
        )

    windows = _greedy_windows(heatmap.abs(), window_size, n_steps)
    progress = progress_bar(show_progress, n_examples * (1 + n_steps * n_candidates), "AUPC")

    common.check_cache(cache)
    outputs = common.model_outputs(
        forward_func,
        lambda a, b: images[a:b],
        n_examples,
        batch_size,
        input_transform,
        progress,
        cache,
    )
    classes = common.target_per_example(target, outputs)
    original = _pick(outputs, classes)
    if (original == 0).any():
        raise ValueError(
            "the model's output for `target` is 0 on some input: AUPC divides by |f(x)|"
        )

    # the steps' model checks are read once, after the last step
    checks = common.FiniteChecks()
    current = images
    means = []
    for step in range(n_steps):
        corner = windows[:, step].clamp(min=0)
        noise = check.rand_like(
            images.new_empty((n_examples, n_candidates, images.shape[1], window_size, window_size)),
            generator,
        )
        noise = low + (high - low) * noise
        # An example without a free window keeps its pixels: its "noise" is the window itself.
        exhausted = (windows[:, step, 0] < 0).view(-1, 1, 1, 1, 1)
        noise = torch.where(exhausted, _crop(current, corner, window_size)[:, None], noise)

        def perturbed(
            start: int,
            stop: int,
            state: Tensor = current,
            at: Tensor = corner,
            fill: Tensor = noise,
        ) -> Tensor:
            index = torch.arange(start, stop, device=images.device)
            example, candidate = index // n_candidates, index % n_candidates
            return _paste(state[example], at[example], fill[example, candidate])

        values = _pick(
            common.model_outputs(
                forward_func,
                perturbed,
                n_examples * n_candidates,
                batch_size,
                input_transform,
                progress,
                checks=checks,
            ),
            classes.repeat_interleave(n_candidates),
        ).view(n_examples, n_candidates)
        means.append(values.mean(dim=1))
        median = values.double().quantile(0.5, dim=1, keepdim=True)
        kept = (values.double() - median).abs().argmin(dim=1)
        examples = torch.arange(n_examples, device=noise.device)
        current = _paste(current, corner, noise[examples, kept])
    if progress is not None:
        progress.close()
    checks.raise_if_bad()

    curve = torch.stack([original, *means], dim=1) / original.abs()[:, None]
    return AUPCResult(common.simpson(curve), curve, windows)


def _pick(outputs: Tensor, classes: Tensor) -> Tensor:
    return outputs.gather(1, classes[:, None].to(outputs.device)).squeeze(1)


def _window_index(images: Tensor, corner: Tensor, size: int) -> tuple[Tensor, ...]:
    """Advanced indices of the ``size × size`` window at ``corner`` (row, column) per image."""
    offsets = torch.arange(size, device=images.device)
    top, left = corner.to(images.device).unbind(dim=1)
    return (
        torch.arange(images.shape[0], device=images.device)[:, None, None, None],
        torch.arange(images.shape[1], device=images.device)[None, :, None, None],
        (top[:, None] + offsets)[:, None, :, None],
        (left[:, None] + offsets)[:, None, None, :],
    )


def _crop(images: Tensor, corner: Tensor, size: int) -> Tensor:
    return images[_window_index(images, corner, size)]


def _paste(images: Tensor, corner: Tensor, patches: Tensor) -> Tensor:
    """A copy of ``images`` with ``patches`` ``(B, C, k, k)`` written at ``corner``."""
    pasted = images.clone()
    pasted[_window_index(images, corner, patches.shape[-1])] = patches
    return pasted


def _greedy_windows(magnitude: Tensor, size: int, n_windows: int) -> Tensor:
    """Top-left corners ``(B, n_windows, 2)`` of greedily chosen ``size × size`` windows.

    The windows do not overlap and have the largest mean ``magnitude``, best first; a corner
    is ``-1`` once none is free.
    """
    scores = torch.nn.functional.avg_pool2d(magnitude[:, None], size, stride=1)[:, 0]
    n_examples, n_rows, n_cols = scores.shape
    rows = torch.arange(n_rows, device=scores.device)[None, :, None]
    cols = torch.arange(n_cols, device=scores.device)[None, None, :]
    corners = []
    for _ in range(n_windows):
        best, flat = scores.reshape(n_examples, -1).max(dim=1)
        top, left = flat // n_cols, flat % n_cols
        free = best > -torch.inf
        corners.append(torch.where(free[:, None], torch.stack([top, left], dim=1), -1))
        overlaps = ((rows - top[:, None, None]).abs() < size) & (
            (cols - left[:, None, None]).abs() < size
        )
        scores = scores.masked_fill(overlaps & free[:, None, None], -torch.inf)
    return torch.stack(corners, dim=1)
