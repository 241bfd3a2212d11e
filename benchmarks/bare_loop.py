"""A bare PyTorch loop over any family's `Objective`: the baseline that `train()` is timed against.

The same data, models, optimizers, LR schedules, gradient clipping and EMA as `hf_genzoo.training.train` (steps 1
and 2 of loop.py, done the same way), then only the arithmetic: batches moved to the device, `torch.autocast` for
bf16/fp16 (fp16 with a `GradScaler` on CUDA), the objective's losses, `backward`, `step`, `zero_grad`,
`after_step`. No Accelerator, tracker, progress bar, finiteness check or `.item()` per step, no evaluation.
Images/s are timed as `train()` times them: the images after the first WARMUP_STEPS optimizer steps over the time
they took (the whole run when it has no more steps than that).

Objectives need nothing of accelerate to compute their losses (the Accelerator reaches them only in `evaluate`,
`pipeline` and `save`, which this loop never calls). `Objective.prepare` runs first, as in `train()`; for a family
that trains the parts it is built on there (text2image: its VAE and text encoder, through `train()`) that is
untimed set-up, and reused when `cfg.output_dir` already holds them (gpu_smoke.py runs this after `train()` on
the same config). With `cfg.compile` each model is compiled in place (`nn.Module.compile`, inductor), as `train()`
compiles it.
"""

import dataclasses
import time
from dataclasses import dataclass, field

import torch
from accelerate.utils import set_seed  # a plain seeding helper (random, numpy, torch): the one train() uses
from diffusers.optimization import get_scheduler

from hf_genzoo.data import load_data, make_loader
from hf_genzoo.registry import get_family
from hf_genzoo.training import TrainConfig
from hf_genzoo.training.config import resolve_mixed_precision
from hf_genzoo.training.loop import WARMUP_STEPS

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class BareResult:
    steps: int  # optimizer steps done
    images_per_second: float  # after the first WARMUP_STEPS steps, as `TrainResult.images_per_second`
    losses: dict[str, list[float]] = field(default_factory=dict)  # every step's loss, per optimizer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(cfg: TrainConfig, device: str | torch.device | None = None) -> BareResult:
    """Train `cfg.model` for `cfg.max_steps` steps (or `cfg.epochs` epochs) in a plain PyTorch loop on `device`
    (default: CUDA where there is one, else the CPU); see the module docstring."""
    if cfg.gradient_accumulation_steps != 1 or cfg.streaming:
        raise ValueError(
            "the bare loop steps once per batch over a tensorized split: it takes gradient_accumulation_steps=1 and "
            f"streaming=False (got {cfg.gradient_accumulation_steps} and {cfg.streaming})"
        )
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    family = get_family(cfg.model)
    cfg = dataclasses.replace(cfg, mixed_precision=resolve_mixed_precision(cfg.mixed_precision))
    cfg = family.objective.prepare(cfg)
    set_seed(cfg.seed)

    # 1. data: the training split as train() loads it, its batch size capped at the split's size
    data = load_data(
        family.data_kind,
        cfg.dataset,
        cfg.train_split,
        skip_bad_files=cfg.skip_bad_files,
        **family.objective.data_options(cfg),
    )
    cfg = dataclasses.replace(cfg, batch_size=min(cfg.batch_size, max(1, len(data))))
    loader = make_loader(data, cfg.batch_size, shuffle=True, seed=cfg.seed, drop_last=True)
    total_steps = cfg.max_steps or cfg.epochs * len(loader)

    # 2. models on the device (compiled in place if asked), optimizers and LR schedules as train() builds them
    objective = family.objective(cfg, data)
    for model in objective.models.values():
        model.to(device)
        if cfg.compile:
            model.compile()
    optimizers = objective.optimizers()
    schedule = "constant_with_warmup" if cfg.lr_scheduler == "constant" and cfg.lr_warmup_steps else cfg.lr_scheduler
    schedulers = {
        k: get_scheduler(schedule, opt, num_warmup_steps=cfg.lr_warmup_steps, num_training_steps=total_steps)
        for k, opt in optimizers.items()
        if schedule != "constant"  # its factor is 1 at every step: nothing to step (train() skips it too)
    }
    dtype = AUTOCAST.get(cfg.mixed_precision)
    scaler = torch.amp.GradScaler("cuda") if dtype is torch.float16 and device.type == "cuda" else None

    # 3. train: forward (the objective's losses) under autocast, backward and step outside it
    step, epoch, images, losses = 0, 0, 0, {}
    _sync(device)
    t_start = time.perf_counter()
    while step < total_steps:
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            batch = objective.augment({k: v.to(device) for k, v in batch.items()})
            pending = objective.losses(batch, step)
            while True:
                with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                    item = next(pending, None)
                if item is None:
                    break
                name, loss = item
                opt = optimizers[name]
                (scaler.scale(loss) if scaler else loss).backward()
                if cfg.max_grad_norm:
                    if scaler:
                        scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(opt.param_groups[0]["params"], cfg.max_grad_norm)
                if scaler:
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.step()
                if name in schedulers:
                    schedulers[name].step()
                opt.zero_grad(set_to_none=True)
                losses.setdefault(name, []).append(loss.detach())
            images += len(next(iter(batch.values())))
            step += 1
            if step == WARMUP_STEPS:  # steady state from here on
                _sync(device)
                images, t_start = 0, time.perf_counter()
            objective.after_step(step)
            if step >= total_steps:
                break
        epoch += 1
    _sync(device)
    elapsed = time.perf_counter() - t_start
    return BareResult(
        step, images / max(elapsed, 1e-9), {k: torch.stack(v).float().tolist() for k, v in losses.items()}
    )
