"""Adaptive noising for SmoothTaylor (Goh et al., 2021, §4.3).

σ is searched per example to minimise an attribution-quality metric
(docs/reference.md#adaptive-noising).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from captum_smooth._utils import validation as check
from captum_smooth._utils.batching import select_forward_args, select_target
from captum_smooth._utils.captum_compat import TargetType, format_additional_forward_args
from captum_smooth._utils.models import one_training_warning
from captum_smooth._utils.progress import progress_bar
from captum_smooth.attr._engine import bookkeeping_dtype
from captum_smooth.attr._paths import checked_call
from captum_smooth.attr.smooth_taylor import SmoothTaylor

Objective = Callable[[Tensor, Tensor, TargetType], Tensor]
"""``objective(inputs, attributions, target) -> (B,)`` scores, lower is better; the paper's
AUPC and AUTVC: :func:`captum_smooth.metrics.objective`."""


class AdaptiveResult(NamedTuple):
    """What the search found, per example.

    Example:
        >>> from captum_smooth import AdaptiveSmoothTaylor
        >>> from captum_smooth.metrics import objective
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> search = AdaptiveSmoothTaylor(model, objective("autvc", min_size=4))
        >>> result = search.attribute(torch.rand(2, 3, 8, 8), target=0, n_samples=16,
        ...                           max_iterations=3, generator=torch.Generator().manual_seed(0))
        >>> sigma, score, runs = result.noise_scale, result.objective, result.n_evaluations
        >>> result.attributions.shape, sigma.shape, bool((runs <= 1 + 2 * 3).all())
        (torch.Size([2, 3, 8, 8]), torch.Size([2]), True)
    """

    attributions: Tensor
    """SmoothTaylor attributions at the chosen σ, shaped like the inputs."""
    noise_scale: Tensor
    """``(B,)`` the chosen σ, in the inputs' units (float32 at least, as the objective)."""
    objective: Tensor
    """``(B,)`` the objective's value for the returned attributions."""
    n_evaluations: Tensor
    """``(B,)`` how many SmoothTaylor runs (each followed by the objective) the search made."""


class AdaptiveSmoothTaylor:
    r"""SmoothTaylor with adaptive noising: a per-example search for the noise scale σ.

    The search minimises an attribution-quality objective (Goh et al., "Understanding
    Integrated Gradients with SmoothTaylor for Deep Neural Network Attribution", ICPR 2020,
    §4.3).

    The authors' search, run for all examples of a batch together: start at
    ``σ₀ = mean |x|``; with step ``η`` (0.1), try ``σ + η``, and if it does not improve the
    objective try ``|σ - η|``; a step that improves it is taken (and the count of failures is
    reset); when neither does, ``η ← decay · η`` (0.9). An example stops after ``patience``
    (3) failures in a row or ``max_iterations`` (20) iterations, keeping its best σ and the
    attributions it gave: at most ``1 + 2 · max_iterations`` objective evaluations. Each
    evaluation is a fresh SmoothTaylor run (new Gaussian roots), so the search is reproducible
    only under a ``generator``.

    Each SmoothTaylor run goes through :class:`~captum_smooth.SmoothTaylor` (the same
    template, engine and rule), with one σ per example; :attr:`smooth_taylor` is that method,
    e.g. to replace its ``value_and_grad_func``.

    Host reads: a run evaluates only the examples still searching (its rows and random draws
    depend on which they are), so that ``(B,)`` mask is read on the host before each run, two
    reads per iteration and none per sample or chunk. The rest of the search's state stays
    on the device; the checks of the later runs (finite outputs, gradients and scores) are
    read once, after the last run (docs/reference.md#host-reads).

    Example:
        >>> from captum_smooth import AdaptiveSmoothTaylor
        >>> from captum_smooth.examples import normalize
        >>> from captum_smooth.metrics import objective
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
        >>> raw = torch.rand(2, 3, 8, 8)  # pixels in [0, 1]
        >>> labels = torch.tensor([0, 2])
        >>> aupc = objective("aupc", model, input_transform=normalize, window_size=2,
        ...                  n_steps=4, n_candidates=8, generator=torch.Generator().manual_seed(1))
        >>> search = AdaptiveSmoothTaylor(model, aupc)
        >>> result = search.attribute(normalize(raw), target=labels, n_samples=32,
        ...     max_iterations=5, objective_inputs=raw, internal_batch_size=64,
        ...     generator=torch.Generator().manual_seed(0))
        >>> result.attributions.shape, result.noise_scale.shape
        (torch.Size([2, 3, 8, 8]), torch.Size([2]))
    """

    def __init__(self, forward_func: Callable[..., Any], objective: Objective) -> None:
        """Search σ for ``forward_func`` (the model) to minimise ``objective``.

        Args:
            forward_func: the model or any function returning its outputs.
            objective: ``objective(inputs, attributions, target) -> (B,)``, lower is better;
                the paper's AUPC or AUTVC from :func:`captum_smooth.metrics.objective`.
        """
        if not callable(forward_func):
            raise TypeError(f"`forward_func` must be callable, got {type(forward_func).__name__}")
        if isinstance(objective, str):
            raise TypeError(
                f"`objective` must be callable; for the paper's {objective!r} pass "
                f"captum_smooth.metrics.objective({objective!r}, model, ...)"
            )
        check.check_callable("objective", objective)
        self.forward_func = forward_func
        self.objective = objective
        self.smooth_taylor = SmoothTaylor(forward_func)

    @property
    def argument_hints(self) -> Mapping[str, str]:
        """For arguments of Captum's that ``attribute`` does not take: as SmoothTaylor's."""
        return SmoothTaylor.argument_hints

    @checked_call
    def attribute(
        self,
        inputs: Tensor,
        target: TargetType = None,
        additional_forward_args: Any = None,
        n_samples: int = 200,
        initial_noise_scale: float | Tensor | None = None,
        step_size: float = 0.1,
        step_decay: float = 0.9,
        patience: int = 3,
        max_iterations: int = 20,
        objective_inputs: Tensor | None = None,
        internal_batch_size: int | None = None,
        generator: torch.Generator | None = None,
        show_progress: bool = False,
        *,
        return_error: bool = False,
    ) -> AdaptiveResult | tuple[AdaptiveResult, Tensor]:
        """Search σ per example and return the attributions it gives.

        Args:
            inputs: a batch of inputs (one tensor, batch first, floating point).
            target: the output to explain, in any of Captum's forms.
            additional_forward_args: passed to ``forward_func`` after the inputs; tensors are
                taken to be per example (batch first), as in the engine.
            n_samples: R, Gaussian roots per SmoothTaylor run.
            initial_noise_scale: σ₀: a float, a ``(B,)`` tensor, or ``None`` for the
                authors' ``mean |x|`` per example.
            step_size: η, the initial step in σ (> 0).
            step_decay: the factor applied to η after a failed iteration, in (0, 1].
            patience: failed iterations in a row after which an example stops.
            max_iterations: the most iterations per example.
            objective_inputs: what the objective is given as the inputs, row for row (e.g. the
                raw pixels when ``inputs`` are normalised); default ``inputs``.
            internal_batch_size: at most this many rows go through the model at once.
            generator: the source of the Gaussian noise, for a reproducible search.
            show_progress: show a progress bar over the search's iterations (it stops early
                when every example has stopped).
            return_error: also return the standard error of the returned attributions, per
                feature: that of the SmoothTaylor run they came from, at its σ and ``n_samples``
                (docs/reference.md#error-estimates).

        Returns:
            :class:`AdaptiveResult` ``(attributions, noise_scale, objective, n_evaluations)``;
            with ``return_error=True``, ``(result, error)``, ``error`` shaped like the
            attributions (float32 at least).
        """
        inputs_tuple, is_tuple = check.format_inputs(inputs)
        if is_tuple:
            raise TypeError("`inputs` must be one tensor: the search scores one map per example")
        (x,) = inputs_tuple
        n_examples = x.shape[0]
        check.check_count("n_samples", n_samples)
        sigma = self._initial_sigma(initial_noise_scale, x)
        step = check.check_scale("step_size", step_size)
        if step == 0:
            raise ValueError("`step_size` must be positive")
        decay = check.check_scale("step_decay", step_decay)
        if not 0 < decay <= 1:
            raise ValueError(f"`step_decay` must lie in (0, 1], got {step_decay}")
        check.check_count("patience", patience)
        check.check_count("max_iterations", max_iterations)
        scored = (
            x
            if objective_inputs is None
            else check.check_tensor("objective_inputs", objective_inputs, x.device)
        )
        if scored.shape[0] != n_examples:
            raise ValueError("`objective_inputs` must be a tensor with one row per example")
        check.check_batch_size(internal_batch_size)
        generator = check.check_generator(generator, x)
        check.check_target(target, n_examples, x)
        forward_args = format_additional_forward_args(additional_forward_args)
        check.check_forward_args(forward_args, (x,))
        check.check_flag("show_progress", show_progress)
        check.check_flag("return_error", return_error)

        def run(
            searching: Tensor, rows: list[int], sigmas: Tensor
        ) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
            """SmoothTaylor at ``sigmas`` (one per example) for the examples ``rows``.

            ``rows`` are where the ``(B,)`` mask ``searching`` holds, read on the host. Returns
            them as an index tensor, with their attributions, the objective's scores and (with
            ``return_error``) the attributions' standard error.
            """
            # where the mask holds, in order, found on the device: a tensor made from ``rows``
            # would be a copy to the device, which waits for the queued work as a read does
            index = torch.argsort((~searching).byte(), stable=True)[: len(rows)]
            ranges = _ranges(rows)
            sub_target = select_target(target, ranges, n_examples)
            outputs = self.smooth_taylor.attribute(
                x[index],
                target=sub_target,
                additional_forward_args=select_forward_args(forward_args, ranges),
                n_samples=n_samples,
                noise_scale=sigmas[index],
                internal_batch_size=internal_batch_size,
                generator=generator,
                return_error=return_error,
            )
            attributions, error = outputs if return_error else (outputs, None)
            scores = self._score(scored[index], attributions, sub_target)
            return index, attributions, scores, error

        # many SmoothTaylor calls, one warning for a model left in training mode
        with one_training_warning(self.forward_func):
            searching = torch.ones(n_examples, dtype=torch.bool, device=x.device)
            _, best_attributions, best_scores, best_error = run(
                searching, list(range(n_examples)), sigma
            )
            rate = torch.full_like(sigma, step)
            failures = torch.zeros(n_examples, dtype=torch.long, device=x.device)
            evaluations = torch.ones(n_examples, dtype=torch.long, device=x.device)
            per_example = (-1,) + (1,) * (x.dim() - 1)
            progress = progress_bar(
                show_progress, max_iterations, type(self).__name__, unit="iterations"
            )
            # The state stays on the device, updated over all examples (a step changes only
            # those searching). The first run's checks were read at once, so that a model
            # giving NaN is named before the objective sees its attributions; those of the
            # later runs (outputs, gradients, scores) are read once, after the last.
            with progress or contextlib.nullcontext(), check.deferred_checks():
                for _ in range(max_iterations):
                    rows = _where(searching)
                    if not rows:
                        break
                    up = sigma + rate
                    index, attributions, scores, error = run(searching, rows, up)
                    attributions = best_attributions.index_copy(0, index, attributions)
                    scores = best_scores.index_copy(0, index, scores)
                    error = _placed(best_error, index, error)
                    improved = searching & (scores < best_scores)
                    retry = searching & ~improved
                    candidates = up
                    retry_rows = _where(retry)
                    if retry_rows:
                        down = (sigma - rate).abs()
                        index, retried, retried_scores, retried_error = run(retry, retry_rows, down)
                        attributions = attributions.index_copy(0, index, retried)
                        scores = scores.index_copy(0, index, retried_scores)
                        error = _placed(error, index, retried_error)
                        candidates = torch.where(retry, down, up)
                        improved = searching & (scores < best_scores)
                    evaluations += searching.long() + retry.long()
                    sigma = torch.where(improved, candidates, sigma)
                    best_scores = torch.where(improved, scores, best_scores)
                    best_attributions = torch.where(
                        improved.view(per_example), attributions, best_attributions
                    )
                    if best_error is not None and error is not None:
                        best_error = torch.where(improved.view(per_example), error, best_error)
                    failed = searching & ~improved
                    failures = torch.where(improved, 0, failures + failed.long())
                    rate = torch.where(failed, rate * decay, rate)
                    searching = searching & (failures < patience)
                    if progress is not None:
                        progress.update(1)
            result = AdaptiveResult(best_attributions, sigma, best_scores, evaluations)
            return (result, best_error) if best_error is not None else result

    def _initial_sigma(self, value: float | Tensor | None, x: Tensor) -> Tensor:
        # the search's σ and scores are bookkeeping: float32 at least, whatever the model's
        # dtype (in bfloat16, σ + η would round to 3 significant digits)
        x = x.to(bookkeeping_dtype(x.dtype))
        if value is None:
            return x.abs().reshape(x.shape[0], -1).mean(dim=1)
        if isinstance(value, Tensor) and value.numel() not in (1, x.shape[0]):
            raise ValueError(
                f"`initial_noise_scale` must be a float or hold one value per example, got "
                f"shape {tuple(value.shape)}"
            )
        if not isinstance(value, Tensor):
            check.check_scale("initial_noise_scale", value)
        sigma = check.as_tensor_like("initial_noise_scale", value, x.new_empty(x.shape[:1]))
        if (sigma < 0).any():
            raise ValueError("`initial_noise_scale` must be non-negative")
        return sigma.expand(x.shape[0]).clone()

    def _score(self, inputs: Tensor, attributions: Tensor, target: TargetType) -> Tensor:
        scores = self.objective(inputs, attributions, target)
        message = (
            f"`objective` must return one finite score per example, a tensor of shape "
            f"({inputs.shape[0]},)"
        )
        if not isinstance(scores, Tensor) or scores.shape != (inputs.shape[0],):
            raise ValueError(message)
        # inside the search's deferred_checks, read once after its last run
        check.require(torch.isfinite(scores), message)
        return scores.to(device=attributions.device, dtype=bookkeeping_dtype(attributions.dtype))


def _placed(whole: Tensor | None, index: Tensor, part: Tensor | None) -> Tensor | None:
    """``whole`` with the examples ``index`` replaced by ``part`` (``None`` without errors)."""
    if whole is None or part is None:
        return None
    return whole.index_copy(0, index, part.to(whole.dtype))


def _where(mask: Tensor) -> list[int]:
    """The examples where ``mask`` holds, read on the host: the search's one read per run."""
    return [i for i, held in enumerate(mask.tolist()) if held]


def _ranges(rows: list[int]) -> list[range]:
    """Increasing ``rows`` as runs of consecutive examples, as the engine keeps its rows."""
    runs: list[range] = []
    for row in rows:
        if runs and runs[-1].stop == row:
            runs[-1] = range(runs[-1].start, row + 1)
        else:
            runs.append(range(row, row + 1))
    return runs
