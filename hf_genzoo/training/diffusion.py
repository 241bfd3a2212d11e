"""Objective of the diffusion family: DDPM (Ho et al. 2020, arXiv:2006.11239) on diffusers' own parts.

diffusers' `UNet2DModel`, `DDPMScheduler`, `EMAModel` and `DDPMPipeline` are used as they are; this file
only says what one training step is (cf. diffusers' examples/unconditional_image_generation/train_unconditional.py,
whose flag names `--prediction_type`, `--ddpm_num_steps`, `--ddpm_beta_schedule`, `--ema_*` we keep):

    x0 = image in [-1, 1],  t ~ Uniform{0, ..., T-1},  noise ~ N(0, I)
    x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise                      (DDPMScheduler.add_noise)
    loss = || UNet(x_t, t) - target ||^2,  target = noise (epsilon)     (Ho et al. 2020, eq. 14)
                                                  or v = sqrt(abar_t) noise - sqrt(1 - abar_t) x0
                                                     (v_prediction, Salimans & Ho 2022; get_velocity)

After every optimizer step an exponential moving average of the weights is updated (`EMAModel`, decay warmed
up as 1 - (1 + step / inv_gamma) ** -power up to `--ema_max_decay`). The EMA weights, not the raw ones, are
what is evaluated, drawn during training and saved: the output folder is a stock `DDPMPipeline`
(`DDPMPipeline.from_pretrained(dir)` loads it without hf_genzoo).

Evaluation on the held-out split, with the EMA weights and fixed-seed t and noise (so evaluations compare):
    loss           the training loss above, averaged over images
    loss_t<a>_<b>  the same over the images whose t fell in [a, b): where in the chain the model is good
The picture: a row of held-out images over rows of EMA samples from fixed noise, drawn with DPM-Solver++ in
`PICTURE_STEPS` steps (a 1000-step DDPM chain per epoch would cost more than the epoch on a CPU).
"""

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import extract_model_from_parallel
from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

from hf_genzoo.models.unet import unet_for_images
from hf_genzoo.samplers import DEFAULT_STEPS, make_scheduler, use_sampler

from ..data import TensorData, to_unit_range
from ..errors import UserInputError
from .config import TrainConfig
from .objective import EMAObjective

EVAL_SEED = 1234  # the same (t, noise) pairs at every evaluation
PICTURE_SEED = 0  # the same starting noise in every picture, so pictures compare over training
PICTURE_ROWS = 3  # rows of samples under the row of held-out images
PICTURE_SAMPLER, PICTURE_STEPS = "sde-dpmsolver++", 20
# The fast samplers' options for a pixel-space DDPM, chosen by benchmarks/fast_sampler_options.py
# (docs/measured/trilemma.md, "Fast samplers"): clipping the x0 estimate to [-1, 1] at every step (dynamic
# thresholding with sample_max_value 1, what DDPM's own sampler does with clip_sample) lowered DPM-Solver++ 20's
# FD_local from 17.2 to 11.3, and its stochastic form to 6.3.
SAMPLER_OPTIONS = {"dpmsolver++": {"thresholding": True}, "sde-dpmsolver++": {"thresholding": True}}
T_BUCKETS = 4  # the held-out loss is also reported over 4 equal ranges of t


def noise_scheduler_for(cfg: TrainConfig) -> DDPMScheduler:
    return DDPMScheduler(
        num_train_timesteps=cfg.ddpm_num_steps,
        beta_schedule=cfg.ddpm_beta_schedule,
        prediction_type=cfg.prediction_type,
    )


def diffusion_target(scheduler: DDPMScheduler, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the UNet learns to predict at (x_t, t): the noise, or v (diffusers' own `get_velocity`)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(x0, noise, t)
    raise UserInputError(f"prediction_type {kind!r} is not trained here; use epsilon or v_prediction")


class DiffusionObjective(EMAObjective):
    """What the diffusion families share: a DDPM noise schedule, an EMA of the denoiser's weights (`EMAObjective`) and
    the held-out loss over fixed-seed (t, noise) pairs. A family says how a batch becomes clean inputs and conditioning
    (`clean_and_condition`)."""

    def clean_and_condition(self, batch: dict, sample: bool) -> tuple[torch.Tensor, dict]:
        """x0 (`(B, C, H, W)` images, `(B, N, 3)` point sets) and the denoiser's other keyword arguments for `batch`
        (`sample`: draw what is random in x0 itself, as training does; evaluation takes the deterministic value)."""
        raise NotImplementedError

    def diffusion_loss(self, batch: dict) -> torch.Tensor:
        x0, condition = self.clean_and_condition(batch, sample=True)
        noise = torch.randn_like(x0)  # (B, C, H, W)
        t = torch.randint(0, self.noise_scheduler.config.num_train_timesteps, (len(x0),), device=x0.device)  # (B,)
        denoiser = self.models[self.ema_model]
        prediction = denoiser(self.noise_scheduler.add_noise(x0, noise, t), t, **condition).sample
        return F.mse_loss(prediction.float(), diffusion_target(self.noise_scheduler, x0, noise, t).float())

    @torch.no_grad()
    def evaluate(self, loader, accelerator: Accelerator) -> dict[str, float]:
        return self._with_ema_weights(lambda: self._evaluate(loader, accelerator))

    def _evaluate(self, loader, accelerator):
        unet, sched = self.models[self.ema_model], self.noise_scheduler
        steps = sched.config.num_train_timesteps
        g = torch.Generator(device=accelerator.device).manual_seed(EVAL_SEED + accelerator.process_index)
        sums, counts = torch.zeros(T_BUCKETS, dtype=torch.float64), torch.zeros(T_BUCKETS, dtype=torch.float64)
        for batch in loader:
            x0, condition = self.clean_and_condition(batch, sample=False)  # (B, C, H, W)
            noise = torch.randn(x0.shape, generator=g, device=x0.device)
            t = torch.randint(0, steps, (len(x0),), generator=g, device=x0.device)  # (B,)
            prediction = unet(sched.add_noise(x0, noise, t), t, **condition).sample.float()
            per_image = (prediction - diffusion_target(sched, x0, noise, t).float()).pow(2).flatten(1).mean(1)  # (B,)
            per_image, t = accelerator.gather_for_metrics((per_image, t))
            bucket = (t * T_BUCKETS // steps).cpu()
            sums.index_add_(0, bucket, per_image.double().cpu())
            counts.index_add_(0, bucket, torch.ones_like(per_image, dtype=torch.float64).cpu())
        metrics = {"loss": (sums.sum() / counts.sum()).item()}
        edges = [steps * i // T_BUCKETS for i in range(T_BUCKETS + 1)]
        for i in range(T_BUCKETS):
            metrics[f"loss_t{edges[i]}_{edges[i + 1]}"] = (sums[i] / counts[i].clamp_min(1)).item()
        return metrics


class DDPMObjective(DiffusionObjective):
    """Trains diffusers' `UNet2DModel` as a DDPM with an EMA of its weights; see the module docstring."""

    recipe = {
        "learning_rate": 2e-4,  # Ho et al. 2020 (CIFAR-10, batch 128)
        "lr_scheduler": "constant_with_warmup",  # Ho et al.: linear warm-up, then constant
        "lr_warmup_steps": 500,  # train_unconditional.py's default (Ho et al. warm up over 5000 steps of a longer run)
        "adam_beta1": 0.95,  # train_unconditional.py's Adam settings
        "weight_decay": 1e-6,
        "max_grad_norm": 1.0,  # Ho et al. clip the gradient norm to 1
        "batch_size": 128,  # Ho et al.
        "epochs": 20,
        "mixed_precision": "auto",  # bf16 where it is native (benchmarks/ddpm_throughput.py times what it gives)
        "random_flip": False,  # digits and clothes are not mirror-symmetric; Ho et al. flip CIFAR-10 only
    }

    def __init__(self, cfg: TrainConfig, data: TensorData):
        super().__init__(cfg, data)
        if cfg.noise:
            raise UserInputError(
                f"a DDPM makes its own noise; --noise is for denoising autoencoders (got {cfg.noise!r})"
            )
        self.unet = unet_for_images(data.channels, data.resolution, **cfg.model_kwargs())
        self.noise_scheduler = noise_scheduler_for(cfg)
        self.init_ema(self.unet, UNet2DModel)
        self.models = {"unet": self.unet}

    def clean_and_condition(self, batch, sample):
        return to_unit_range(batch["pixel_values"]) * 2 - 1, {}  # (B, C, H, W) in [-1, 1]; unconditional

    def losses(self, batch, step):
        yield "unet", self.diffusion_loss(batch)

    @torch.no_grad()
    def picture(self, batch) -> torch.Tensor:
        real = to_unit_range(batch["pixel_values"])  # (N, C, H, W) in [0, 1]
        return self._with_ema_weights(lambda: self._picture(real))

    def _picture(self, real):
        unet = extract_model_from_parallel(self.models["unet"])  # DDP's module (its forward keeps the autocast)
        scheduler = make_scheduler(
            PICTURE_SAMPLER, self.noise_scheduler.config, **SAMPLER_OPTIONS.get(PICTURE_SAMPLER, {})
        )
        pipe = DDPMPipeline(unet=unet, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        g = torch.Generator(device="cpu").manual_seed(PICTURE_SEED)
        fake = pipe(
            batch_size=PICTURE_ROWS * len(real), generator=g, num_inference_steps=PICTURE_STEPS, output_type="pt"
        ).images
        return torch.cat([real[None].cpu(), fake.float().cpu().view(PICTURE_ROWS, *real.shape)])  # (1 + R, N, C, H, W)

    def pipeline(self, accelerator: Accelerator) -> DDPMPipeline:
        """A stock DDPMPipeline holding a fresh UNet with the EMA weights."""
        unet = self.ema_copy(accelerator.unwrap_model(self.models["unet"]))
        return DDPMPipeline(unet=unet, scheduler=self.noise_scheduler)

    def card_info(self):
        return {
            "tags": ["ddpm", "diffusion", "unconditional-image-generation"],
            "description": f"DDPM ({self.noise_scheduler.config.prediction_type} prediction)",
            "main_metric": "loss",
            "hyperparameters": (
                "prediction_type",
                "ddpm_num_steps",
                "ddpm_beta_schedule",
                "ema_max_decay",
                "ema_power",
                "max_grad_norm",
            ),
        }


def sample(pipe: DDPMPipeline, batch_size: int, generator, scheduler: str | None = None, steps: int | None = None):
    """Images from a saved DDPM: its own scheduler, or `scheduler` swapped in (the network is the same), for `steps`
    steps (default: the sampler's usual number, `DEFAULT_STEPS`)."""
    if scheduler:
        use_sampler(pipe, scheduler)
    pipe.set_progress_bar_config(disable=True)
    steps = steps or DEFAULT_STEPS[scheduler or "ddpm"]
    return pipe(batch_size=batch_size, generator=generator, num_inference_steps=steps, output_type="pt").images
