"""The training configuration: one dataclass, the reason for each default beside it.

`genzoo train MODEL ...` and `accelerate launch scripts/train.py --model MODEL ...` both build
their command line from this dataclass (`build_parser`), so the two are the same code and every
flag's `--help` is the comment here. A family's objective may carry a `recipe`: defaults that
suit it better (a GAN's learning rate, say); an explicit flag always wins.
"""

import argparse
import ast
import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserInputError


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    model: str = _f(None, "model family to train (see `genzoo train --help`)", positional=True)
    # --- data
    dataset: str = _f(
        "digits", "dataset name, Hub id, imagefolder:<path> or local file/folder (digits needs no network)"
    )
    train_split: str = _f("train", "split to train on; datasets slicing works, e.g. 'train[:90%]'")
    eval_split: str = _f("test", "held-out split evaluated each epoch, e.g. 'test' or 'train[90%:]'")
    image_column: str = _f(None, "image column (default: the first Image/array column)")
    label_column: str = _f(None, "label column, used for colouring plots (default: 'label' if present)")
    caption_column: str = _f(
        None, "captioned data: the text column (default: guessed; else class names through caption templates)"
    )
    resolution: int = _f(None, "square side in pixels images are resized to (default: the dataset's own)")
    channels: int = _f(None, "images: 1 (grey) or 3 (RGB) (default: the dataset's own); audio: 1 (mono) or 2 (stereo)")
    audio_column: str = _f(None, "audio: the column of audio (an Audio feature or file paths; default: guessed)")
    sampling_rate: int = _f(16_000, "audio: the model's rate; clips are resampled to it (scipy's polyphase resampler)")
    segment_seconds: float = _f(
        1.0, "audio: clips are cut into segments this long, cached once; one segment is one training example"
    )
    num_points: int = _f(2048, "point clouds: points per set, sampled once into the cache (meshes: on their surface)")
    points_column: str = _f(None, "point clouds: the column of points (N x 3 lists, or file paths; default: guessed)")
    skip_bad_files: bool = _f(False, "skip unreadable image files (and report how many) instead of stopping")
    streaming: bool = _f(
        False,
        "stream the training split (datasets' streaming=True, split_dataset_by_node across processes) instead of "
        "tensorizing it into the cache, for a dataset larger than the disk (image families); needs --max_steps; "
        "held out: the eval split's first --eval_batches (default 50) batches; evaluates at the end",
    )
    random_flip: bool = _f(False, "random left-right flips, batched on the device (off: digits are not symmetric)")
    reverb: float = _f(
        0.0, "audio: the share of training segments put in a synthetic room (a random decaying impulse response)"
    )
    # --- model and objective
    model_config: str = _f("", "model constructor overrides, e.g. 'latent_dim=2,hidden_dim=512'")
    noise: str = _f(
        None,
        "train as a denoising model: corrupt the input with gaussian:SIGMA or mask:P; audio: KINDS:LOW:HIGH, noise "
        "kinds (white+pink+brown+hum+babble, or all) at SNRs in [LOW, HIGH] dB",
    )
    loss: str = _f(
        "mse",
        "autoencoder loss: mse, or bce (binary cross-entropy for images in [0, 1]); the VAE: elbo; the audio "
        "denoiser: l1_stft (waveform L1 plus the multi-resolution STFT loss, as DEMUCS), mse or l1 on the waveform, "
        "or snr or si_sdr (their negatives in dB, each clip alike)",
        choices=("mse", "bce", "elbo", "l1", "l1_stft", "snr", "si_sdr"),
    )
    # --- optimization
    epochs: int = _f(10, "passes over the training split (the benchmarks' budget)")
    max_steps: int = _f(None, "stop after this many optimizer steps (overrides --epochs)")
    batch_size: int = _f(128, "images per process per step; 128 keeps 2 CPU cores busy without hurting Adam")
    learning_rate: float = _f(1e-3, "Adam's step size; 1e-3 is Adam's default and right for small autoencoders")
    adam_beta1: float = _f(0.9, "Adam beta1 (GANs want 0.5, Radford et al. 2016)")
    adam_beta2: float = _f(0.999, "Adam beta2")
    weight_decay: float = _f(0.0, "AdamW decoupled weight decay")
    lr_scheduler: str = _f(
        "constant",
        "learning-rate schedule (diffusers.optimization.get_scheduler)",
        choices=("constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial"),
    )
    lr_warmup_steps: int = _f(0, "linear warm-up steps of the learning rate")
    max_grad_norm: float = _f(None, "clip gradients to this global norm (off by default)")
    gradient_accumulation_steps: int = _f(1, "batches accumulated per optimizer step (effective batch = this x batch)")
    mixed_precision: str = _f(
        "no",
        "bf16 is fast on CPUs with AVX-512 BF16 and on recent GPUs; fp16 needs a GPU; auto: "
        "bf16 where the CPU or GPU computes it natively, else no",
        choices=("no", "bf16", "fp16", "auto"),
    )
    compile: bool = _f(
        False,
        "torch.compile the models (accelerate's dynamo backend, inductor): slower first steps, faster ones after "
        "on a GPU",
    )
    seed: int = _f(0, "seed of weights, shuffling and noise: the same seed gives the same run")
    skip_nonfinite_steps: int = _f(
        0,
        "skip up to N batches whose loss is NaN or infinite (counted in metrics.json); 0: the first one stops the run",
    )
    # --- diffusion (the names of diffusers' examples/unconditional_image_generation/train_unconditional.py)
    prediction_type: str = _f(
        "epsilon",
        "diffusion: what the UNet predicts, the noise (epsilon) or v = a*noise - s*x0",
        choices=("epsilon", "v_prediction"),
    )
    ddpm_num_steps: int = _f(1000, "diffusion: timesteps of the forward (noising) process")
    ddpm_beta_schedule: str = _f(
        "linear",
        "diffusion: noise schedule (linear: Ho et al. 2020; squaredcos_cap_v2: cosine)",
        choices=("linear", "scaled_linear", "squaredcos_cap_v2"),
    )
    ema_max_decay: float = _f(
        0.9999, "diffusion, ddgan: the EMA's decay once warmed up (the EMA weights are saved and sampled)"
    )
    ema_inv_gamma: float = _f(1.0, "diffusion, ddgan: EMA warm-up, decay = 1 - (1 + step / inv_gamma) ** -power")
    ema_power: float = _f(0.75, "diffusion, ddgan: EMA warm-up power (3/4 suits runs under ~1M steps, 2/3 longer ones)")
    # --- Denoising Diffusion GAN (Xiao et al. 2022; the names of their train_ddgan.py where they exist)
    num_timesteps: int = _f(4, "ddgan: denoising steps T (the paper: 2, 4 or 8); sampling calls the generator T times")
    r1_gamma: float = _f(
        0.02, "ddgan: weight of the R1 penalty gamma / 2 * E ||grad D(real)||^2 (the paper's CIFAR-10 value)"
    )
    lazy_reg: int = _f(15, "ddgan: apply the R1 penalty every N steps (lazy regularization; 1: every step)")
    discriminator_learning_rate: float = _f(
        None, "GANs: the step size of the model named discriminator (default: --learning_rate; the ddgan recipe's)"
    )
    # --- text-to-image (the names of diffusers' examples/text_to_image/train_text_to_image.py where they exist)
    vae: str = _f(
        None,
        "text2image: the AutoencoderKL (a `genzoo train autoencoder_kl` folder, an SD pipeline, or a "
        "Hub id); default: trained first, into OUTPUT/parts/",
    )
    text_encoder: str = _f(
        None,
        "text2image: the CLIP text encoder and tokenizer (a `genzoo train clip` folder, an SD "
        "pipeline, or a Hub id); default: trained first, into OUTPUT/parts/",
    )
    pretrained_model_name_or_path: str = _f(None, "text2image: fine-tune the UNet of this Stable Diffusion pipeline")
    lora_rank: int = _f(
        None,
        "text2image: train LoRA adapters of this rank instead of the whole UNet (with "
        "--pretrained_model_name_or_path); saved for pipe.load_lora_weights",
    )
    caption_dropout: float = _f(
        0.1,
        "text2image: share of captions replaced by the empty prompt, so that "
        "classifier-free guidance works (Ho & Salimans 2022)",
    )
    class_dropout: float = _f(
        0.1,
        "pointcloud_diffusion: share of training sets whose class label is dropped, so that one model samples with "
        "and without a class",
    )
    prior_steps: int = _f(
        10_000,
        "pointcloud_diffusion with --model_config shape_latent_dim=D: optimizer steps of the latents' prior, fitted "
        "once the decoder is trained (a few minutes on a CPU)",
    )
    # --- sharing (token: HF_TOKEN or `hf auth login`; never a flag, so it stays out of logs and configs)
    push_to_hub: bool = _f(False, "push the pipeline and its model card to the Hub when training ends")
    hub_model_id: str = _f(
        None, "Hub repo to push to, user/name (default: the output folder's name, in your namespace)"
    )
    hub_private_repo: bool = _f(False, "create the Hub repo as private")
    # --- bookkeeping
    output_dir: str = _f("genzoo-output", "where the pipeline, checkpoints, logs and pictures go")
    overwrite_output_dir: bool = _f(
        False, "train into an --output_dir that holds a finished model or an earlier run's checkpoints, clearing them"
    )
    checkpointing_steps: int = _f(500, "save a resumable checkpoint every N optimizer steps (0: never)")
    checkpoints_total_limit: int = _f(3, "keep only the newest K checkpoints")
    resume_from_checkpoint: str = _f(None, "'latest' or a checkpoint folder to continue from")
    log_every: int = _f(50, "log the training loss every N steps (logging syncs; every step costs speed)")
    eval_every_epochs: int = _f(1, "evaluate on the held-out split and save a picture every N epochs")
    eval_batches: int = _f(None, "evaluate on at most this many batches (default: the whole split)")
    report_to: str = _f("tensorboard", "tracker for accelerate: tensorboard, wandb, ..., or none")

    def model_kwargs(self) -> dict[str, Any]:
        """`--model_config 'a=1,b=(2, 3)'` -> {'a': 1, 'b': (2, 3)} (values are Python literals)."""
        return parse_kwargs(self.model_config)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


AT_LEAST_ONE = (
    "epochs",
    "batch_size",
    "gradient_accumulation_steps",
    "log_every",
    "prior_steps",
    "eval_every_epochs",
    "num_timesteps",
    "lazy_reg",
)
AT_LEAST_ONE_IF_GIVEN = ("max_steps", "eval_batches", "checkpoints_total_limit", "lora_rank")
AT_LEAST_ZERO = {
    "checkpointing_steps": "never",
    "lr_warmup_steps": "no warm-up",
    "skip_nonfinite_steps": "skip none",
    "r1_gamma": "no R1 penalty",
}


def check_config(cfg: TrainConfig) -> None:
    """Raise a one-line `UserInputError` for a value that would train nothing or make no sense, before any work."""
    for name in AT_LEAST_ONE + AT_LEAST_ONE_IF_GIVEN:
        value = getattr(cfg, name)
        if value is not None and value < 1:
            raise UserInputError(f"--{name} must be 1 or more, got {value}")
    for name, zero in AT_LEAST_ZERO.items():
        if getattr(cfg, name) < 0:
            raise UserInputError(f"--{name} must be 0 or more (0: {zero}), got {getattr(cfg, name)}")
    if cfg.streaming and not cfg.max_steps:
        raise UserInputError("--streaming needs --max_steps: a stream's length is not known ahead, so it counts steps")
    for name in ("learning_rate", "max_grad_norm", "discriminator_learning_rate", "sampling_rate", "segment_seconds"):
        value = getattr(cfg, name)
        if value is not None and not value > 0:  # `not >` also catches NaN
            raise UserInputError(f"--{name} must be above 0, got {value}")


def bf16_is_native(device=None) -> bool:
    """Whether this machine (or its `device`, a `torch.device`: `cpu` or `cuda`) computes bf16 natively: a CUDA GPU
    that supports it, or a CPU with AVX-512 BF16 or AMX (where bf16 autocast is a real speed-up, not an emulation).
    Without `device`: the GPU where there is one, else the CPU."""
    import torch

    kind = getattr(device, "type", device)
    if kind == "cuda" or (kind is None and torch.cuda.is_available()):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if kind not in (None, "cpu"):
        return False  # mps, xpu, ...: not claimed
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


@functools.cache
def _cpu_flags() -> frozenset:
    """The CPU's flags from /proc/cpuinfo, read once (pipelines ask on every call); empty where it is not Linux."""
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(f.read().split())
    except OSError:  # not Linux: do not guess
        return frozenset()


def resolve_mixed_precision(value: str, device=None) -> str:
    """'auto' -> 'bf16' where bf16 is native (on `device`, see `bf16_is_native`), else 'no'; other values
    unchanged."""
    return ("bf16" if bf16_is_native(device) else "no") if value == "auto" else value


def parse_kwargs(spec: str) -> dict[str, Any]:
    if not spec:
        return {}
    try:
        tree = ast.parse(f"f({spec})", mode="eval").body
        if tree.args:
            raise SyntaxError("positional value")
        return {kw.arg: ast.literal_eval(kw.value) for kw in tree.keywords}
    except (SyntaxError, ValueError) as err:
        raise UserInputError(
            f"--model_config {spec!r} is not a list of key=value pairs with Python literal values "
            f"(e.g. 'latent_dim=2,block_out_channels=(32, 64)'): {err}"
        ) from None


def _str2bool(v: str) -> bool:
    if v.lower() in ("1", "true", "yes", "y"):
        return True
    if v.lower() in ("0", "false", "no", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {v!r}")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls=TrainConfig, skip=()) -> None:
    """One flag per field, typed from the annotation, the field's comment as its help."""
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        kind = {"int": int, "float": float, "str": str, "bool": bool}[
            f.type if isinstance(f.type, str) else f.type.__name__
        ]
        shown = " (default: %(default)s)" if f.default not in (None, "") else ""
        help_text = f.metadata["help"].replace("%", "%%")  # argparse formats help with %
        if f.metadata.get("positional"):
            parser.add_argument(f.name, help=help_text)
        elif kind is bool:
            parser.add_argument(
                f"--{f.name}", type=_str2bool, nargs="?", const=True, default=f.default, help=help_text + shown
            )
        else:
            parser.add_argument(
                f"--{f.name}", type=kind, default=f.default, help=help_text + shown, choices=f.metadata.get("choices")
            )


def config_from_namespace(ns: argparse.Namespace) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in vars(ns).items() if k in names})
