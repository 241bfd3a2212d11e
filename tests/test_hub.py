"""Sharing on the Hub end to end: `genzoo push` / `--push_to_hub`, model cards, `from_pretrained("user/name")`,
against the local Hub server of tests/hub_server.py, with the unmodified huggingface_hub client over HTTP."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from diffusers import DDPMPipeline
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

from hf_genzoo import cli
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.hub.push import PushError, files_to_push, push_to_hub
from hf_genzoo.pipelines import FlowPipeline, GANPipeline, VAEPipeline
from hf_genzoo.registry import get_family
from hf_genzoo.training import make_config, train

from .hub_server import HUB_TOKEN
from .test_ddpm import TINY_UNET

TINY = {
    "vae": "block_out_channels=(8, 16),latent_dim=4",
    "gan": "block_out_channels=(8, 16),latent_dim=8",
    "flow": "num_levels=2,steps_per_level=2,hidden_channels=8",
    "conv_autoencoder": "block_out_channels=(8, 16),latent_dim=8",
    "ddpm": TINY_UNET,
    "ddgan": get_family("ddgan").tiny.model_config,
}


def tiny_run(tmp_path, model: str, steps: int = 20, **kw):
    out = tmp_path / model
    cfg = make_config(
        model,
        dataset="digits",
        output_dir=str(out),
        batch_size=32,
        max_steps=steps,
        report_to="none",
        checkpointing_steps=0,
        model_config=TINY[model],
        mixed_precision="no",
        **kw,
    )
    train(cfg)
    return out


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def card_metadata(text: str) -> dict:
    return yaml.safe_load(text.split("---")[1])


def first_python_block(card: str) -> str:
    return re.search(r"```python\n(.*?)```", card, re.S).group(1)


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("vae"), "vae")


# --- push, then load by repo id


def test_push_then_load_by_repo_id_gives_identical_samples(hub, vae_dir, capsys):
    before = folder_digest(vae_dir)
    cli.main(["push", str(vae_dir), "tester/vae-digits", "--commit_message", "first"])
    printed = capsys.readouterr().out
    assert "tester/vae-digits" in printed and HUB_TOKEN not in printed
    assert folder_digest(vae_dir) == before  # pushing only reads the folder

    files = hub.stored_files("tester/vae-digits")
    assert {
        "model_index.json",
        "README.md",
        "sample.png",
        "metrics.json",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
    } <= set(files)
    assert not any(name.startswith(("checkpoints/", "logs/", "samples/")) for name in files)
    assert files["vae/diffusion_pytorch_model.safetensors"]["lfs"] and not files["model_index.json"]["lfs"]

    local, remote = VAEPipeline.from_pretrained(vae_dir), VAEPipeline.from_pretrained("tester/vae-digits")
    a = local(4, generator=torch.Generator().manual_seed(0), output_type="np").images
    b = remote(4, generator=torch.Generator().manual_seed(0), output_type="np").images
    np.testing.assert_array_equal(a, b)
    assert isinstance(load_pipeline("tester/vae-digits"), VAEPipeline)
    assert hub.commits("tester/vae-digits")[0]["summary"] == "first"


def test_the_card_has_metadata_model_index_and_a_usage_snippet_that_runs(hub, vae_dir, tmp_path):
    push_to_hub(vae_dir, "tester/vae-card")
    card = Path(hf_hub_download("tester/vae-card", "README.md")).read_text()
    meta = card_metadata(card)
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "diffusers"
    assert meta["pipeline_tag"] == "unconditional-image-generation"
    assert meta["tags"][:2] == ["hf-genzoo", "vae"]
    results = meta["model-index"][0]["results"][0]
    assert meta["model-index"][0]["name"] == "tester/vae-card"
    assert results["dataset"] == {"name": "digits", "type": "digits", "split": "test"}
    metrics = json.loads((vae_dir / "metrics.json").read_text())["metrics"]
    assert {m["type"]: m["value"] for m in results["metrics"]} == pytest.approx(metrics)
    assert "![" in card and "(sample.png)" in card and "learning_rate" in card
    # the snippet, as a reader copies it, in a fresh interpreter that knows only the (local) Hub
    snippet = first_python_block(card)
    assert 'from_pretrained("tester/vae-card")' in snippet and len(snippet.strip().splitlines()) <= 4
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "0", "HF_TOKEN": HUB_TOKEN, "HF_HUB_CACHE": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", snippet + "\nprint(len(samples))"], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("16")


def test_pushing_again_makes_a_new_commit_with_the_new_card(hub, tmp_path):
    out = tiny_run(tmp_path, "gan", steps=10)
    push_to_hub(out, "tester/gan-twice")
    first = Path(hf_hub_download("tester/gan-twice", "README.md")).read_text()
    # train on (more steps, new metrics) and push again
    saved = json.loads((out / "train_config.json").read_text())
    train(make_config(saved.pop("model"), **{**saved, "max_steps": 20, "overwrite_output_dir": True}))
    commit = push_to_hub(out, "tester/gan-twice", commit_message="more training")
    history = hub.commits("tester/gan-twice")
    assert [c["summary"] for c in history[:2]] == ["more training", "Upload GANPipeline trained with hf_genzoo"]
    assert commit.oid == history[0]["sha"]
    second = Path(hf_hub_download("tester/gan-twice", "README.md")).read_text()
    assert "20 optimizer steps" in second and "10 optimizer steps" in first
    old = Path(hf_hub_download("tester/gan-twice", "README.md", revision=history[1]["sha"])).read_text()
    assert old == first
    pipe = GANPipeline.from_pretrained("tester/gan-twice")
    assert pipe.discriminator is not None  # saved beside the generator, for resuming and evaluation


def test_a_branch_revision_and_the_offline_cache(hub, tmp_path, monkeypatch):
    out = tiny_run(tmp_path, "flow", steps=5)
    cli.main(["push", str(out), "tester/flow-branch", "--revision", "dev", "--private"])
    with pytest.raises(RevisionNotFoundError):
        FlowPipeline.from_pretrained("tester/flow-branch", revision="nope")
    pipe = FlowPipeline.from_pretrained("tester/flow-branch", revision="dev")
    a = pipe(2, generator=torch.Generator().manual_seed(0), output_type="np").images
    # offline: the second load comes from the cache, without a single request
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    requests = hub.request_count
    again = FlowPipeline.from_pretrained("tester/flow-branch", revision="dev")
    assert hub.request_count == requests
    np.testing.assert_array_equal(a, again(2, generator=torch.Generator().manual_seed(0), output_type="np").images)


def test_a_missing_repo_gives_the_librarys_typed_error(hub):
    with pytest.raises(RepositoryNotFoundError):
        VAEPipeline.from_pretrained("tester/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):
        load_pipeline("tester/does-not-exist")
    with pytest.raises(SystemExit, match=r"^genzoo sample: error: RepositoryNotFoundError: "):  # the CLI: one line
        cli.main(["sample", "--model", "tester/does-not-exist"])


def test_a_server_error_during_upload_changes_nothing_and_says_what_failed(hub, vae_dir, monkeypatch):
    from huggingface_hub.utils import _http

    monkeypatch.setattr(_http.time, "sleep", lambda seconds: None)  # the client retries a 500 five times, with waits
    push_to_hub(vae_dir, "tester/vae-500")
    commits = len(hub.commits("tester/vae-500"))
    other = tiny_run(vae_dir.parent / "other", "vae", steps=3, seed=1)  # new weights and card: a real commit
    before = folder_digest(other)
    hub.fail_next("commit", status=500, times=10)
    try:
        with pytest.raises(SystemExit, match=r"(?s)failed while uploading: .*500.*Nothing local was changed"):
            cli.main(["push", str(other), "tester/vae-500"])
        assert len(hub.commits("tester/vae-500")) == commits
        assert folder_digest(other) == before
        hub.fail_next("lfs_upload", status=500, times=10)
        with pytest.raises(PushError, match="500"):
            push_to_hub(other, "tester/vae-500")
        assert len(hub.commits("tester/vae-500")) == commits
    finally:
        hub.clear_faults()


def test_push_needs_a_token_and_never_shows_it(hub, vae_dir, monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(SystemExit, match="needs a Hub token: set HF_TOKEN"):
        cli.main(["push", str(vae_dir), "tester/no-token"])
    with pytest.raises(ValueError, match="--push_to_hub needs a Hub token"):
        train(make_config("vae", dataset="digits", output_dir=str(tmp_path / "x"), push_to_hub=True))
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    out = tiny_run(tmp_path, "conv_autoencoder", steps=5, push_to_hub=True, hub_model_id="tester/ae-on-train")
    captured = capsys.readouterr()
    assert "pushed to" in captured.out
    for text in (captured.out, captured.err, (out / "train_config.json").read_text(), (out / "README.md").read_text()):
        assert HUB_TOKEN not in text  # (the server's own log redacts it anyway: test_hub_server checks that)
    meta = card_metadata(Path(hf_hub_download("tester/ae-on-train", "README.md")).read_text())
    assert meta["pipeline_tag"] == "image-to-image" and "conv_autoencoder" in meta["tags"]


def test_only_safetensors_are_pushed_or_loaded(vae_dir, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(vae_dir, bad)
    (bad / "vae" / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ValueError, match="pickled weights.*safetensors only"):
        files_to_push(bad)
    with pytest.raises(ValueError, match="safetensors weights only"):
        VAEPipeline.from_pretrained(vae_dir, use_safetensors=False)
    with pytest.raises(ValueError, match="no model_index.json"):
        files_to_push(tmp_path)


def test_a_ddpm_goes_up_and_comes_back_with_stock_diffusers(hub, tmp_path):
    out = tiny_run(tmp_path, "ddpm", steps=10, learning_rate=2e-3, lr_warmup_steps=0)
    push_to_hub(out, "tester/ddpm-digits")
    meta = card_metadata(Path(hf_hub_download("tester/ddpm-digits", "README.md")).read_text())
    assert meta["tags"][:2] == ["hf-genzoo", "ddpm"]
    local, remote = DDPMPipeline.from_pretrained(out), DDPMPipeline.from_pretrained("tester/ddpm-digits")
    kw = dict(batch_size=2, num_inference_steps=5, output_type="np")
    np.testing.assert_array_equal(
        local(generator=torch.Generator().manual_seed(0), **kw).images,
        remote(generator=torch.Generator().manual_seed(0), **kw).images,
    )


PORTABLE_CHECK = """
import sys
sys.modules["hf_genzoo"] = None  # as on a machine without hf_genzoo: any import of it fails
import numpy as np, torch
from diffusers import DiffusionPipeline
pipe = DiffusionPipeline.from_pretrained(sys.argv[1], trust_remote_code=True)
assert type(pipe).__name__ == sys.argv[2] and "hf_genzoo" not in type(pipe).__module__, type(pipe)
np.save(sys.argv[3], pipe(2, generator=torch.Generator().manual_seed(0), output_type="np").images)
"""


@pytest.mark.parametrize(
    "family,pipeline", [("vae", "VAEPipeline"), ("gan", "GANPipeline"), ("ddgan", "DDGANPipeline")]
)
def test_portable_repos_load_with_diffusers_alone(hub, tmp_path, family, pipeline):
    out = tiny_run(tmp_path, family, steps=5)
    repo = f"tester/{family}-portable"
    cli.main(["push", str(out), repo, "--portable"])
    files = hub.stored_files(repo)
    index = json.loads(Path(hf_hub_download(repo, "model_index.json")).read_text())
    assert index["_class_name"] == ["pipeline", pipeline] and "pipeline.py" in files
    ours = [name for name in index if not name.startswith("_") and index[name][0] not in (None, "diffusers")]
    assert ours and all(f"{name}/{index[name][0]}.py" in files for name in ours)  # a stock scheduler stays diffusers'
    env = {
        **__import__("os").environ,
        "HF_HUB_OFFLINE": "0",
        "HF_TOKEN": HUB_TOKEN,
        "HF_HUB_CACHE": str(tmp_path / "c"),
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PORTABLE_CHECK, repo, pipeline, str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    local = load_pipeline(str(out))
    expected = local(2, generator=torch.Generator().manual_seed(0), output_type="np").images
    np.testing.assert_array_equal(np.load(tmp_path / "x.npy"), expected)
    # hf_genzoo reads the portable repo with its own classes, running none of the repo's code
    ours = load_pipeline(repo)
    assert type(ours) is type(local)
    np.testing.assert_array_equal(
        ours(2, generator=torch.Generator().manual_seed(0), output_type="np").images, expected
    )
