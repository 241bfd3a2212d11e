"""Metrics that compare models on the same data: reconstruction (R^2) and sample quality and coverage in a
local feature space (FD_local, KID_local, precision/recall, density/coverage, label entropy); the quality of denoised
audio (SNR, SI-SDR, wide-band PESQ, STOI); and the point-cloud generation protocol (CD, EMD, MMD, COV, 1-NNA)."""

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
from .points import (
    ReferenceSets,
    chamfer_distance,
    coverage,
    earth_movers_distance,
    minimum_matching_distance,
    one_nna_accuracy,
    pairwise_chamfer,
    pairwise_emd,
    point_cloud_metrics,
)
from .regression import R2Score, r2_score

__all__ = [
    "R2Score",
    "ReferenceSets",
    "chamfer_distance",
    "coverage",
    "density_coverage",
    "earth_movers_distance",
    "frechet_distance",
    "frechet_distance_from_stats",
    "gaussian_stats",
    "kernel_distance",
    "knn_radii",
    "label_entropy",
    "minimum_matching_distance",
    "one_nna_accuracy",
    "pairwise_chamfer",
    "pairwise_emd",
    "pesq_wb",
    "point_cloud_metrics",
    "precision_recall",
    "r2_score",
    "si_sdr",
    "si_sdr_improvement",
    "snr",
    "stoi",
]
