"""Smoke runs of every entry point, checking the files they write."""

import json
import os
import subprocess
import sys
from pathlib import Path

import PIL.Image
import pytest
import torch

from hf_genzoo.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "ae"
    main(
        f"train mlp_autoencoder --dataset digits --output_dir {out} --epochs 2 --batch_size 64 --model_config "
        "hidden_dim=32 --report_to none --checkpointing_steps 20".split()
    )
    return out


def test_genzoo_train_writes_pipeline_card_metrics_checkpoints_and_pictures(trained):
    for name in ("model_index.json", "README.md", "metrics.json", "train_config.json", "sample.png"):
        assert (trained / name).exists(), name
    assert (trained / "autoencoder" / "diffusion_pytorch_model.safetensors").exists()
    assert json.loads((trained / "train_config.json").read_text())["model_config"] == "hidden_dim=32"
    assert len(list((trained / "checkpoints").glob("checkpoint_*"))) == 2  # steps 20 and 40 of 2 x 22
    assert PIL.Image.open(trained / "sample.png").size[0] > 16 * 8  # a grid of 16 columns


def test_evaluate_prints_and_writes_r2(trained, tmp_path, capsys):
    main(f"evaluate --model {trained} --dataset digits --noise gaussian:0.2 --output {tmp_path / 'm.json'}".split())
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "m.json").read_text())
    assert printed["images"] == 360 and -1 < printed["r2"] < 1 and "r2_noisy_input" in printed
    main(["evaluate", "--model", str(trained), "--dataset", "digits"])
    clean = json.loads(capsys.readouterr().out)
    assert clean["r2"] == pytest.approx(json.loads((trained / "metrics.json").read_text())["metrics"]["r2"], abs=1e-6)


def test_embed_and_reconstruct_draw_pictures(trained, tmp_path, capsys):
    main(
        ["embed", "--model", str(trained), "--dataset", "digits", "--num_images", "100", "--output_dir", str(tmp_path)]
    )
    assert PIL.Image.open(tmp_path / "embedding.png").size[0] > 500
    assert (tmp_path / "reconstructions.png").exists()
    main(
        f"reconstruct --model {trained} --dataset digits --num_images 8 --noise mask:0.3 --output "
        f"{tmp_path / 'r.png'}".split()
    )
    img = PIL.Image.open(tmp_path / "r.png")
    assert img.size[1] > 2.5 * img.size[0] / 8  # three rows: clean, corrupted, reconstructed
    assert "embedding.png" in capsys.readouterr().out


def test_demo_runs_end_to_end(tmp_path, capsys):
    main(["demo", "--output_dir", str(tmp_path / "demo"), "--epochs", "2", "--hidden_dim", "32"])
    out = capsys.readouterr().out
    assert "held-out R^2: autoencoder (4-d code)" in out and "PCA with 4 components" in out
    for name in ("embedding.png", "reconstructions.png", "model_index.json", "metrics.json"):
        assert (tmp_path / "demo" / name).exists(), name


def test_bad_input_exits_with_a_message_not_a_traceback(tmp_path):
    with pytest.raises(SystemExit, match="unknown dataset 'nope'"):
        main(["train", "mlp_autoencoder", "--dataset", "nope", "--output_dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="holds no saved pipeline"):
        main(["evaluate", "--model", str(tmp_path), "--dataset", "digits"])


def test_only_user_errors_lose_their_traceback(monkeypatch):
    import hf_genzoo.commands.demo as demo_module

    def bug(args):
        raise ValueError("an internal bug, not a user's mistake")

    monkeypatch.setattr(demo_module, "demo_command", bug)
    with pytest.raises(ValueError, match="an internal bug"):  # not a SystemExit: the traceback stays
        main(["demo"])


def _run(args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(args, capture_output=True, text=True, cwd=kw.get("cwd", REPO), env=env, timeout=300)


def test_help_of_every_command():
    top = _run(["genzoo", "--help"])
    assert top.returncode == 0 and all(c in top.stdout for c in ("train", "reconstruct", "embed", "evaluate", "demo"))
    for cmd in ("reconstruct", "embed", "evaluate", "demo"):
        assert _run(["genzoo", cmd, "--help"]).returncode == 0
    train_help = _run(["genzoo", "train", "mlp_autoencoder", "--help"])
    assert (
        train_help.returncode == 0
        and "--mixed_precision" in train_help.stdout
        and "default: 0.001" in train_help.stdout
    )


def test_accelerate_launch_of_the_script_is_the_same_training(tmp_path):
    out = tmp_path / "launched"
    proc = _run(
        [
            sys.executable,
            *"-m accelerate.commands.launch --num_processes 1 --cpu scripts/train.py --model mlp_autoencoder "
            f"--dataset digits --max_steps 5 --model_config hidden_dim=16 --output_dir {out} --report_to "
            "tensorboard".split(),
        ]
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "model_index.json").exists() and json.loads((out / "metrics.json").read_text())["steps"] == 5
    assert list((out / "logs").rglob("events.out.tfevents.*")), "TensorBoard logs"


def test_evaluate_and_embed_a_vae(tmp_path, capsys):
    out = tmp_path / "vae"
    main(
        f"train vae --dataset digits --output_dir {out} --max_steps 3 --report_to none --model_config "
        "latent_dim=2,block_out_channels=(8,16)".split()
    )
    capsys.readouterr()
    main(["evaluate", "--model", str(out), "--dataset", "digits"])
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["images"] == 360 and metrics["nelbo"] > 0 and metrics["bits_per_dim"] > 0
    main(["embed", "--model", str(out), "--dataset", "digits", "--num_images", "50", "--output_dir", str(tmp_path)])
    assert (tmp_path / "embedding.png").exists()
    with pytest.raises(SystemExit, match="a VAE is not a denoiser"):
        main(["evaluate", "--model", str(out), "--dataset", "digits", "--noise", "mask:0.2"])


@pytest.mark.parametrize(
    "family,model_config",
    [
        ("conv_autoencoder", "block_out_channels=(8,16),latent_dim=8"),
        ("vae", "latent_dim=4,block_out_channels=(8,16)"),
        ("gan", "block_out_channels=(8,16),latent_dim=8"),
        ("flow", "num_levels=2,steps_per_level=1,hidden_channels=8"),
    ],
)
def test_genzoo_train_of_every_family_writes_a_loadable_pipeline(tmp_path, family, model_config):
    import torch

    from hf_genzoo.hub.loading import load_pipeline

    out = tmp_path / family
    main(
        f"train {family} --dataset digits --output_dir {out} --max_steps 2 --report_to none --model_config "
        f"{model_config} --batch_size 32".split()
    )
    pipe = load_pipeline(str(out))
    assert type(pipe).__module__.startswith("hf_genzoo.pipelines")
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2
    assert "hf-genzoo" in (out / "README.md").read_text()
    if family != "conv_autoencoder":
        images = pipe(3, generator=torch.Generator().manual_seed(0), output_type="pt").images
        assert images.shape == (3, 1, 8, 8) and 0 <= images.min() and images.max() <= 1


@pytest.mark.parametrize(
    "family,model_config",
    [
        ("mlp_autoencoder", "hidden_dim=16"),
        ("vae", "latent_dim=4,block_out_channels=(8,16)"),
        ("gan", "block_out_channels=(8,16),latent_dim=8"),
        ("flow", "num_levels=2,steps_per_level=1,hidden_channels=8"),
    ],
)
def test_every_family_trains_on_rgb_cifar100(tmp_path, monkeypatch, family, model_config):
    import hf_genzoo.data.sources as sources
    from hf_genzoo.hub.loading import load_pipeline

    from .test_data import _write_cifar100_like

    _write_cifar100_like(tmp_path, n_train=8, n_test=4)
    monkeypatch.setattr(sources, "CIFAR100_HUB_ID", str(tmp_path))  # the Hub id, pointed at a local copy
    out = tmp_path / family
    main(
        f"train {family} --dataset cifar100 --output_dir {out} --max_steps 1 --batch_size 4 --report_to none "
        f"--model_config {model_config}".split()
    )
    model = next(m for m in load_pipeline(str(out)).components.values() if m is not None)
    assert (model.config.get("in_channels") or model.config.get("out_channels")) == 3
    assert model.config.sample_size == 32


def test_sample_images_draws_from_every_generative_family_deterministically():
    from hf_genzoo.models import VAE, Flow, Generator
    from hf_genzoo.pipelines import FlowPipeline, GANPipeline, VAEPipeline
    from hf_genzoo.samplers import sample_images

    torch.manual_seed(0)
    pipes = {
        "vae": VAEPipeline(vae=VAE(sample_size=8, block_out_channels=(8, 16), latent_dim=2).eval()),
        "gan": GANPipeline(
            generator=Generator(out_channels=1, sample_size=8, block_out_channels=(8, 16), latent_dim=4)
        ),
        "flow": FlowPipeline(
            flow=Flow(in_channels=1, sample_size=8, num_levels=2, steps_per_level=2, hidden_channels=8)
        ),
    }
    for name, pipe in pipes.items():
        pipe.set_progress_bar_config(disable=True)
        kw = {"temperature": 0.7} if name == "flow" else {}
        a = sample_images(pipe, 5, torch.Generator().manual_seed(1), 2, **kw)
        b = sample_images(pipe, 5, torch.Generator().manual_seed(1), 2, **kw)
        assert a.shape == (5, 1, 8, 8), name
        assert 0 <= a.min() and a.max() <= 1, name
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
        assert not torch.equal(a[0], a[2]), name  # the second batch continues the generator
