"""Metrics that compare models on the same data: reconstruction (R^2) and sample quality and coverage in a
local feature space (FD_local, KID_local, precision/recall, density/coverage, label entropy); and the quality of
denoised audio (SNR, SI-SDR, wide-band PESQ, STOI)."""

from .audio import pesq_wb, si_sdr, si_sdr_improvement, snr, stoi
from .generative import (
    density_coverage,
    frechet_distance,
    frechet_distance_from_stats,
    gaussian_stats,
    kernel_distance,
    knn_radii,
    label_entropy,
    precision_recall,
)
from .regression import R2Score, r2_score

__all__ = [
    "R2Score",
    "density_coverage",
    "frechet_distance",
    "frechet_distance_from_stats",
    "gaussian_stats",
    "kernel_distance",
    "knn_radii",
    "label_entropy",
    "pesq_wb",
    "precision_recall",
    "r2_score",
    "si_sdr",
    "si_sdr_improvement",
    "snr",
    "stoi",
]
