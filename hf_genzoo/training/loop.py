"""The one training loop of hf_genzoo, on accelerate.

Every family trains here; what differs is its `Objective` (models, optimizers, loss of a batch).
Steps (cf. accelerate's `nlp_example.py`):
    1. data: tensorize the train and held-out splits once (main process first), build loaders
    2. the objective builds its models; optimizers and LR schedulers; `accelerator.prepare` once
    3. resume from a checkpoint if asked (weights, optimizers, RNG states, our step counter)
    4. for each batch: `accumulate`, the objective's losses one optimizer at a time, `backward`, step
    5. every N steps: log, checkpoint; every epoch: evaluate, save a picture
    6. at the end: `save_pretrained` of the pipeline, metrics.json, model card; push to the Hub if asked
"""

import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from accelerate import Accelerator
from accelerate.utils import ProjectConfiguration, set_seed
from diffusers.optimization import get_scheduler
from huggingface_hub import get_token
from tqdm.auto import tqdm

from ..compat import lomo_check_cached, reset_accelerate_state
from ..data import load_data, make_loader
from ..errors import UserInputError
from ..family import get_family
from ..hub.card import write_model_card
from ..hub.push import push_to_hub
from ..viz import image_grid, save_grid
from .config import TrainConfig, resolve_mixed_precision

logger = logging.getLogger(__name__)

STATE_FILE = "genzoo_state.json"  # written last: a checkpoint without it is incomplete and never resumed
WARMUP_STEPS = 10  # throughput is timed after these (first calls allocate, import and tune)


@dataclass
class TrainState:
    """Our counters, saved in every checkpoint beside accelerate's own state."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # epoch in progress
    batches_in_epoch: int = 0  # batches of that epoch already consumed

    def state_dict(self):
        return {"step": self.step, "epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch}

    def load_state_dict(self, d):
        self.step, self.epoch, self.batches_in_epoch = d["step"], d["epoch"], d["batches_in_epoch"]


@dataclass
class TrainResult:
    output_dir: Path
    metrics: dict  # the final held-out evaluation
    steps: int
    images_per_second: float  # training images/s after the first WARMUP_STEPS steps, evaluations excluded
    history: list = field(default_factory=list)


def find_checkpoint(output_dir: str | Path, which: str) -> Path:
    """'latest' -> the newest complete checkpoint under output_dir/checkpoints; else the given folder."""
    if which != "latest":
        path = Path(which)
        if not (path / STATE_FILE).exists():
            raise UserInputError(f"{path} is not a complete hf_genzoo checkpoint (no {STATE_FILE})")
        return path
    root = Path(output_dir) / "checkpoints"
    done = [p for p in root.glob("checkpoint_*") if (p / STATE_FILE).exists()] if root.exists() else []
    if not done:
        raise UserInputError(f"--resume_from_checkpoint latest: no complete checkpoint in {root}")
    return max(done, key=lambda p: json.loads((p / STATE_FILE).read_text())["step"])


def _save_checkpoint(accelerator: Accelerator, state: TrainState) -> Path:
    path = Path(accelerator.save_state())  # accelerate names it and keeps the newest `total_limit`
    if accelerator.is_main_process:
        tmp = path / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state.state_dict()))
        os.replace(tmp, path / STATE_FILE)
    return path


def train(cfg: TrainConfig) -> TrainResult:
    """Train `cfg.model` as `cfg` says; see the module docstring for the steps."""
    try:
        with lomo_check_cached():
            return _train(cfg)
    finally:
        reset_accelerate_state()  # a second train() in this process may pick another precision


def _train(cfg: TrainConfig) -> TrainResult:
    family = get_family(cfg.model)
    cfg = dataclasses.replace(cfg, mixed_precision=resolve_mixed_precision(cfg.mixed_precision))
    out = Path(cfg.output_dir)
    existing = sorted((out / "checkpoints").glob("checkpoint_*"), key=lambda p: int(p.name.split("_")[-1]))
    if existing and cfg.checkpointing_steps and not cfg.resume_from_checkpoint:
        raise UserInputError(
            f"{out} already has checkpoints of an earlier run; pass --resume_from_checkpoint latest to continue it, "
            f"or choose another --output_dir"
        )
    if cfg.push_to_hub and get_token() is None:  # say so now, not after the training
        raise UserInputError("--push_to_hub needs a Hub token: set HF_TOKEN or run `hf auth login`")
    cfg = family.objective.prepare(cfg)  # e.g. a tokenizer learned, or the parts a model is built on trained
    accelerator = Accelerator(
        mixed_precision=cfg.mixed_precision,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        log_with=None if cfg.report_to == "none" else cfg.report_to,
        project_config=ProjectConfiguration(
            project_dir=str(out),
            logging_dir=str(out / "logs"),
            automatic_checkpoint_naming=True,
            total_limit=cfg.checkpoints_total_limit,
        ),
    )
    set_seed(cfg.seed)

    # 1. data: the kind the family trains on; the held-out split with the options the training split realized
    with accelerator.main_process_first():
        kind, skip = family.data_kind, cfg.skip_bad_files
        train_data = load_data(
            kind, cfg.dataset, cfg.train_split, skip_bad_files=skip, **family.objective.data_options(cfg)
        )
        eval_data = load_data(kind, cfg.dataset, cfg.eval_split, skip_bad_files=skip, **train_data.options)
    for d in (train_data, eval_data):
        if d.n_skipped:
            logger.warning("skipped %d unreadable file(s) in %s (%s)", d.n_skipped, d.name, d.split)
        for warning in d.warnings:
            logger.warning("%s (%s): %s", d.name, d.split, warning)
    train_loader = make_loader(train_data, cfg.batch_size, shuffle=True, seed=cfg.seed, drop_last=True)
    eval_loader = make_loader(eval_data, cfg.batch_size, shuffle=False)
    picture_batch = next(iter(make_loader(eval_data, 16, shuffle=False)))

    # 2. models, optimizers, schedulers, prepare
    objective = family.objective(cfg, train_data)
    optimizers = objective.optimizers()
    updates_per_epoch = max(1, len(train_loader) // cfg.gradient_accumulation_steps)
    total_steps = cfg.max_steps or cfg.epochs * updates_per_epoch
    # diffusers' "constant" ignores warm-up silently; a warm-up asked for is a warm-up given
    schedule = "constant_with_warmup" if cfg.lr_scheduler == "constant" and cfg.lr_warmup_steps else cfg.lr_scheduler
    schedulers = {
        k: get_scheduler(schedule, opt, num_warmup_steps=cfg.lr_warmup_steps, num_training_steps=total_steps)
        for k, opt in optimizers.items()
    }
    names = list(objective.models)
    prepared = accelerator.prepare(
        *objective.models.values(), *optimizers.values(), *schedulers.values(), train_loader, eval_loader
    )
    n, k = len(names), len(optimizers)
    objective.models = dict(zip(names, prepared[:n], strict=True))
    optimizers = dict(zip(optimizers, prepared[n : n + k], strict=True))
    schedulers = dict(zip(schedulers, prepared[n + k : n + 2 * k], strict=True))
    train_loader, eval_loader = prepared[-2:]
    picture_batch = {key: v.to(accelerator.device) for key, v in picture_batch.items()}

    state = TrainState()
    accelerator.register_for_checkpointing(state, *objective.checkpoint_objects())

    # 3. resume
    if cfg.resume_from_checkpoint:
        path = find_checkpoint(out, cfg.resume_from_checkpoint)
        accelerator.load_state(str(path))
        accelerator.print(f"resumed from {path} at step {state.step} (epoch {state.epoch})")
    if existing:  # accelerate numbers checkpoints itself: go on after the newest
        accelerator.project_configuration.iteration = int(existing[-1].name.split("_")[-1]) + 1

    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    if cfg.report_to != "none":
        flat = {key: (v if isinstance(v, (int, float, str, bool)) else str(v)) for key, v in cfg.to_dict().items()}
        accelerator.init_trackers("genzoo", config=flat)

    def evaluate_and_picture(tag: str) -> dict:
        for m in objective.models.values():
            m.eval()
        limited = (b for i, b in enumerate(eval_loader) if cfg.eval_batches is None or i < cfg.eval_batches)
        metrics = objective.evaluate(limited, accelerator)
        pic = objective.picture(picture_batch)
        for m in objective.models.values():
            m.train()
        if accelerator.is_main_process:
            save_grid(pic, out / "samples" / f"{tag}.png")
            if any(t.name == "tensorboard" for t in accelerator.trackers):
                grid = np.asarray(image_grid(pic))[None]  # (1, H, W, 3)
                accelerator.get_tracker("tensorboard").log_images({"samples": grid}, state.step, dataformats="NHWC")
        accelerator.log({f"eval/{key}": v for key, v in metrics.items()}, step=state.step)
        return metrics

    # 4-5. train
    history, metrics = [], {}
    images_seen, t_start, timed_from, eval_seconds = 0, time.perf_counter(), state.step + WARMUP_STEPS, 0.0
    bar = tqdm(
        total=total_steps,
        initial=state.step,
        desc=f"training {cfg.model}",
        disable=not accelerator.is_local_main_process,
    )
    running, running_n = {}, {}  # loss sums and counts per optimizer since the last log
    epochs = math.ceil(total_steps / updates_per_epoch)
    done = state.step >= total_steps
    while not done and state.epoch < epochs:
        train_loader.set_epoch(state.epoch)
        loader = (
            accelerator.skip_first_batches(train_loader, state.batches_in_epoch)
            if state.batches_in_epoch
            else train_loader
        )
        for batch in loader:
            state.batches_in_epoch += 1
            batch = objective.augment(batch)
            with accelerator.accumulate(*objective.models.values()):
                for name, loss in objective.losses(batch, state.step):
                    accelerator.backward(loss)
                    if cfg.max_grad_norm and accelerator.sync_gradients:
                        accelerator.clip_grad_norm_(optimizers[name].param_groups[0]["params"], cfg.max_grad_norm)
                    optimizers[name].step()
                    schedulers[name].step()
                    optimizers[name].zero_grad(set_to_none=True)
                    running[name] = running.get(name, 0.0) + loss.detach()
                    running_n[name] = running_n.get(name, 0) + 1
            images_seen += len(next(iter(batch.values()))) * accelerator.num_processes
            if not accelerator.sync_gradients:
                continue
            state.step += 1
            if state.step == timed_from:  # steady state from here on
                images_seen, t_start, eval_seconds = 0, time.perf_counter(), 0.0
            objective.after_step(state.step)
            bar.update(1)
            if state.step % cfg.log_every == 0 or state.step == total_steps:
                logs = {f"train/loss_{key}": (v / running_n[key]).item() for key, v in running.items()}
                logs["train/lr"] = next(iter(schedulers.values())).get_last_lr()[0]
                accelerator.log(logs, step=state.step)
                bar.set_postfix({key.split("/")[-1]: f"{v:.4g}" for key, v in logs.items()})
                running, running_n = {}, {}
            if cfg.checkpointing_steps and state.step % cfg.checkpointing_steps == 0:
                _save_checkpoint(accelerator, state)
            if state.step >= total_steps:
                done = True
                break
        if state.batches_in_epoch >= len(train_loader):  # the epoch is complete
            state.epoch, state.batches_in_epoch = state.epoch + 1, 0
            if state.epoch % cfg.eval_every_epochs == 0 or state.epoch == epochs:
                t_eval = time.perf_counter()
                metrics = evaluate_and_picture(f"epoch_{state.epoch:04d}")
                eval_seconds += time.perf_counter() - t_eval
                history.append({"epoch": state.epoch, "step": state.step, **metrics})
                bar.write(f"epoch {state.epoch}: " + ", ".join(f"{key} {v:.4f}" for key, v in metrics.items()))
    bar.close()
    elapsed = time.perf_counter() - t_start - eval_seconds

    # 6. final evaluation, pipeline, metrics, card
    if not history or history[-1]["step"] != state.step:
        metrics = evaluate_and_picture(f"step_{state.step:06d}")
        history.append({"epoch": state.epoch, "step": state.step, **metrics})
    accelerator.wait_for_everyone()
    result = TrainResult(out, metrics, state.step, images_seen / max(elapsed, 1e-9), history)
    if accelerator.is_main_process:
        objective.save(objective.pipeline(accelerator), out, accelerator)
        summary = {
            "model": cfg.model,
            "dataset": cfg.dataset,
            "eval_split": cfg.eval_split,
            "steps": state.step,
            "data_kind": family.data_kind,
            **train_data.options,  # e.g. the resolution and channels it trained at
            "metrics": metrics,
            "history": history,
            "train_images_per_second": result.images_per_second,
        }
        (out / "metrics.json").write_text(json.dumps(summary, indent=2))
        latest = max((out / "samples").glob("*.png"), key=os.path.getmtime)
        info = {"template": family.template, "pipeline_tag": family.pipeline_tag, **objective.card_info()}
        write_model_card(out, cfg, info, summary, latest)
        if cfg.push_to_hub:
            commit = push_to_hub(out, cfg.hub_model_id or out.resolve().name, private=cfg.hub_private_repo)
            accelerator.print(f"pushed to {commit.repo_url} (commit {commit.oid[:8]})")
    accelerator.end_training()
    return result
