"""Evaluate attribution methods on a model and a data set: per-image scores, tables, figures.

Runs in one process, or under ``torchrun`` on several processes or machines
(``torch.distributed``): batches are sharded across ranks and gathered on rank 0, with the
same numbers as a single-process run.
"""

from captum_smooth._utils.method import Method
from captum_smooth.evaluation.chance import RandomMap
from captum_smooth.evaluation.result import EvaluationResult, MetricResult
from captum_smooth.evaluation.run import evaluate_methods

__all__ = ["EvaluationResult", "Method", "MetricResult", "RandomMap", "evaluate_methods"]
