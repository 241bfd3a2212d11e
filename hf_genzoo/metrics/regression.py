"""The coefficient of determination R^2 for reconstructions, computed in one streaming pass.

R^2 = 1 - sum_j SSE_j / sum_j SST_j over features j (scikit-learn's
`r2_score(..., multioutput="variance_weighted")`): 1 - residual variance / variance of the target.
"""

import torch

from ..errors import UserInputError


class R2Score:
    """Streaming variance-weighted R^2. `update(pred, target)` with `(B, ...)` tensors; `compute()`.

    Sums are kept per feature in float64, so the result matches a single pass over all data."""

    def __init__(self):
        self.n = 0
        self.sse = self.sum = self.sum_sq = None

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        if pred.shape != target.shape:
            raise UserInputError(f"pred and target shapes differ: {tuple(pred.shape)} vs {tuple(target.shape)}")
        p = pred.detach().reshape(len(pred), -1).double()  # (B, D)
        t = target.detach().reshape(len(target), -1).double()
        if self.sse is None:
            self.sse, self.sum, self.sum_sq = (
                torch.zeros(t.shape[1], dtype=torch.float64, device=t.device) for _ in range(3)
            )
        self.n += len(t)
        self.sse += ((t - p) ** 2).sum(0)
        self.sum += t.sum(0)
        self.sum_sq += (t**2).sum(0)

    def compute(self) -> float:
        if self.n < 2:
            raise UserInputError("R^2 needs at least two samples")
        sst = self.sum_sq - self.sum**2 / self.n  # (D,) total sum of squares around the per-feature mean
        return float(1.0 - self.sse.sum() / sst.sum())


def r2_score(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Variance-weighted R^2 of `pred` against `target` (rows are samples)."""
    metric = R2Score()
    metric.update(pred, target)
    return metric.compute()
