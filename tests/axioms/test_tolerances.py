"""The checks' tolerances: relative to the numbers compared, with a rounding floor, so that the
verdicts do not depend on the output's scale; and the cases a check cannot decide."""

import warnings

import pytest
import torch
from captum.attr import Attribution, DeepLift, IntegratedGradients, Saliency
from torch import nn

from captum_smooth import IDGI, SmoothTaylor
from captum_smooth.axioms import (
    ROUNDING_ULPS,
    AxiomUnresolvedWarning,
    AxiomViolation,
    CheckResult,
    check_completeness,
    check_dummy,
    check_implementation_invariance,
    check_linearity,
    check_sensitivity,
    check_symmetry,
)
from captum_smooth.axioms.networks import (
    IgnoringFeatures,
    Symmetrized,
    lecture_networks,
    mlp,
    saturated_relu,
    split_hidden_unit,
)
from tests.axioms.counterexamples import Function, flat, image, linear


class Scaled(nn.Module):
    """``scale · model(x)``."""

    def __init__(self, model: nn.Module, scale: float) -> None:
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.model(x)


def net(seed=0, activation="tanh"):
    return mlp(3, [4], activation, generator=torch.Generator().manual_seed(seed))


X = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]], dtype=torch.float64)
IG = {"n_steps": 32}
IDGI_IG = lambda m: IDGI(IntegratedGradients(m))  # noqa: E731


def _ramp_between_steps():
    return Function(lambda x: torch.relu(x[:, :1] - 0.001) - torch.relu(x[:, :1] - 0.002))


# Each case runs one check on a model scaled by `s`; the first of each axiom holds, the
# second is a documented violation (tests/axioms/counterexamples.py).
CASES = {
    "completeness holds": lambda s: check_completeness(
        IntegratedGradients, Scaled(net(), s), X, 0.5 * X, attribute_kwargs=IG, rtol=1e-3
    ),
    "completeness violated": lambda s: check_completeness(
        Saliency, Scaled(saturated_relu(), s), image(2.0).flatten(1), image(0.0).flatten(1)
    ),
    "sensitivity holds": lambda s: check_sensitivity(
        IntegratedGradients, Scaled(saturated_relu(), s), X[:1, :1], 0 * X[:1, :1]
    ),
    "sensitivity violated": lambda s: check_sensitivity(
        Saliency, Scaled(saturated_relu(), s), image(2.0).flatten(1), image(0.0).flatten(1)
    ),
    "dummy holds": lambda s: check_dummy(
        IntegratedGradients,
        Scaled(IgnoringFeatures(net(), (3,), [1]), s),
        X,
        dummy_features=[1],
        attribute_kwargs=IG,
    ),
    "dummy violated": lambda s: check_dummy(
        IDGI_IG,
        Scaled(_ramp_between_steps(), s),
        image(1.0, 1.0),
        image(0.0, 0.0),
        dummy_features=[1],
        attribute_kwargs={"n_steps": 24},
    ),
    "invariance holds": lambda s: check_implementation_invariance(
        IntegratedGradients,
        Scaled(net(), s),
        Scaled(split_hidden_unit(net(), 0, 1, 0.3), s),
        X,
        attribute_kwargs=IG,
    ),
    "invariance violated": lambda s: check_implementation_invariance(
        DeepLift, *(Scaled(m, s) for m in lecture_networks()), torch.tensor([[3.0, 1.0]]).double()
    ),
    "linearity holds": lambda s: check_linearity(
        IntegratedGradients, Scaled(net(0), s), Scaled(net(1), s), X, a=2.0, b=-1.0
    ),
    "linearity violated": lambda s: check_linearity(
        IDGI_IG,
        Scaled(flat(linear(1.0, 0.0)), s),
        Scaled(flat(linear(0.0, 2.0)), s),
        image(1.0, 1.0),
        image(0.0, 0.0),
    ),
    "symmetry holds": lambda s: check_symmetry(
        IntegratedGradients,
        Scaled(Symmetrized(net(), (0, 2)), s),
        X[:, [0, 1, 0]],
        symmetric_features=(0, 2),
        attribute_kwargs=IG,
    ),
    "symmetry violated": lambda s: check_symmetry(
        SmoothTaylor,
        Scaled(flat(linear(1.0, 1.0)), s),
        image(1.0, 1.0),
        image(0.0, 0.0),
        symmetric_features=(0, 1),
        attribute_kwargs={"n_samples": 8, "noise_scale": 0.5},
    ),
}


AXIOM_NAMES = {
    "completeness": "completeness",
    "sensitivity": r"sensitivity \(a\)",
    "dummy": r"sensitivity \(b\)",
    "invariance": "implementation invariance",
    "linearity": "linearity",
    "symmetry": "symmetry preservation",
}


@pytest.mark.parametrize("scale", [1e-8, 1.0, 1e3])
@pytest.mark.parametrize("case", CASES)
def test_verdicts_do_not_depend_on_the_scale_of_the_output(case, scale):
    if case.endswith("violated"):
        with pytest.raises(AxiomViolation, match=f"^{AXIOM_NAMES[case.split()[0]]} violated"):
            CASES[case](scale)
    else:
        assert set(CASES[case](scale).status) == {"holds"}


def test_completeness_is_blind_to_a_constant_added_to_the_output():
    # Four right Riemann steps miss a quarter of a ReLU network's change, whatever its offset;
    # a tolerance relative to |f(x)| + |f(x') would pass it once the outputs are large.
    model = net(0, "relu")
    lifted = Function(lambda x: model(x) + 1e6)
    kwargs = {"n_steps": 4, "method": "riemann_right"}
    for m in (model, lifted):
        with pytest.raises(AxiomViolation, match="completeness violated"):
            check_completeness(IntegratedGradients, m, X, 0.0, attribute_kwargs=kwargs, rtol=1e-2)


def test_completeness_is_relative_to_how_much_the_output_moves_on_the_way():
    # f = x(1 - x) from 0 to 1 rises by 1/4 and falls back: f(x) - f(x') = 0, and eight left
    # Riemann steps give Σ A = 1/8. Relative to |f(x) - f(x')| + Σ|A| that gap is 100 %, at any
    # n_steps; relative to what the quadrature integrates (V = 1/2 on the way) it is 20 %.
    bump = Function(lambda x: x * (1 - x))
    x, baseline = torch.ones(1, 1).double(), torch.zeros(1, 1).double()
    kwargs = {"n_steps": 8, "method": "riemann_left"}
    result = check_completeness(
        IntegratedGradients, bump, x, baseline, attribute_kwargs=kwargs, rtol=0.3
    )
    torch.testing.assert_close(result.measured, torch.tensor([1 / 8]).double())
    expected = 0.3 * (0 + 1 / 2 + 1 / 8) + ROUNDING_ULPS * torch.finfo(torch.float64).eps / 8
    torch.testing.assert_close(result.tolerance, torch.tensor([expected]).double())
    with pytest.raises(AxiomViolation, match="completeness violated"):
        check_completeness(
            IntegratedGradients, bump, x, baseline, attribute_kwargs=kwargs, rtol=0.1
        )


def test_completeness_allows_rounding_and_nothing_more_without_tolerances():
    # IDGI splits the measured Δf of every step: complete up to rounding at any n_steps.
    result = check_completeness(IDGI_IG, net(), X, 0.5 * X, atol=0.0, rtol=0.0)
    assert set(result.status) == {"holds"}
    assert (result.measured.abs() <= result.tolerance).all()
    assert (result.tolerance > 0).all()
    with pytest.raises(AxiomViolation):
        check_completeness(IntegratedGradients, net(), X, 0.5 * X, atol=0.0, rtol=0.0)


def test_a_quadrature_that_catches_part_of_the_change_gives_a_non_zero_attribution():
    # The case: f = s·(1 - ReLU(1 - x)) rises only on the first 1 % of the path from 0
    # to 100, where one of 24 Gauss-Legendre nodes lies: IG gives 0.62·s of the change s. With
    # s = 1.5e-6 that is below the old absolute threshold of 1e-6 and still not zero.
    s = 1.5e-6
    result = check_sensitivity(
        IntegratedGradients,
        Scaled(saturated_relu(), s),
        torch.tensor([[100.0]], dtype=torch.float64),
        torch.tensor([[0.0]], dtype=torch.float64),
        attribute_kwargs={"n_steps": 24},
    )
    assert result.status == ("holds",)
    assert 0 < result.measured.item() < 1e-6 < s
    assert result.measured.item() > 1e6 * result.tolerance.item()


def test_a_zero_attribution_within_the_methods_convergence_delta_is_unresolved():
    # No right Riemann node of 24 lies in the first 1 % of the path: IG gives exactly 0, and
    # its convergence delta is the whole change. That is a missed kink, not a broken axiom.
    x, baseline = torch.tensor([[100.0]]).double(), torch.tensor([[0.0]]).double()
    coarse = {"n_steps": 24, "method": "riemann_right"}
    with pytest.warns(AxiomUnresolvedWarning, match=r"convergence delta \(1\).*raise n_steps"):
        result = check_sensitivity(
            IntegratedGradients, saturated_relu(), x, baseline, attribute_kwargs=coarse
        )
    assert result.status == ("unresolved",) and result.unresolved == [0]
    assert result.measured.item() == 0.0
    assert "f(x) - f(x') = 1 and feature 0" in result.notes[0]
    fine = {"n_steps": 400, "method": "riemann_right"}
    result = check_sensitivity(
        IntegratedGradients, saturated_relu(), x, baseline, attribute_kwargs=fine
    )
    assert result.status == ("holds",)


def test_a_method_without_a_convergence_delta_cannot_excuse_a_zero_attribution():
    with pytest.raises(AxiomViolation, match=r"= 1 but feature 0, .* gets attribution 0 \("):
        check_sensitivity(
            Saliency,
            saturated_relu(),
            torch.tensor([[100.0]]).double(),
            torch.tensor([[0.0]]).double(),
        )


def test_an_output_change_within_rounding_is_unresolved():
    # ((x + 1) - x) is 1 in exact arithmetic, with a zero gradient; in float64 it is 1 at
    # x = 0.1 and 1 - 2⁻⁵³ at x = 0.9.
    rounding = Function(lambda x: (x[:, :1] + 1) - x[:, :1])
    x = torch.tensor([[0.9]], dtype=torch.float64)
    baseline = torch.tensor([[0.1]], dtype=torch.float64)
    assert rounding(x).item() != rounding(baseline).item()
    with pytest.warns(AxiomUnresolvedWarning, match="within the rounding of the outputs"):
        result = check_sensitivity(Saliency, rounding, x, baseline)
    assert result.status == ("unresolved",)


def test_the_unresolved_warning_points_at_the_call_of_the_check():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_sensitivity(
            IntegratedGradients,
            saturated_relu(),
            torch.tensor([[100.0]]).double(),
            torch.tensor([[0.0]]).double(),
            attribute_kwargs={"n_steps": 24, "method": "riemann_right"},
        )
    (warning,) = [w for w in caught if w.category is AxiomUnresolvedWarning]
    assert warning.filename == __file__


def test_every_check_returns_its_measurements():
    results = [CASES[case](1.0) for case in CASES if case.endswith("holds")]
    assert [r.axiom for r in results] == [
        "completeness",
        "sensitivity (a)",
        "sensitivity (b)",
        "implementation invariance",
        "linearity",
        "symmetry preservation",
    ]
    for result in results:
        assert isinstance(result, CheckResult)
        assert len(result.status) == len(result.measured) == len(result.tolerance)
        assert result.notes == ("",) * len(result.status) and result.unresolved == []
        exceeds = result.measured.abs() > result.tolerance
        # sensitivity (a) bounds |A_i| from below, the other checks bound a gap from above
        assert exceeds.all() if result.axiom == "sensitivity (a)" else not exceeds.any()


def test_without_tolerances_completeness_allows_rounding_in_the_dtype_compared():
    # IDGI is complete to rounding; the floor is ROUNDING_ULPS units in the last place of
    # |f(x)| + |f(x')| + Σ|A|, in the dtype of the model.
    for dtype in (torch.float32, torch.float64):
        model = mlp(3, [4], "tanh", generator=torch.Generator().manual_seed(0), dtype=dtype)
        inputs = X.to(dtype)
        result = check_completeness(IDGI_IG, model, inputs, 0.0, atol=0.0, rtol=0.0)
        mass = IDGI_IG(model).attribute(inputs, baselines=0 * inputs).abs().sum(dim=1)
        magnitude = model(inputs).abs().flatten() + model(0 * inputs).abs().flatten() + mass
        expected = ROUNDING_ULPS * torch.finfo(dtype).eps * magnitude
        torch.testing.assert_close(result.tolerance, expected.detach())
        assert (result.measured.abs() <= result.tolerance).all()


class _DrawsPerExample(Attribution):
    """A sampling method without baselines, like NoiseTunnel over noise-baseline IG: its
    attributions are the inputs, and its convergence deltas, three draws per example in
    Captum's order (by example, then draw), are the example's last feature."""

    def attribute(self, inputs, target=None, additional_forward_args=None, **kwargs):
        delta = inputs[:, -1].repeat_interleave(3)
        return (inputs, delta) if kwargs.get("return_convergence_delta") else inputs

    def has_convergence_delta(self):
        return True


def test_sampling_deltas_are_averaged_per_example():
    # Example 0 has a gap of 1 in a sum of 1000, example 1 none; averaging the deltas across
    # examples would hand a third of example 0's gap to example 1.
    inputs = torch.tensor([[999.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    result = check_completeness(_DrawsPerExample, flat(linear(1.0, 1.0)), inputs, rtol=1e-2)
    torch.testing.assert_close(result.measured, torch.tensor([1.0, 0.0]).double())
