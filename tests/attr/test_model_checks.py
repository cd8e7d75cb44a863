"""What the package checks about the model itself: training mode, several outputs
(SelectOutput), layer activations read before a later in-place operation, and SmoothGradSquared
only on paths whose weights are sample weights."""

import pickle
import warnings

import pytest
import torch
from torch import nn

from captum_smooth import (
    BlurIntegratedGradients,
    GuidedIntegratedGradients,
    NoiseBaselineIntegratedGradients,
    SelectOutput,
    SmoothGradSquared,
    SmoothTaylor,
)
from captum_smooth._utils.captum_compat import run_forward
from captum_smooth._utils.models import training_modules
from captum_smooth.attr._layer import LayerHooks
from captum_smooth.attr.layer import (
    LayerBlurIntegratedGradients,
    LayerGuidedIntegratedGradients,
    LayerNoiseBaselineIntegratedGradients,
    LayerSmoothTaylor,
)


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def net(*middle):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), *middle, nn.Linear(6, 3)).double()


X = torch.rand(3, 4, dtype=torch.float64, generator=seeded(1))


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = net(nn.Dropout(0.5))

    def forward(self, x):
        logits = self.body(x)
        return {"logits": logits, "probabilities": logits.softmax(-1), "n": 3}


# ---------------------------------------------------------------- training mode


@pytest.mark.parametrize(
    ("middle", "names"),
    [
        ((nn.BatchNorm1d(6),), ["1"]),
        ((nn.Dropout(0.1),), ["1"]),
        ((nn.BatchNorm1d(6, track_running_stats=False), nn.Dropout(0.0)), []),
        ((nn.InstanceNorm1d(6, track_running_stats=True),), ["1"]),
        ((nn.InstanceNorm1d(6),), []),
        ((nn.ReLU(), nn.AlphaDropout(0.2)), ["2"]),
    ],
    ids=["batch norm", "dropout", "nothing mode-dependent", "instance norm stats", "instance "
         "norm", "alpha dropout"],
)  # fmt: skip
def test_only_modules_whose_forward_depends_on_the_mode_count(middle, names):
    model = net(*middle).train()
    assert training_modules(model) == names
    assert training_modules(model.eval()) == []


def test_a_bound_method_of_a_model_in_training_mode_warns_once_naming_eval():
    model = net(nn.Dropout(0.3))
    with pytest.warns(UserWarning, match=r"model\.eval\(\)") as caught:
        SmoothTaylor(model.forward).attribute(X, target=0, n_samples=2, generator=seeded())
    assert len(caught) == 1


def test_a_model_in_eval_mode_or_a_plain_function_does_not_warn():
    model = net(nn.BatchNorm1d(6), nn.Dropout(0.3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SmoothTaylor(model.eval()).attribute(X, target=0, n_samples=2, generator=seeded())
        SmoothTaylor(lambda x: model(x)).attribute(X, target=0, n_samples=2, generator=seeded())


# ---------------------------------------------------------------- SelectOutput


def test_select_output_attributes_one_output_and_pickles():
    model = TwoHeads().eval()
    selected = SelectOutput(model, "probabilities")
    again = pickle.loads(pickle.dumps(selected))
    ours = SmoothTaylor(again).attribute(X, target=1, n_samples=2, generator=seeded())
    expected = SmoothTaylor(lambda x: model(x)["probabilities"]).attribute(
        X, target=1, n_samples=2, generator=seeded()
    )
    torch.testing.assert_close(ours, expected)


def test_select_output_reaches_the_model_with_eval():
    model = TwoHeads()
    SelectOutput(model, "logits").eval()
    assert not model.training


@pytest.mark.parametrize(
    ("forward", "key", "error", "message"),
    [
        (TwoHeads(), "loggits", ValueError, "`key` 'loggits'.*keys"),
        (TwoHeads(), "n", TypeError, "`key` 'n' selects a int"),
        (lambda x: (x, x), 2, ValueError, "`key` 2.*tuple of 2"),
        (net(), 0, TypeError, "`forward_func` returns a tensor already"),
    ],
    ids=["missing key", "not a tensor", "index past the end", "a tensor already"],
)
def test_select_output_says_what_is_wrong(forward, key, error, message):
    with pytest.raises(error, match=message):
        SelectOutput(forward, key)(X)


@pytest.mark.parametrize(("forward", "key"), [(0, 0), (net(), True), (net(), 0.5)])
def test_select_output_checks_its_arguments(forward, key):
    with pytest.raises(TypeError, match=r"`forward_func`|`key`"):
        SelectOutput(forward, key)


def test_run_forward_names_the_remedy_for_several_outputs():
    """Metrics and axiom checks call the model through run_forward too."""
    with pytest.raises(TypeError, match=r"`forward_func`.*dict with keys.*SelectOutput"):
        run_forward(TwoHeads(), X, 0)


# ---------------------------------------------------------------- layer activations


def test_layer_activations_are_read_before_a_later_in_place_operation():
    model = net(nn.BatchNorm1d(6), nn.ReLU(inplace=True)).eval()
    (activations,), _ = LayerHooks([model[1]], to_input=False).activations(model, (X,), None)
    expected = model[1](model[0](X)).detach()
    assert (expected < 0).any()  # the ReLU would have changed them
    torch.testing.assert_close(activations, expected)


# ---------------------------------------------------------------- SmoothGradSquared


class Counting(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.rows = model, 0

    def forward(self, x):
        self.rows += x.shape[0]
        return self.model(x)


IMAGES = torch.rand(2, 1, 4, 4, dtype=torch.float64, generator=seeded(2))


def conv():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Flatten(),
                         nn.Linear(32, 3)).double().eval()  # fmt: skip


@pytest.mark.parametrize(
    ("make", "settings"),
    [
        (BlurIntegratedGradients, {"n_steps": 4, "max_sigma": 2.0}),
        (GuidedIntegratedGradients, {"n_steps": 4}),
        (lambda m: LayerBlurIntegratedGradients(m, m.model[1]), {"n_steps": 4, "max_sigma": 2.0}),
        (lambda m: LayerGuidedIntegratedGradients(m, m.model[1]), {"n_steps": 4}),
    ],
    ids=["Blur IG", "Guided IG", "layer Blur IG", "layer Guided IG"],
)
def test_smoothgrad_squared_refuses_a_path_of_integral_steps_before_evaluating_it(make, settings):
    model = Counting(conv())
    with pytest.raises(ValueError, match=r"`attribution_method`.*samples"):
        SmoothGradSquared(make(model)).attribute(IMAGES, target=0, **settings)
    # at most the path's first block, after a layer's activations on inputs and baselines
    assert model.rows <= 3 * IMAGES.shape[0]


@pytest.mark.parametrize(
    ("make", "settings"),
    [
        (SmoothTaylor, {"n_samples": 3}),
        (NoiseBaselineIntegratedGradients, {"n_baselines": 2, "n_steps": 3}),
        (lambda m: LayerSmoothTaylor(m, m[1]), {"n_samples": 3}),
        (lambda m: LayerNoiseBaselineIntegratedGradients(m, m[1]), {"n_baselines": 2,
                                                                     "n_steps": 3}),
    ],
    ids=["SmoothTaylor", "noise-baseline IG", "layer SmoothTaylor", "layer noise-baseline IG"],
)  # fmt: skip
def test_smoothgrad_squared_on_sample_weights_is_a_mean_of_squares(make, settings):
    squares = SmoothGradSquared(make(conv())).attribute(
        IMAGES, target=0, generator=seeded(), **settings
    )
    assert (squares >= 0).all() and (squares > 0).any()
