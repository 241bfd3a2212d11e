"""Standard FID/KID through torch-fidelity's Inception-v3 (`--inception_weights`), with weights made here.

No Inception weights can be downloaded, so the weights file is the network's own random initialization saved as a
user's file would be: it checks the loading, the uint8 / RGB conversion and the distances, not the published values."""

import importlib.util
import json
import sys

import pytest
import torch

from hf_genzoo import cli
from hf_genzoo.metrics import frechet_distance, inception, kernel_distance

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch_fidelity") is None,
    reason="torch-fidelity is not installed (pip install --no-deps torch-fidelity)",
)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    cls = inception._inception_class()
    with pytest.MonkeyPatch.context() as m:  # build the network without fetching or loading its weights
        m.setattr(sys.modules[cls.__module__], "load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(cls, "load_state_dict", lambda self, state_dict, *a, **k: None)
        net = cls("inception-v3-compat", ["2048"])
    torch.manual_seed(0)
    for mod in net.modules():  # He init keeps the activations' scale through 90 layers; random BN statistics
        if isinstance(mod, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.1, 0.1)
            mod.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("inception") / "weights-inception-test.pth"
    torch.save(net.state_dict(), path)
    return str(path), net


def _images(seed, n=6, channels=1, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, channels, 28, 28, generator=g) * 0.6 + shift).clamp(0, 1)


def test_features_are_the_networks_pool3_of_the_uint8_rgb_image(weights):
    path, net = weights
    images = _images(0)
    features = inception.inception_features(images, path, batch_size=4)  # two batches
    assert features.shape == (6, 2048) and features.dtype == torch.float64 and torch.isfinite(features).all()
    rgb = (images * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)  # gray to RGB, as a PNG would hold it
    with torch.no_grad():
        expected = net.eval()(rgb)[0].double()
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-6)


def test_fid_kid_of_a_set_against_itself_and_a_shifted_set(weights):
    path, _ = weights
    real = _images(1, n=8)
    reference = inception.inception_reference(real, path)
    same = inception.fid_kid(real, reference, path)
    shifted = inception.fid_kid(_images(2, n=8, shift=0.4), reference, path)
    assert abs(same["FID"]) < 1e-6 * max(1.0, shifted["FID"])
    assert shifted["FID"] > 1e-3 and shifted["KID"] > same["KID"]
    fake = inception.inception_features(_images(2, n=8, shift=0.4), path)
    assert shifted["FID"] == pytest.approx(frechet_distance(reference["features"], fake), rel=1e-9)
    assert shifted["KID"] == pytest.approx(
        kernel_distance(reference["features"], fake, subset_size=8)["mean"], rel=1e-9
    )


def test_missing_weights_file_says_which(tmp_path):
    with pytest.raises(FileNotFoundError, match="6726825d"):
        inception.inception_features(_images(0), str(tmp_path / "nope.pth"))


def test_genzoo_evaluate_reports_fid_and_kid_beside_the_local_scores(weights, tiny_models, tmp_path):
    path, _ = weights
    out = tmp_path / "m.json"
    cli.main(
        f"evaluate --model {tiny_models['gan']} --dataset digits --classifier {tiny_models['classifier']} "
        f"--num_samples 16 --inception_weights {path} --output {out}".split()
    )
    result = json.loads(out.read_text())
    assert result["FID"] > 0 and isinstance(result["KID"], float) and result["KID_std"] >= 0
    assert isinstance(result["FD_local"], float)  # the local scores are still there
