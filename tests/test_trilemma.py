"""The trilemma's scoring (hf_genzoo/trilemma.py), its table and verdict (benchmarks/trilemma.py), and
`genzoo evaluate --classifier`."""

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from hf_genzoo import cli
from hf_genzoo.metrics import gaussian_stats
from hf_genzoo.trilemma import Row, Target, score, targets

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _benchmark_script():
    """benchmarks/trilemma.py as a module (it imports its sibling `report`)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("trilemma_benchmark", BENCHMARKS / "trilemma.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


bench_script = _benchmark_script()
table, verdict = bench_script.table, bench_script.verdict


class FeaturesAreInputs:
    """A stand-in classifier: an image's features are its pixels, its label is given; enough to test `score`."""

    def __init__(self, probs):
        self.probs = probs

    def features(self, images, max_batch_size=256):
        return images.flatten(1)

    def __call__(self, images, max_batch_size=256):
        return SimpleNamespace(probs=self.probs)


def reference_of(features):
    mu, sigma = gaussian_stats(features)
    return {"features": features, "mu": mu, "sigma": sigma}


def test_score_of_the_reference_itself_is_perfect_and_a_shift_is_not():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 8, 1, 1, generator=g, dtype=torch.float64)  # "images" whose features are 8 numbers
    uniform = torch.eye(4, dtype=torch.float64).repeat(75, 1)  # every class equally often
    same = score(FeaturesAreInputs(uniform), real, reference_of(real.flatten(1)))
    assert same["FD_local"] == pytest.approx(0, abs=1e-8) and same["KID_local"] < 0.05
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0 and same["density"] == 1.0
    assert same["label_entropy"] == pytest.approx(1.0)
    one_class = torch.zeros(300, 4, dtype=torch.float64)
    one_class[:, 0] = 1
    shifted = score(FeaturesAreInputs(one_class), real + 5, reference_of(real.flatten(1)))
    assert shifted["FD_local"] == pytest.approx(8 * 25, rel=1e-6)  # ||delta||^2 with equal covariances
    assert shifted["precision"] == shifted["recall"] == 0.0 and shifted["label_entropy"] == 0.0


def test_table_marks_the_best_model_per_column_not_the_floor():
    cols = dict(KID_local=0.1, precision=0.5, recall=0.5, density=0.5, coverage=0.5, label_entropy=0.9)
    rows = [Row("real test images", None, None, note="the floor"), Row("a", None, 1, 3.1, "exact"), Row("b", None, 20)]
    rows[0].scores = {**cols, "FD_local": 0.5, "images_per_s": None}
    rows[1].scores = {**cols, "FD_local": 7.0, "images_per_s": 1000.0}
    rows[2].scores = {**cols, "FD_local": 2.0, "recall": 0.8, "images_per_s": 10.0}
    text = table(rows)
    assert "| real test images (the floor) | 0.5 |" in text
    assert "| a | 7 |" in text and "| 3.100 (exact) |" in text
    assert "| b | **2** |" in text and "**0.8**" in text
    assert "| 1,000 |" in text and "| 10 |" in text
    rows[2].scores["images_per_s"] = 0.3651  # a 1000-step sampler on a CPU: not rounded to 0
    assert "| 0.365 |" in table(rows)


def test_genzoo_evaluate_scores_a_models_samples(tiny_models, tmp_path, capsys):
    cli.main(
        f"evaluate --model {tiny_models['gan']} --dataset digits --classifier {tiny_models['classifier']} "
        f"--num_samples 64 --output {tmp_path / 'm.json'}".split()
    )
    result = json.loads((tmp_path / "m.json").read_text())
    assert result["split"] == "train" and result["samples"] == 64 and result["nfe"] == 1
    for key in ("FD_local", "KID_local", "precision", "recall", "density", "coverage", "label_entropy"):
        assert isinstance(result[key], float), key
    assert result["FD_local"] > 0 and 0 <= result["recall"] <= 1 and result["images_per_s"] > 0
    again = tmp_path / "again.json"
    cli.main(
        f"evaluate --model {tiny_models['gan']} --dataset digits --classifier {tiny_models['classifier']} "
        f"--num_samples 64 --output {again}".split()
    )
    assert json.loads(again.read_text())["FD_local"] == result["FD_local"]  # seeded: the same samples, the same score


def test_genzoo_evaluate_gives_a_classifiers_accuracy(tiny_models, tmp_path):
    cli.main(
        ["evaluate", "--model", tiny_models["classifier"], "--dataset", "digits", "--output", str(tmp_path / "a.json")]
    )
    accuracy = json.loads((tmp_path / "a.json").read_text())["accuracy"]
    trained = json.loads(open(f"{tiny_models['classifier']}/metrics.json").read())["metrics"]["accuracy"]
    assert accuracy == pytest.approx(trained, abs=1e-9)


KEYS = {"DDPM_1000": "ddpm/ddpm-1000", "dpmsolver++_20": "ddpm/sde-dpmsolver++-20"}  # the ddpm family's own target


def _rows(**fd_and_speed):
    cols = dict(KID_local=0.1, precision=0.5, density=0.5, label_entropy=0.9)
    rows = [Row("real test images", None, None, note="the floor")]
    rows[0].scores = {**cols, "FD_local": 0.4, "recall": 0.9, "coverage": 0.9, "images_per_s": None, "samples": 500}
    for name, (fd, speed, recall, coverage) in fd_and_speed.items():
        rows.append(Row(name.replace("_", " "), None, 1, key=KEYS.get(name, "")))
        rows[-1].scores = {**cols, "FD_local": fd, "images_per_s": speed, "recall": recall, "coverage": coverage}
    return rows


def test_verdict_names_each_corners_winner_and_checks_the_fast_sampler():
    rows = _rows(
        gan=(9.0, 3000.0, 0.2, 0.3),
        vae=(20.0, 4000.0, 0.6, 0.4),
        **{"DDPM_1000": (2.0, 0.1, 0.5, 0.8), "dpmsolver++_20": (2.2, 5.0, 0.55, 0.7)},
    )
    probe = Row("vae: midpoints of two test images", None, 1, probe=True)  # better at everything, but not a model
    probe.scores = {**rows[1].scores, "FD_local": 1.0, "images_per_s": 9000.0, "recall": 0.99, "coverage": 0.99}
    rows.append(probe)
    assert "**1**" not in table(rows) and "| **2** |" in table(
        rows
    )  # the bold FD_local is DDPM 1000's, not the probe's
    text = verdict(rows)
    assert "midpoints" not in text
    assert "**Quality**: DDPM 1000 (FD_local 2)" in text and "**Speed**: vae (4,000 images/s" in text
    assert "vae by recall (0.6)" in text and "DDPM 1000 by coverage (0.8)" in text
    assert "500 real test images" in text and "FD_local 0.4" in text
    assert "**dpmsolver++ 20 against DDPM 1000**: FD_local x1.10 (meets the target of at most x1.15)" in text
    assert "; 2% of the sampling time per image, 50x the images/s (meets the target of under 3%)." in text
    worse = verdict(_rows(**{"DDPM_1000": (2.0, 1.0, 0.5, 0.8), "dpmsolver++_20": (2.4, 20.0, 0.5, 0.7)}))
    assert "x1.20 (misses" in worse and "5% of the sampling time per image, 20x the images/s (misses" in worse
    assert "against DDPM 1000" not in verdict(_rows(gan=(9.0, 3000.0, 0.2, 0.3)))  # no rows for the target: no line


def test_ddgan_targets_check_quality_speed_and_recall_and_compare_fd_at_equal_sample_counts():
    KEYS.update(DDGAN_T4="ddgan/T4", gan="gan")
    try:
        rows = _rows(gan=(9.0, 3000.0, 0.4, 0.3), DDGAN_T4=(2.4, 150.0, 0.5, 0.6), DDPM_1000=(2.0, 1.0, 0.6, 0.8))
    finally:
        del KEYS["DDGAN_T4"], KEYS["gan"]
    for r in rows[1:]:
        r.scores["samples"] = 1000
    ddpm, ddgan = rows[3], rows[2]
    ddpm.scores["samples"] = 200  # the slow row drew fewer: FD_local is compared at its count
    ddgan.fd_at_samples = lambda n: {200: 2.6}[n]
    checks = {(c["row"], c["reference"]): (t, c) for t, c in targets(rows)}
    _, quality = checks["DDGAN T4", "DDPM 1000"]
    assert quality["fd_ratio"] == pytest.approx(1.3) and quality["fd_samples"] == 200 and not quality["fd_met"]
    assert quality["time_ratio"] == pytest.approx(1 / 150) and quality["time_met"]  # 150x the images/s
    _, coverage = checks["DDGAN T4", "gan"]
    assert coverage["recall_ratio"] == pytest.approx(1.25) and coverage["recall_met"] and "fd_ratio" not in coverage
    rows[1].scores["recall"] = 0.0  # a GAN that covers nothing: a DDGAN's recall is at least as much, and no crash
    zero = {c["reference"]: c for _, c in targets(rows)}["gan"]
    assert zero["recall_met"] and zero["recall_ratio"] == math.inf
    rows[1].scores["recall"] = 0.4
    text = verdict(rows)
    assert (
        "**DDGAN T4 against DDPM 1000**: FD_local x1.30 at 200 samples each (misses the target of at most x1.25)"
        in text
    )
    assert "150x the images/s (meets the target of under 1%)" in text
    assert "**DDGAN T4 against gan**: recall x1.25 (meets the target of at least x1)." in text


def test_a_target_checks_its_rows_by_key_not_by_name():
    rows = _rows(**{"DDPM_1000": (2.0, 1.0, 0.5, 0.8), "dpmsolver++_20": (2.2, 50.0, 0.5, 0.7)})
    rows[-1].name = "renamed in the table"
    check = Target("ddpm/sde-dpmsolver++-20", "ddpm/ddpm-1000", max_fd_ratio=1.15, max_time_ratio=0.03).check(rows)
    assert check["row"] == "renamed in the table" and check["fd_ratio"] == pytest.approx(1.1) and check["fd_met"]
    assert check["time_ratio"] == pytest.approx(0.02) and check["time_met"]
    assert Target("ddpm/ddim-50", "ddpm/ddpm-1000", 1.15, 0.03).check(rows) is None


def test_genzoo_evaluate_refuses_inception_weights_without_classifier_or_file(tiny_models, tmp_path):
    with pytest.raises(SystemExit, match="goes with --classifier"):
        cli.main(["evaluate", "--model", tiny_models["gan"], "--dataset", "digits", "--inception_weights", "w.pth"])
    with pytest.raises(SystemExit, match="no such file"):
        cli.main(
            f"evaluate --model {tiny_models['gan']} --dataset digits --classifier {tiny_models['classifier']} "
            f"--inception_weights {tmp_path / 'missing.pth'}".split()
        )
