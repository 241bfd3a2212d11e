"""Standard FID and KID: the Inception-v3 pool features of torch-fidelity, from weights the user supplies.

FD_local and KID_local (see `generative.py`) live in the features of a classifier trained here on the same data,
which is what can be computed with no download. Papers report FID/KID in the 2048-d pool3 features of the
TensorFlow Inception-v3 of Heusel et al. (2017); torch-fidelity ports that network bit-exactly
(`FeatureExtractorInceptionV3`, 299x299 bilinear resize as TF 1.x does it). Give its weights file
(`weights-inception-2015-12-05-6726825d.pth`, from the torch-fidelity releases) with `--inception_weights PATH`
and the same samples are also scored as FID / KID, comparable to published numbers (for the same sample counts).
The distances themselves are the tested `frechet_distance` and `kernel_distance` of this package, with
torch-fidelity's KID defaults (100 subsets of up to 1000, cubic kernel).

    pip install "hf_genzoo[fidelity]"
"""

import importlib
import importlib.util
import sys
import types
from functools import lru_cache
from pathlib import Path

import torch

from .generative import frechet_distance_from_stats, gaussian_stats, kernel_distance

FEATURES = "2048"  # pool3, the FID layer
KID_SUBSETS, KID_SUBSET_SIZE = 100, 1000  # torch-fidelity's defaults


def _inception_class():
    """torch-fidelity's `FeatureExtractorInceptionV3` class.

    That module needs only torch, but `import torch_fidelity` also imports torchvision (for its dataset helpers). A
    torchvision built for another torch (a CUDA wheel next to a CPU torch) fails to import; then the Inception module
    is loaded from torch-fidelity's folder without running the package's `__init__`."""
    if importlib.util.find_spec("torch_fidelity") is None:
        raise ImportError("--inception_weights needs torch-fidelity: pip install 'hf_genzoo[fidelity]'")
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        return FeatureExtractorInceptionV3
    except (ImportError, RuntimeError, OSError):  # torchvision missing, or built for another torch
        pass
    return _load_without_package_init()


def _load_without_package_init():
    spec = importlib.util.find_spec("torch_fidelity")
    for name in [m for m in sys.modules if m == "torch_fidelity" or m.startswith("torch_fidelity.")]:
        del sys.modules[name]  # a half-imported package from the failed attempt
    package = types.ModuleType("torch_fidelity")
    package.__path__ = list(spec.submodule_search_locations)  # submodules resolve, __init__ does not run
    package.__spec__ = spec
    sys.modules["torch_fidelity"] = package
    return importlib.import_module("torch_fidelity.feature_extractor_inceptionv3").FeatureExtractorInceptionV3


@lru_cache(maxsize=2)
def load_inception(weights_path: str, device: str = "cpu") -> torch.nn.Module:
    """The FID Inception-v3 with the weights at `weights_path`, returning `(N, 2048)` pool features."""
    if not Path(weights_path).is_file():
        raise FileNotFoundError(
            f"--inception_weights {weights_path}: no such file (torch-fidelity's "
            f"weights-inception-2015-12-05-6726825d.pth is the standard one)"
        )
    cls = _inception_class()
    return cls("inception-v3-compat", [FEATURES], feature_extractor_weights_path=weights_path).to(device)


@torch.no_grad()
def inception_features(images: torch.Tensor, weights_path: str, batch_size: int = 64) -> torch.Tensor:
    """`(N, 2048)` float64 pool features of `(N, C, H, W)` images in [0, 1] (gray ones are repeated to RGB)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = load_inception(str(weights_path), device)
    out = []
    for i in range(0, len(images), batch_size):
        x = images[i : i + batch_size]
        x = (x.clamp(0, 1) * 255).round().to(torch.uint8)  # what a saved PNG holds: the network expects 0..255
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        out.append(model(x.to(device))[0].double().cpu())
    return torch.cat(out)


def inception_reference(images: torch.Tensor, weights_path: str, batch_size: int = 64) -> dict:
    features = inception_features(images, weights_path, batch_size)
    mu, sigma = gaussian_stats(features)
    return {"features": features, "mu": mu, "sigma": sigma}


def fid_kid(images: torch.Tensor, reference: dict, weights_path: str, batch_size: int = 64) -> dict[str, float]:
    """`FID` and `KID` (mean; `KID_std` its spread over subsets) of `images` against an `inception_reference`."""
    features = inception_features(images, weights_path, batch_size)
    mu, sigma = gaussian_stats(features)
    kid = kernel_distance(
        reference["features"],
        features,
        subsets=KID_SUBSETS,
        subset_size=min(KID_SUBSET_SIZE, len(features), len(reference["features"])),
    )
    return {
        "FID": frechet_distance_from_stats(reference["mu"], reference["sigma"], mu, sigma),
        "KID": kid["mean"],
        "KID_std": kid["std"],
    }
