"""The pytest file of docs/axioms.md ("Check the axioms in your CI"), shipped with the package.

So that it can be copied from an installed captum_smooth:
``python -c "from captum_smooth.axioms import CI_TEMPLATE; print(CI_TEMPLATE, end='')"``.
"""

CI_TEMPLATE = """\
# test_attribution_axioms.py
from captum.attr import IntegratedGradients
from hypothesis import given, settings, strategies as st

from captum_smooth.axioms import check_completeness, check_sensitivity
from my_project import load_images, load_model  # yours: a model and a few inputs

MODEL, IMAGES = load_model().double().eval(), load_images()[:8].double()
METHOD, KWARGS = IntegratedGradients, {"n_steps": 128}
N_CLASSES = 10


# derandomize: every run draws the same examples (the checks pass for any draw)
@settings(max_examples=20, derandomize=True, deadline=None)
@given(
    i=st.integers(0, len(IMAGES) - 1),
    pixel=st.integers(0, IMAGES[0].numel() - 1),
    scale=st.floats(0, 1),
    target=st.integers(0, N_CLASSES - 1),
)
def test_attribution_axioms(i, pixel, scale, target):
    x, one_off = IMAGES[i : i + 1], IMAGES[i : i + 1].clone()
    one_off.view(-1)[pixel] = 0.0  # x' differs from x in one pixel
    check_completeness(
        METHOD, MODEL, x, scale * x, target=target, attribute_kwargs=KWARGS, rtol=1e-2
    )
    check_sensitivity(METHOD, MODEL, x, one_off, target=target, attribute_kwargs=KWARGS)
"""
"""A pytest file checking completeness and sensitivity (a) of an attribution method on your
model: point its ``my_project`` import at your model and a few of your inputs."""
