"""Evaluation results: per-image scores, summary tables with standard errors, paired tests."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class MetricResult:
    """One metric on one batch: per-image scores and, if the metric gives them, curves.

    Example:
        >>> from captum_smooth.evaluation import MetricResult
        >>> from captum_smooth.metrics import autvc
        >>> result = MetricResult.of(autvc(torch.randn(2, 3, 32, 32), min_size=8))
        >>> result.scores.shape, result.curves.shape  # a result's score and curve
        (torch.Size([2]), torch.Size([2, 4]))
        >>> MetricResult.of(torch.tensor([0.5, 0.7])).curves is None  # scores only
        True
    """

    scores: Tensor
    curves: Tensor | None = None

    @classmethod
    def of(cls, value: Any) -> MetricResult:
        """A metric's return value (a tensor, or a result with ``score`` and ``curve``) as one."""
        if isinstance(value, Tensor):
            return cls(value.detach().reshape(-1))
        scores = getattr(value, "score", None)
        if not isinstance(scores, Tensor):
            raise TypeError(
                "a metric must return a tensor of per-example scores or an object with a "
                f"`score` tensor, got {type(value).__name__}"
            )
        curves = getattr(value, "curve", None)
        return cls(scores.detach().reshape(-1), curves if isinstance(curves, Tensor) else None)

    def to(self, device: str) -> MetricResult:
        """The same scores and curves on ``device``."""
        return MetricResult(
            self.scores.to(device), None if self.curves is None else self.curves.to(device)
        )


@dataclass
class EvaluationResult:
    """Per-image scores of every method under every metric, in data-set order.

    ``curve_labels`` maps a metric's name to the ``(x, y)`` axis labels of its curves, as the
    metric declares them (the adapters' ``curve_labels`` attribute); :meth:`plot_curves` uses
    them.

    Example:
        >>> from captum.attr import IntegratedGradients
        >>> from captum_smooth import SmoothTaylor
        >>> from captum_smooth.evaluation import Method, RandomMap, evaluate_methods
        >>> from captum_smooth.metrics import insertion
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3)).eval()
        >>> dataset = [(torch.rand(3, 8, 8), label) for label in (0, 1, 2, 0)]  # (image, label)
        >>> methods = [Method("SmoothTaylor", SmoothTaylor, {"n_samples": 16}, random=True),
        ...            Method("IG", IntegratedGradients),
        ...            Method("random map", RandomMap, random=True)]
        >>> result = evaluate_methods(model, dataset, methods, {"insertion": insertion},
        ...                           batch_size=2)
        >>> result.methods, result.metrics
        (['SmoothTaylor', 'IG', 'random map'], ['insertion'])
        >>> result.curves["IG", "insertion"].shape  # 4 images, 21 points
        torch.Size([4, 21])
        >>> [row["method"] for row in result.summary()]
        ['SmoothTaylor', 'IG', 'random map']
        >>> sorted(result.paired_test("IG", "random map", "insertion"))
        ['mean_difference', 'n_a_higher', 'n_b_higher', 'p_value']
    """

    methods: list[str]
    metrics: list[str]
    scores: dict[tuple[str, str], Tensor]
    curves: dict[tuple[str, str], Tensor]
    targets: Tensor
    curve_labels: dict[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def from_batches(
        cls,
        methods: list[str],
        metrics: list[str],
        batches: list[dict[tuple[str, str], MetricResult]],
        targets: Tensor,
        curve_labels: dict[str, tuple[str, str]] | None = None,
    ) -> EvaluationResult:
        """The per-batch results (in data-set order) joined into one result per method × metric."""
        scores, curves = {}, {}
        for key in [(m, k) for m in methods for k in metrics]:
            scores[key] = torch.cat([b[key].scores.double().cpu() for b in batches])
            parts = [b[key].curves for b in batches]
            if parts and all(p is not None for p in parts):
                curves[key] = torch.cat([p.double().cpu() for p in parts])
        return cls(methods, metrics, scores, curves, targets, dict(curve_labels or {}))

    def summary(self) -> list[dict[str, Any]]:
        """One row per method: ``{metric: (mean, standard error)}`` over images.

        NaN scores (images a metric skips) are left out.
        """
        rows = []
        for method in self.methods:
            row: dict[str, Any] = {"method": method}
            for metric in self.metrics:
                values = self.scores[method, metric]
                values = values[~torch.isnan(values)]
                n = values.numel()
                mean = values.mean().item() if n else math.nan
                se = (values.std().item() / math.sqrt(n)) if n > 1 else math.nan
                row[metric] = (mean, se)
            rows.append(row)
        return rows

    def paired_test(self, method_a: str, method_b: str, metric: str) -> dict[str, float]:
        """Wilcoxon signed-rank test of ``a - b`` over the images both have a score for.

        Returns:
            The mean difference, the p-value, and how many images favour each side.
        """
        from scipy.stats import wilcoxon

        a, b = self.scores[method_a, metric], self.scores[method_b, metric]
        keep = ~(torch.isnan(a) | torch.isnan(b))
        diff = (a - b)[keep]
        if diff.numel() == 0 or bool((diff == 0).all()):
            p_value = math.nan if diff.numel() == 0 else 1.0
        else:
            p_value = float(wilcoxon(diff.numpy()).pvalue)
        return {
            "mean_difference": diff.mean().item() if diff.numel() else math.nan,
            "p_value": p_value,
            "n_a_higher": int((diff > 0).sum()),
            "n_b_higher": int((diff < 0).sum()),
        }

    def aggregate(self, method: str, metric: str, how: str = "median") -> tuple[float, Tensor]:
        """The data-set level score of PAIR's performance information curves.

        The median (SIC) or mean (AIC) of the per-image curves over images with a curve (NaN
        rows are skipped images), and the area under it by the trapezoid rule on [0, 1].
        """
        curves = self.curves.get((method, metric))
        if curves is None:
            raise ValueError(f"metric {metric!r} gave no curves for {method!r}")
        kept = curves[~torch.isnan(curves).any(dim=1)]
        if kept.shape[0] == 0:
            return math.nan, torch.full((curves.shape[1],), math.nan, dtype=curves.dtype)
        if how == "median":
            curve = kept.median(dim=0).values
        elif how == "mean":
            curve = kept.mean(dim=0)
        else:
            raise ValueError(f"`how` must be 'median' or 'mean', got {how!r}")
        x = torch.linspace(0, 1, curve.numel(), dtype=curve.dtype)
        return torch.trapezoid(curve, x).item(), curve

    def to_markdown(self, digits: int = 4) -> str:
        """The summary as a Markdown table, ``mean ± standard error`` per cell."""
        header = "| method | " + " | ".join(self.metrics) + " |"
        lines = [header, "|" + "---|" * (len(self.metrics) + 1)]
        for row in self.summary():
            cells = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in (row[k] for k in self.metrics)]
            lines.append(f"| {row['method']} | " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_csv(self, path: str | Path) -> None:
        """Per-image scores, one row per image and method, one column per metric."""
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "target", "method", *self.metrics])
            for method in self.methods:
                for i in range(self.targets.numel()):
                    values = [self.scores[method, k][i].item() for k in self.metrics]
                    writer.writerow([i, int(self.targets[i]), method, *values])

    def plot_curves(
        self,
        metric: str,
        path: str | Path | None = None,
        *,
        band: str | None = "se",
        paired: tuple[str, str] | None = None,
        xlabel: str | None = None,
        ylabel: str | None = None,
    ) -> Figure:
        """The mean curve of ``metric`` per method over the images, with a band of their spread.

        The figure is saved to ``path`` when given.

        The x axis runs from the curve's first point (0) to its last (1): for insertion the
        fraction of pixels inserted, for AUPC the fraction of the windows perturbed. The axis
        labels are the metric's ``curve_labels`` (the adapters declare them: insertion's
        ``p(class)`` against ``fraction of pixels inserted``), else ``xlabel``/``ylabel``,
        which also override them.

        Args:
            metric: a metric that returned curves.
            path: where to save the figure (any format matplotlib writes), or ``None``.
            band: ``"se"`` shades the mean ± one standard error over images, ``"iqr"`` the
                25th to 75th percentile of the images' curves, ``None`` draws no band.
            paired: ``(a, b)`` puts the paired test of ``a`` against ``b`` on ``metric``
                (:meth:`paired_test`) in the title: the mean difference, the Wilcoxon p-value
                and on how many images ``a`` scores higher.
            xlabel: the x axis label, instead of the metric's.
            ylabel: the y axis label, instead of the metric's.

        Returns:
            The matplotlib ``Figure``. It is not attached to pyplot, so it neither changes the
            backend nor stays open (in Jupyter, display it by leaving it last in a cell).
        """
        from matplotlib.figure import Figure

        if band not in ("se", "iqr", None):
            raise ValueError(f"`band` must be 'se', 'iqr' or None, got {band!r}")
        default_x, default_y = self.curve_labels.get(
            metric, ("fraction of the curve (0 → 1)", metric)
        )
        figure = Figure(figsize=(5.5, 4))
        axis = figure.subplots()
        counts = set()
        for method in self.methods:
            curves = self.curves.get((method, metric))
            if curves is None:
                raise ValueError(f"metric {metric!r} gave no curves for {method!r}")
            curves = curves[~torch.isnan(curves).any(dim=1)]  # images the metric skipped
            counts.add(curves.shape[0])
            x = torch.linspace(0, 1, curves.shape[1])
            mean = curves.mean(0)
            (line,) = axis.plot(x, mean, label=method)
            spread = _spread(curves, band)
            if spread is not None:
                low, high = spread
                axis.fill_between(x, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        n_images = counts.pop() if len(counts) == 1 else "the"
        title = f"{metric}: mean over {n_images} images"
        if band is not None:
            title += ", band " + ("± 1 standard error" if band == "se" else "25th–75th percentile")
        if paired is not None:
            a, b = paired
            test = self.paired_test(a, b, metric)
            n = test["n_a_higher"] + test["n_b_higher"]
            title += (
                f"\n{a} − {b}: {test['mean_difference']:+.3g}, Wilcoxon p = "
                f"{test['p_value']:.2g}, {a} higher on {test['n_a_higher']}/{n} images"
            )
        axis.set_title(title, fontsize=9)
        axis.set_xlabel(xlabel or default_x)
        axis.set_ylabel(ylabel or default_y)
        axis.legend(fontsize=8)
        figure.tight_layout()
        if path is not None:
            figure.savefig(path)
        return figure


def _spread(curves: Tensor, band: str | None) -> tuple[Tensor, Tensor] | None:
    """The band around the mean curve: ± one standard error, or the interquartile range."""
    if band is None or curves.shape[0] < 2:
        return None
    if band == "se":
        se = curves.std(0) / math.sqrt(curves.shape[0])
        mean = curves.mean(0)
        return mean - se, mean + se
    return curves.quantile(0.25, dim=0), curves.quantile(0.75, dim=0)
