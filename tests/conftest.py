import os

import pytest
import torch
from hypothesis import HealthCheck, settings

# CAPTUM_SMOOTH_TEST_DEVICE=cuda (or cuda:1, ...) runs the suite on that device
# (benchmarks/gpu_check.sh): tensors and modules the tests create land there, and so do
# generators made with `torch.Generator()`, which torch.set_default_device leaves on the CPU,
# where the tests could not draw their data on the default device with them (the methods
# accept a CPU generator with inputs elsewhere: test_validation.py tests that with an explicit
# `torch.Generator(device="cpu")`). Tests that
# compare with NumPy or PIL references, or run the package in a subprocess, still run on the
# CPU where they say so, or fail where they do not.
TEST_DEVICE = os.environ.get("CAPTUM_SMOOTH_TEST_DEVICE", "")


class _GeneratorType(type(torch.Generator)):
    def __instancecheck__(cls, instance: object) -> bool:
        if cls is _DefaultDeviceGenerator:  # every generator, as `torch.Generator` says
            return isinstance(instance, torch._C.Generator)
        return super().__instancecheck__(instance)


class _DefaultDeviceGenerator(torch._C.Generator, metaclass=_GeneratorType):
    """``torch.Generator`` whose default device is torch's default device."""

    def __new__(cls, device=None):
        return super().__new__(cls, device=torch.get_default_device() if device is None else device)


if TEST_DEVICE:
    torch.set_default_device(TEST_DEVICE)
    torch.Generator = _DefaultDeviceGenerator


def pytest_configure(config: pytest.Config) -> None:
    if TEST_DEVICE:
        try:
            torch.empty(1, device=TEST_DEVICE) + 1
        except (RuntimeError, AssertionError) as error:
            raise pytest.UsageError(
                f"CAPTUM_SMOOTH_TEST_DEVICE={TEST_DEVICE!r} is not usable here: {error}"
            ) from error


def pytest_report_header() -> str:
    return f"captum_smooth test device: {TEST_DEVICE or 'cpu (torch default)'}"


# CI: derandomized, bounded and without deadlines (shared machines are noisy).
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
# CI's bounds with random draws: pass --hypothesis-seed=N to vary them reproducibly.
settings.register_profile(
    "seeded",
    derandomize=False,
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
# Local, thorough: many more examples.
settings.register_profile(
    "thorough", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
