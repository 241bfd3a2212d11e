"""Shared test set-up: no network, caches in a temporary folder, small helpers."""

import os
import tempfile

# Before anything imports huggingface_hub / datasets: nothing here may reach the network.
_TMP = tempfile.mkdtemp(prefix="genzoo-tests-")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_GENZOO_CACHE", os.path.join(_TMP, "genzoo-cache"))
os.environ.setdefault("HF_DATASETS_CACHE", os.path.join(_TMP, "datasets-cache"))
os.environ["HF_HOME"] = os.path.join(_TMP, "hf-home")  # no login token or Hub cache of the developer's
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# The Hub is a server the suite starts on 127.0.0.1 (tests/hub_server.py); huggingface_hub reads HF_ENDPOINT at
# import, so the port is chosen now. Tests that use the `hub` fixture go online against it, the rest stay offline.
from .hub_server import LocalHub, connect_client, pick_free_port  # noqa: E402

HUB_PORT = pick_free_port()
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{HUB_PORT}"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ.pop("HF_TOKEN", None)  # a real token of the developer's must never reach a test

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
    return dict(
        dataset="digits",
        output_dir=str(tmp_path / "run"),
        batch_size=32,
        report_to="none",
        checkpointing_steps=0,
        log_every=5,
    )


@pytest.fixture(scope="session")
def hub_server():
    with LocalHub(HUB_PORT) as server:
        yield server


@pytest.fixture
def hub(hub_server, monkeypatch, tmp_path):
    """The local Hub, with huggingface_hub online and pointed at it, the token set, caching in this test's tmp_path."""
    connect_client(hub_server, monkeypatch, tmp_path / "hf-cache")
    hub_server.unhandled.clear()
    yield hub_server
    assert hub_server.unhandled == [], f"the client sent requests LocalHub does not speak: {hub_server.unhandled}"


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """A classifier and a GAN trained for seconds on digits (the trilemma's quick configs), shared by the tests."""
    from hf_genzoo.registry import get_family
    from hf_genzoo.training import make_config, train

    root = tmp_path_factory.mktemp("tri")
    out = {}
    for family in ("classifier", "gan"):
        tiny = get_family(family).tiny
        cfg = make_config(
            family,
            dataset="digits",
            output_dir=str(root / family),
            model_config=tiny.model_config,
            max_steps=tiny.steps,
            batch_size=32,
            report_to="none",
            checkpointing_steps=0,
            mixed_precision="no",
        )
        train(cfg)
        out[family] = str(root / family)
    return out
