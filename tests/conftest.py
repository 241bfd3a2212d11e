"""Shared test set-up: no network, caches in a temporary folder, small helpers."""

import os
import tempfile

# Before anything imports huggingface_hub / datasets: nothing here may reach the network.
_TMP = tempfile.mkdtemp(prefix="genzoo-tests-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_GENZOO_CACHE", os.path.join(_TMP, "genzoo-cache"))
os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(_TMP, "datasets-cache"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402


def randomize_parameters(module: torch.nn.Module, scale: float = 0.1, seed: int = 0) -> torch.nn.Module:
    """Move every parameter away from its (possibly identity-like) initial value, deterministically."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


@pytest.fixture
def tiny_train_kwargs(tmp_path):
    """Keyword arguments for `make_config` that make a CPU run take seconds."""
    return dict(dataset="digits", output_dir=str(tmp_path / "run"), batch_size=32, report_to="none",
                checkpointing_steps=0, log_every=5)  # fmt: skip
