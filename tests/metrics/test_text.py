"""Token metrics: check values on a hand-made model whose logit is a sum of token weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from captum_smooth.metrics import (
    localisation,
    token_deletion,
    token_insertion,
    token_localisation,
    token_pointing_game,
    token_scores,
)

WEIGHTS = torch.tensor([0.0, 2.0, 1.0, -1.0, 5.0], dtype=torch.float64)
"""The logit each token id adds to class 1; id 0 (the replacement) adds nothing."""


class TokenSum(nn.Module):
    """Logits ``[0, Σ_t w[id_t] · mask_t]``; counts the rows it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.rows = 0

    def forward(self, ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        self.rows += ids.shape[0]
        contributions = WEIGHTS[ids]
        if attention_mask is not None:
            contributions = contributions * attention_mask
        logit = contributions.sum(dim=1)
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


IDS = torch.tensor([[1, 2, 3]])
CONTRIBUTIONS = WEIGHTS[IDS]  # (2, 1, -1): the exact attribution of each token to the logit


def test_token_scores_sum_the_embedding_dimension_signed_or_in_absolute_value():
    attributions = torch.tensor([[[1.0, -3.0], [2.0, 2.0]]])
    torch.testing.assert_close(token_scores(attributions), torch.tensor([[-2.0, 4.0]]))
    torch.testing.assert_close(token_scores(attributions, "abs_sum"), torch.tensor([[4.0, 4.0]]))
    # a (B, T) map is taken as the scores
    torch.testing.assert_close(token_scores(attributions[..., 0]), attributions[..., 0])


def test_token_deletion_has_the_analytic_curve_of_a_sum_of_token_weights():
    model = TokenSum()
    result = token_deletion(model, IDS, CONTRIBUTIONS, 1, baselines=0, n_steps=3)
    # the largest contribution first: logits 2 → 0 → -1 → 0
    expected = torch.tensor([[sigmoid(2), 0.5, sigmoid(-1), 0.5]], dtype=torch.float64)
    torch.testing.assert_close(result.curve, expected)
    torch.testing.assert_close(result.fractions, torch.tensor([0, 1 / 3, 2 / 3, 1.0]).double())
    assert result.counts.tolist() == [[0, 1, 2, 3]]
    area = (expected[0, :-1] + expected[0, 1:]).sum() / 2 / 3
    torch.testing.assert_close(result.score, area.view(1))
    assert model.rows == 4


def test_token_insertion_puts_the_tokens_back_in_order_of_decreasing_score():
    result = token_insertion(TokenSum(), IDS, CONTRIBUTIONS, 1, baselines=0, n_steps=3)
    # from no token (logit 0): + 2, + 1, - 1
    expected = torch.tensor([[0.5, sigmoid(2), sigmoid(3), sigmoid(2)]], dtype=torch.float64)
    torch.testing.assert_close(result.curve, expected)
    assert result.counts.tolist() == [[0, 1, 2, 3]]


def test_deleting_the_best_ranked_tokens_first_scores_lowest_of_every_order():
    ids = torch.tensor([[4, 1, 2, 3]])  # contributions 5, 2, 1, -1
    scores = {}
    for order in ([0, 1, 2, 3], [3, 2, 1, 0], [1, 0, 3, 2], [2, 3, 0, 1]):
        ranking = torch.zeros(1, 4, dtype=torch.float64)
        ranking[0, order] = torch.tensor([4.0, 3, 2, 1], dtype=torch.float64)
        scores[tuple(order)] = float(token_deletion(TokenSum(), ids, ranking, 1, baselines=0).score)
    assert min(scores, key=scores.get) == (0, 1, 2, 3)
    assert max(scores, key=scores.get) == (3, 2, 1, 0)


def test_positions_outside_the_ranking_are_never_replaced_and_the_mask_reaches_the_model():
    ids = torch.tensor([[4, 1, 2, 3, 0], [4, 3, 2, 0, 0]])  # token 4 plays [CLS], 0 [PAD]
    positions = torch.tensor([[0, 1, 1, 1, 0], [0, 1, 1, 0, 0]], dtype=torch.bool)
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], dtype=torch.float64)
    # the excluded [CLS] gets the largest score: it must still never be replaced
    attributions = torch.tensor([[9.0, 2, 1, -1, 9], [9, -1, 1, 9, 9]], dtype=torch.float64)
    result = token_deletion(
        TokenSum(), ids, attributions, [1, 1], baselines=0, positions=positions,
        additional_forward_args=(mask,), n_steps=6,
    )  # fmt: skip
    # first example: [CLS] (5) stays; logits 5+2 → 5+0 → 5-1 → 5+0 at counts 0..3
    expected_first = [7, 5, 4, 5]
    expected_second = [5 - 1 + 1, 5 - 1, 5]  # deletes id 2 (score 1) then id 3 (score -1)
    # round(k · n / 6), halves up, for n = 3 and 2 positions
    assert result.counts.tolist() == [[0, 1, 1, 2, 2, 3, 3], [0, 0, 1, 1, 1, 2, 2]]
    for row, logits in enumerate((expected_first, expected_second)):
        want = [sigmoid(logits[c]) for c in result.counts[row].tolist()]
        torch.testing.assert_close(result.curve[row], torch.tensor(want, dtype=torch.float64))


def test_each_distinct_count_goes_through_the_model_once_whatever_n_steps():
    model = TokenSum()
    ids = torch.tensor([[1, 2, 3], [3, 3, 1]])
    token_deletion(model, ids, WEIGHTS[ids], 1, baselines=0, n_steps=50, batch_size=3)
    assert model.rows == 2 * 4  # counts 0..3 for each example


def test_the_target_defaults_to_the_top_class_on_the_full_input():
    ids = torch.tensor([[3, 3], [1, 2]])  # logits 0 vs -2 (class 0), 0 vs 3 (class 1)
    result = token_deletion(TokenSum(), ids, WEIGHTS[ids], baselines=0, n_steps=2)
    torch.testing.assert_close(result.curve[:, 0], torch.tensor([sigmoid(2), sigmoid(3)]).double())


def test_the_pointing_game_hits_when_the_top_token_is_in_the_mask_and_shares_ties():
    attributions = torch.tensor(
        [
            [[5.0], [1.0], [3.0], [0.0]],  # top at 2: in the mask
            [[5.0], [3.0], [1.0], [0.0]],  # top at 1: not in the mask
            [[5.0], [2.0], [2.0], [2.0]],  # three tied tops, one in the mask
        ]
    )
    masks = torch.tensor([[0, 0, 1, 0], [0, 0, 1, 1], [0, 1, 0, 0]])
    positions = torch.tensor([[0, 1, 1, 1]] * 3)  # position 0 plays [CLS]: never counted
    result = token_pointing_game(attributions, masks, positions=positions)
    torch.testing.assert_close(result.hit, torch.tensor([1.0, 0.0, 1 / 3]))
    torch.testing.assert_close(result.chance, torch.tensor([1 / 3, 2 / 3, 1 / 3]))
    assert result.top.tolist() == [2, 1, 1]


def test_the_pointing_game_counts_every_position_by_default():
    result = token_pointing_game(torch.tensor([[5.0, 1.0, 3.0]]), torch.tensor([[0, 0, 1]]))
    assert result.hit.tolist() == [0.0]
    torch.testing.assert_close(result.chance, torch.tensor([1 / 3]))


def test_token_localisation_is_localisation_over_each_examples_positions():
    scores = torch.tensor([[9.0, 1.0, 3.0, 2.0, 7.0], [9.0, 3.0, 1.0, 2.0, 7.0]])
    masks = torch.tensor([[0, 0, 1, 1, 0], [0, 0, 1, 1, 0]])
    positions = torch.tensor([[0, 1, 1, 1, 0], [0, 1, 1, 1, 1]])
    result = token_localisation(scores, masks, positions=positions, n_thresholds=5)
    # first: the mask's tokens (3, 2) above the other (1): ROC-AUC 1; second: 1, 2 in the mask
    # against 3 and 7 outside: ROC-AUC 0
    torch.testing.assert_close(result.roc_auc, torch.tensor([1.0, 0.0]))
    second = localisation(
        torch.tensor([[[3.0, 1.0, 2.0, 7.0]]]), torch.tensor([[[0, 1, 1, 0]]]), n_thresholds=5
    )
    for name in ("roc_auc", "best_f1", "best_mae", "f1", "mae"):
        torch.testing.assert_close(getattr(result, name)[1:], getattr(second, name))
    assert result.f1.shape == (2, 5)
    assert result.best_f1[0] == 1.0 and result.best_mae[0] == 0.0


@pytest.mark.parametrize(
    ("call", "error", "names"),
    [
        (lambda: token_deletion(TokenSum(), IDS.double(), CONTRIBUTIONS, baselines=0),
         TypeError, "`input_ids`"),
        (lambda: token_deletion(TokenSum(), IDS[0], CONTRIBUTIONS, baselines=0),
         ValueError, "`input_ids`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS[:, :2], baselines=0),
         ValueError, "`attributions`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS.long(), baselines=0),
         TypeError, "`attributions`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS * math.nan, baselines=0),
         ValueError, "`attributions`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS, baselines=0.5),
         TypeError, "`baselines`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS, baselines=-1),
         ValueError, "`baselines`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS, baselines=torch.zeros(2).long()),
         ValueError, "`baselines`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS, baselines=0, n_steps=0),
         ValueError, "`n_steps`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS, 2, baselines=0),
         ValueError, "`target`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS, baselines=0,
                                positions=torch.zeros(1, 3, dtype=torch.bool)),
         ValueError, "`positions`"),
        (lambda: token_deletion(lambda ids: torch.full((ids.shape[0], 2), math.nan), IDS,
                                CONTRIBUTIONS, baselines=0),
         ValueError, "`forward_func`"),
        (lambda: token_deletion("model", IDS, CONTRIBUTIONS, baselines=0),
         TypeError, "`forward_func`"),
        (lambda: token_deletion(TokenSum(), IDS, CONTRIBUTIONS, baselines=0,
                                additional_forward_args=(torch.ones(2, 3),)),
         ValueError, "`additional_forward_args`"),
        (lambda: token_pointing_game(CONTRIBUTIONS, torch.tensor([[0, 2, 0]])),
         ValueError, "`masks`"),
        (lambda: token_pointing_game(CONTRIBUTIONS, torch.tensor([[0, 0, 0]])),
         ValueError, "`masks`"),
        (lambda: token_pointing_game(CONTRIBUTIONS, torch.tensor([[0, 1]])),
         ValueError, "`masks`"),
        (lambda: token_pointing_game(CONTRIBUTIONS, torch.tensor([[0, 1, 0]]),
                                     embedding_reduction="max"),
         ValueError, "`embedding_reduction`"),
        (lambda: token_localisation(CONTRIBUTIONS, torch.tensor([[1, 1, 1]])),
         ValueError, "`masks`"),
        (lambda: token_localisation(CONTRIBUTIONS, torch.tensor([[1, 0, 0]]), n_thresholds=0),
         ValueError, "`n_thresholds`"),
        (lambda: token_localisation(CONTRIBUTIONS, torch.tensor([[1, 0, 0]]), positions=[1, 1]),
         TypeError, "`positions`"),
    ],
    ids=[
        "float-ids", "1d-ids", "short-attributions", "integer-attributions", "nan-attributions",
        "float-baselines", "negative-baselines", "baselines-shape", "n-steps", "target-range",
        "no-positions", "nan-model", "model-not-callable", "forward-args-batch",
        "masks-not-binary", "masks-empty", "masks-shape", "reduction", "localisation-masks-full",
        "n-thresholds", "positions-not-tensor",
    ],
)  # fmt: skip
def test_bad_arguments_are_named_in_the_error(call, error, names):
    with pytest.raises(error, match=names):
        call()
