"""R^2 against scikit-learn's r2_score(multioutput="variance_weighted")."""

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score as sk_r2

from hf_genzoo.metrics import R2Score, r2_score


def test_r2_matches_sklearn_variance_weighted():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(200, 3, 4, 4)) * rng.uniform(0.1, 3, size=(1, 3, 4, 4))
    pred = target + rng.normal(scale=0.7, size=target.shape)
    expected = sk_r2(target.reshape(200, -1), pred.reshape(200, -1), multioutput="variance_weighted")
    assert r2_score(torch.from_numpy(pred), torch.from_numpy(target)) == pytest.approx(expected, abs=1e-10)


def test_streaming_over_batches_equals_one_pass():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(101, 10, generator=g, dtype=torch.float64)
    pred = torch.rand(101, 10, generator=g, dtype=torch.float64)
    metric = R2Score()
    for chunk in range(0, 101, 16):
        metric.update(pred[chunk : chunk + 16], target[chunk : chunk + 16])
    assert metric.compute() == pytest.approx(
        sk_r2(target.numpy(), pred.numpy(), multioutput="variance_weighted"), abs=1e-9
    )


def test_perfect_and_mean_predictions():
    t = torch.rand(50, 7, dtype=torch.float64)
    assert r2_score(t, t) == 1.0
    assert r2_score(t.mean(0, keepdim=True).expand_as(t), t) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="shapes differ"):
        r2_score(t, t[:, :3])
