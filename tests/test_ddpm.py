"""The diffusion family: diffusers' UNet2DModel trained as a DDPM by the one loop, EMA, stock-pipeline parity,
fast samplers."""

import json

import numpy as np
import PIL.Image
import pytest
import torch
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, DPMSolverMultistepScheduler
from safetensors.torch import load_file

from hf_genzoo import cli
from hf_genzoo.errors import UserInputError
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.models import unet
from hf_genzoo.models.unet import SMALL_IMAGE_UNET, as_model_config, unet_for_images
from hf_genzoo.samplers import SAMPLERS, make_scheduler, use_sampler
from hf_genzoo.training import config as config_module
from hf_genzoo.training import make_config, train
from hf_genzoo.training.config import resolve_mixed_precision
from hf_genzoo.training.diffusion import diffusion_target

TINY_UNET = as_model_config(unet.TINY_UNET)  # 8x8 digits in seconds: two resolutions, attention at the lower one
STEPS = 90  # two epochs of digits at batch 32


def tiny_ddpm_kwargs(output_dir, **kw):
    return dict(
        dict(
            dataset="digits",
            output_dir=str(output_dir),
            batch_size=32,
            report_to="none",
            log_every=10,
            model_config=TINY_UNET,
            learning_rate=2e-3,
            lr_warmup_steps=0,
            mixed_precision="no",
            checkpointing_steps=0,
        ),
        **kw,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny DDPM run shared by the tests below, with a checkpoint at its last step."""
    out = tmp_path_factory.mktemp("ddpm") / "run"
    result = train(make_config("ddpm", **tiny_ddpm_kwargs(out, max_steps=STEPS, checkpointing_steps=STEPS)))
    return result


# --- the UNet


def test_default_unet_size_and_shapes():
    unet = unet_for_images(1, 28)
    assert round(sum(p.numel() for p in unet.parameters()) / 1e6, 1) == 3.9  # the size models/unet.py states
    assert unet.config.block_out_channels == SMALL_IMAGE_UNET["block_out_channels"]
    with torch.no_grad():
        for side in (28, 32):
            x = torch.randn(2, 3, side, side)
            assert unet_for_images(3, side)(x, torch.tensor([0, 999])).sample.shape == x.shape


def test_a_resolution_the_unet_cannot_take_says_which_it_can():
    with pytest.raises(ValueError, match=r"divisible by 4 \(4, 8, 12, .*got 30\. Use --resolution 32 \(or 28\)"):
        unet_for_images(1, 30)
    with pytest.raises(ValueError, match="norm_num_groups=32.*does not divide block_out_channels \\(16,\\)"):
        unet_for_images(1, 28, block_out_channels=(16, 64, 128))
    with pytest.raises(ValueError, match="3 block_out_channels but 2 down_block_types"):
        unet_for_images(1, 28, down_block_types=("DownBlock2D", "DownBlock2D"))


def test_training_refuses_a_resolution_the_unet_cannot_take(tmp_path):
    cfg = make_config("ddpm", **tiny_ddpm_kwargs(tmp_path / "r", max_steps=1), resolution=14)  # 14 / 2 is fine...
    cfg.model_config = ""  # ...but the default UNet halves twice
    with pytest.raises(ValueError, match=r"divisible by 4.*Use --resolution 16 \(or 12\)"):
        train(cfg)


# --- the objective against closed forms


@pytest.mark.parametrize("schedule", ["linear", "squaredcos_cap_v2"])
def test_noising_and_v_target_match_the_closed_forms(schedule):
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule=schedule, prediction_type="v_prediction")
    betas = sched.betas.double()
    abar = torch.cumprod(1 - betas, 0)  # alpha-bar_t = prod_s (1 - beta_s)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.rand(5, 1, 4, 4, generator=g) * 2 - 1, torch.randn(5, 1, 4, 4, generator=g)
    t = torch.tensor([0, 10, 500, 900, 999])
    a = abar[t].view(-1, 1, 1, 1)
    tol = dict(rtol=1e-4, atol=1e-5)  # float32 against float64
    torch.testing.assert_close(sched.add_noise(x0, noise, t).double(), a.sqrt() * x0 + (1 - a).sqrt() * noise, **tol)
    torch.testing.assert_close(
        diffusion_target(sched, x0, noise, t).double(), a.sqrt() * noise - (1 - a).sqrt() * x0, **tol
    )
    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule=schedule)
    assert diffusion_target(sched, x0, noise, t) is noise  # epsilon prediction


# --- training


def test_training_lowers_the_held_out_loss_and_saves_a_stock_pipeline(trained):
    out = trained.output_dir
    first, last = trained.history[0]["loss"], trained.history[-1]["loss"]
    # predicting zero noise scores E[noise^2] = 1 (an untrained UNet scores about that); one epoch is far lower
    assert last < 0.85 * first and last < 0.3, trained.history
    assert set(trained.metrics) == {"loss", "loss_t0_250", "loss_t250_500", "loss_t500_750", "loss_t750_1000"}
    index = json.loads((out / "model_index.json").read_text())
    assert index["_class_name"] == "DDPMPipeline" and index["unet"] == ["diffusers", "UNet2DModel"]
    assert isinstance(load_pipeline(str(out)), DDPMPipeline)
    card = (out / "README.md").read_text()
    assert "DDPMPipeline.from_pretrained" in card and "ema_max_decay" in card and "loss_t0_250" in card


def test_ema_weights_differ_from_the_raw_ones_and_are_the_saved_ones(trained):
    ckpt = trained.output_dir / "checkpoints" / f"checkpoint_{STEPS}"  # taken at the last step
    raw = load_file(str(ckpt / "model.safetensors"))  # the trained UNet as accelerate saved it
    ema = torch.load(ckpt / "custom_checkpoint_1.pkl", weights_only=True)  # 0: our step counter, 1: the EMA
    assert ema["optimization_step"] == STEPS
    saved = DDPMPipeline.from_pretrained(trained.output_dir).unet
    names = [n for n, _ in saved.named_parameters()]
    assert len(ema["shadow_params"]) == len(names) == len(raw)
    for name, p, shadow in zip(names, saved.parameters(), ema["shadow_params"], strict=True):
        torch.testing.assert_close(p.detach(), shadow, rtol=0, atol=0, msg=name)
    moved = [n for n, shadow in zip(names, ema["shadow_params"], strict=True) if not torch.equal(shadow, raw[n])]
    assert len(moved) > 0.9 * len(names)  # the average lags the raw weights


def test_resume_restores_the_ema(tmp_path):
    whole = train(make_config("ddpm", **tiny_ddpm_kwargs(tmp_path / "whole", max_steps=30)))
    split = tmp_path / "split"
    train(make_config("ddpm", **tiny_ddpm_kwargs(split, max_steps=15, checkpointing_steps=15)))
    train(
        make_config(
            "ddpm", **tiny_ddpm_kwargs(split, max_steps=30, checkpointing_steps=15, resume_from_checkpoint="latest")
        )
    )
    a = load_file(str(whole.output_dir / "unet" / "diffusion_pytorch_model.safetensors"))
    b = load_file(str(split / "unet" / "diffusion_pytorch_model.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def test_v_prediction_trains_and_the_saved_scheduler_says_so(tmp_path):
    result = train(
        make_config(
            "ddpm",
            **tiny_ddpm_kwargs(tmp_path / "v", max_steps=20),
            prediction_type="v_prediction",
            ddpm_beta_schedule="squaredcos_cap_v2",
        )
    )
    pipe = DDPMPipeline.from_pretrained(result.output_dir)
    assert pipe.scheduler.config.prediction_type == "v_prediction"
    assert pipe.scheduler.config.beta_schedule == "squaredcos_cap_v2"
    assert make_scheduler("dpmsolver++", pipe.scheduler.config).config.prediction_type == "v_prediction"
    assert np.isfinite(result.metrics["loss"])


def test_auto_mixed_precision_is_bf16_only_where_it_is_native(monkeypatch):
    monkeypatch.setattr(config_module, "bf16_is_native", lambda device=None: True)
    assert resolve_mixed_precision("auto") == "bf16" and resolve_mixed_precision("no") == "no"
    monkeypatch.setattr(config_module, "bf16_is_native", lambda device=None: False)
    assert resolve_mixed_precision("auto") == "no" and resolve_mixed_precision("bf16") == "bf16"
    assert make_config("ddpm").mixed_precision == "auto"


# --- sampling: the stock pipeline, the CLI, the samplers


@pytest.mark.parametrize("scheduler,steps", [(None, 10), ("dpmsolver++", 8), ("sde-dpmsolver++", 8), ("ddim", 6)])
def test_genzoo_sample_gives_the_stock_pipelines_images(trained, tmp_path, scheduler, steps):
    flags = ["--scheduler", scheduler] if scheduler else []
    cli.main(
        [
            *f"sample --model {trained.output_dir} --num_images 6 --seed 3 --steps {steps} --output "
            f"{tmp_path / 'grid.png'} --images_dir {tmp_path / 'png'}".split(),
            *flags,
        ]
    )
    pipe = DDPMPipeline.from_pretrained(trained.output_dir)  # diffusers alone
    if scheduler in ("dpmsolver++", "sde-dpmsolver++"):
        # what a user of stock diffusers runs for a pixel-space model: diffusers' advice, thresholding=True
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(
            pipe.scheduler.config, algorithm_type=scheduler, thresholding=True
        )
    elif scheduler == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    stock = pipe(batch_size=6, generator=torch.Generator().manual_seed(3), num_inference_steps=steps).images
    ours = [PIL.Image.open(tmp_path / "png" / f"{i:05d}.png") for i in range(6)]
    for a, b in zip(stock, ours, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len({np.asarray(a).tobytes() for a in stock}) == 6  # six different samples
    assert PIL.Image.open(tmp_path / "grid.png").size[0] > 6 * 8


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_swapping_the_scheduler_keeps_shape_and_determinism(trained, name):
    pipe = use_sampler(DDPMPipeline.from_pretrained(trained.output_dir), name)
    assert type(pipe.scheduler) is SAMPLERS[name][0]
    # a pixel-space DDPM's DPM-Solver++ clips its x0 estimates (benchmarks/fast_sampler_options.py chose it)
    assert pipe.scheduler.config.get("thresholding", False) == (name in ("dpmsolver++", "sde-dpmsolver++"))
    pipe.set_progress_bar_config(disable=True)

    def run(seed):
        return pipe(
            batch_size=3, generator=torch.Generator().manual_seed(seed), num_inference_steps=10, output_type="np"
        ).images

    a, b, c = run(0), run(0), run(1)
    assert a.shape == (3, 8, 8, 1) and 0 <= a.min() and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.05
    assert len(pipe.scheduler.timesteps) == 10


def test_an_unknown_scheduler_lists_the_supported_ones(trained, capsys):
    with pytest.raises(SystemExit):  # argparse refuses it before anything loads
        cli.main(["sample", "--model", str(trained.output_dir), "--scheduler", "euler"])
    err = capsys.readouterr().err.replace("'", "")  # argparse quotes the choices from Python 3.12.8 on
    assert (
        "argument --scheduler: invalid choice: euler (choose from ddpm, ddim, dpmsolver++, sde-dpmsolver++, dpmsolver)"
        in err
    )
    with pytest.raises(ValueError, match="unknown scheduler 'pndm'"):
        make_scheduler("pndm", DDPMScheduler().config)


def test_sampler_options_are_refused_where_they_mean_nothing():
    from hf_genzoo.models.gan import Generator
    from hf_genzoo.pipelines import GANPipeline
    from hf_genzoo.samplers import sample_images

    pipe = GANPipeline(generator=Generator(out_channels=1, sample_size=8, block_out_channels=(8, 16), latent_dim=4))
    with pytest.raises(UserInputError, match="--steps: not an option of gan"):
        sample_images(pipe, 2, torch.Generator().manual_seed(0), 2, steps=5)
    with pytest.raises(UserInputError, match=r"--scheduler and --temperature: not an option of gan \(it takes none\)"):
        sample_images(pipe, 2, torch.Generator().manual_seed(0), 2, temperature=0.7, scheduler="ddim")
    assert sample_images(pipe, 5, torch.Generator().manual_seed(0), 2, temperature=None).shape == (5, 1, 8, 8)


def test_genzoo_evaluate_scores_a_fast_sampler_of_the_network(trained, tiny_models, tmp_path):
    out = tmp_path / "m.json"
    cli.main(
        f"evaluate --model {trained.output_dir} --dataset digits --classifier {tiny_models['classifier']} "
        f"--num_samples 16 --scheduler dpmsolver++ --steps 4 --output {out}".split()
    )
    result = json.loads(out.read_text())
    assert result["nfe"] == 4 and result["samples"] == 16 and result["FD_local"] > 0 and result["images_per_s"] > 0
