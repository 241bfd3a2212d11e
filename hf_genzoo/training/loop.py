"""The one training loop of hf_genzoo, on accelerate.

Every family trains here; what differs is its `Objective` (models, optimizers, loss of a batch).
`train` runs the phases of a `Run` in order (cf. accelerate's `nlp_example.py`, `transformers.Trainer`):
    Run(cfg)         check the config and the output folder, the family's preparation, the `Accelerator`
    load_data        1. tensorize the train and held-out splits once (main process first), build loaders
    build            2. the objective builds its models; optimizers and LR schedulers; `accelerator.prepare` once
    resume           3. from a checkpoint if asked (weights, optimizers, RNG states, our step counter)
    start_logging    train_config.json, trackers, progress bar
    train            4. for each batch, `train_step`: `accumulate`, the objective's losses one optimizer at a time,
                        `backward`, step; 5. `after_step`: every N steps log, checkpoint; every epoch `evaluate`
    finish           6. `save_pretrained` of the pipeline, metrics.json, model card; push to the Hub if asked
"""

import dataclasses
import itertools
import json
import logging
import math
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import ProjectConfiguration, parse_flag_from_env, set_seed
from diffusers.optimization import get_scheduler
from huggingface_hub import get_token
from tqdm.auto import tqdm

from ..compat import lomo_check_cached, reset_accelerate_state
from ..data import load_data, make_loader, make_stream_loader, stream_data
from ..errors import TrainingDiverged, UserInputError
from ..hub.card import write_model_card
from ..hub.push import push_to_hub
from ..records import dumps
from ..registry import get_family
from ..viz import image_grid, save_grid
from .config import TrainConfig, check_config, resolve_mixed_precision

logger = logging.getLogger(__name__)

STATE_FILE = "genzoo_state.json"  # written last: a checkpoint without it is incomplete and never resumed
STREAM_EVAL_BATCHES = 50  # a streamed run holds out this many batches of the eval split (or --eval_batches)
WARMUP_STEPS = 10  # throughput is timed after these (first calls allocate, import and tune)


@dataclass
class TrainState:
    """Our counters, saved in every checkpoint beside accelerate's own state."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # epoch in progress
    batches_in_epoch: int = 0  # batches of that epoch already consumed
    history: list = field(default_factory=list)  # the held-out metrics of every evaluation so far
    skipped: int = 0  # batches skipped for a non-finite loss (--skip_nonfinite_steps)

    def state_dict(self):
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batches_in_epoch": self.batches_in_epoch,
            "history": self.history,
            "skipped": self.skipped,
        }

    def load_state_dict(self, d):
        self.step, self.epoch, self.batches_in_epoch = d["step"], d["epoch"], d["batches_in_epoch"]
        self.history, self.skipped = list(d.get("history", [])), d.get("skipped", 0)  # older checkpoints lack them


@dataclass
class TrainResult:
    output_dir: Path
    metrics: dict  # the final held-out evaluation
    steps: int
    images_per_second: float  # training images/s after the first WARMUP_STEPS steps, evaluations excluded
    history: list = field(default_factory=list)
    main_process: bool = True  # False in the other processes of a multi-process run: only the main one reports


def find_checkpoint(output_dir: str | Path, which: str) -> Path:
    """'latest' -> the newest complete checkpoint under output_dir/checkpoints; else the given folder."""
    if which != "latest":
        path = Path(which)
        if not (path / STATE_FILE).exists():
            raise UserInputError(f"{path} is not a complete hf_genzoo checkpoint (no {STATE_FILE})")
        return path
    done = complete_checkpoints(output_dir)
    if not done:
        raise UserInputError(f"--resume_from_checkpoint latest: no complete checkpoint in {Path(output_dir) / CKPT}")
    return done[-1]


CKPT = "checkpoints"
TMP_PREFIX = ".incomplete_"  # a checkpoint is written under this name and renamed when complete


def _step_of(path: Path) -> int:
    return json.loads((path / STATE_FILE).read_text())["step"]


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """The complete checkpoints under output_dir/checkpoints, oldest first."""
    root = Path(output_dir) / CKPT
    done = [p for p in root.glob("checkpoint_*") if (p / STATE_FILE).exists()] if root.exists() else []
    return sorted(done, key=_step_of)


def _save_checkpoint(accelerator: Accelerator, state: TrainState, root: Path, keep: int | None) -> Path:
    """Write the checkpoint of `state.step` under a temporary name, rename it when complete, and only then delete
    the oldest complete ones beyond `keep`: a kill at any moment leaves the last complete checkpoint in place."""
    final, tmp = root / f"checkpoint_{state.step}", root / f"{TMP_PREFIX}checkpoint_{state.step}"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))  # the models, optimizers, schedulers, RNG states (one file per process)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps(state.state_dict()))  # written last: the checkpoint is complete
        if final.exists():  # the same step saved again (a resumed run)
            shutil.rmtree(final)
        os.replace(tmp, final)
        for old in complete_checkpoints(root.parent)[:-keep] if keep else []:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


FINISHED_FILES = (
    "model_index.json",
    "metrics.json",
    "train_config.json",
    "README.md",
    "card_info.json",
    "pytorch_lora_weights.safetensors",
)
RUN_FOLDERS = (CKPT, "samples", "logs", "parts")


def _check_output_dir(out: Path, cfg: TrainConfig) -> None:
    """Refuse to train over a finished model or an earlier run's checkpoints unless asked to (as the transformers
    Trainer does); with --overwrite_output_dir, clear what the earlier run left. Incomplete checkpoints (a kill
    during a write) are removed: they can never be resumed."""
    # before the Accelerator, as it will be: accelerate only reads ACCELERATE_USE_CPU (`launch --cpu`, or torchrun on
    # CPUs) in the Accelerator's own state, and a plain PartialState() here would make every process a single one
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "is a file" if not existing.is_dir() else "is not writable"
        raise UserInputError(f"cannot write the output folder {out}: {existing} {why}; choose another --output_dir")
    index = out / "model_index.json"
    done = complete_checkpoints(out)
    if not cfg.overwrite_output_dir and not cfg.resume_from_checkpoint:
        what = []
        if index.exists():
            what.append(f"a finished {json.loads(index.read_text()).get('_class_name', 'pipeline')}")
        if done:
            what.append(f"{len(done)} checkpoint(s) of an earlier run")
        if what:
            raise UserInputError(
                f"{out} already holds {' and '.join(what)}; pass --overwrite_output_dir to replace it"
                f"{', --resume_from_checkpoint latest to continue the run' if done else ''}, or choose another "
                f"--output_dir"
            )
    state.wait_for_everyone()  # every process has looked before the main one changes anything
    if state.is_main_process:
        if cfg.overwrite_output_dir and out.is_dir():
            components = json.loads(index.read_text()) if index.exists() else {}
            for name in (*RUN_FOLDERS, *(k for k in components if not k.startswith("_"))):
                shutil.rmtree(out / name, ignore_errors=True)
            for name in FINISHED_FILES:
                (out / name).unlink(missing_ok=True)
        root = out / CKPT
        for stale in [*root.glob(f"{TMP_PREFIX}*"), *root.glob("checkpoint_*")] if root.is_dir() else []:
            if not (stale / STATE_FILE).exists():
                logger.warning("removing the incomplete checkpoint %s (a run stopped while writing it)", stale)
                shutil.rmtree(stale)
    state.wait_for_everyone()


def launched_processes() -> int | None:
    """The `--num_processes` of the `accelerate launch` that started this process (read from the parent's command
    line, Linux), or None when it was not launched so or did not say."""
    try:
        args = Path(f"/proc/{os.getppid()}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return None
    if not any(a.endswith(("accelerate", "accelerate.commands.launch")) for a in args[:3]):
        return None
    for i, a in enumerate(args):
        for flag in ("--num_processes", "--num-processes"):
            value = (
                args[i + 1]
                if a == flag and i + 1 < len(args)
                else a[len(flag) + 1 :]
                if a.startswith(flag + "=")
                else None
            )
            if value is not None and value.isdigit():
                return int(value)
    return None


LAUNCH_CPU_HINT = (
    "for N processes on CPUs, launch with `ACCELERATE_USE_CPU=true torchrun --standalone --nproc_per_node N "
    "scripts/train.py ...` (accelerate launch --cpu starts one process on a machine without GPUs)"
)


def _all_finite(models) -> bool:
    return all(bool(torch.isfinite(p).all()) for m in models for p in m.parameters())


def _loss_is_finite(loss, accelerator: Accelerator) -> bool:
    """Whether `loss` is finite in every process (one answer for all, so that they all skip or step together).
    A host sync: only `--skip_nonfinite_steps` asks this every step (it must decide before the step)."""
    bad = (~torch.isfinite(loss.detach())).float().reshape(1)
    if accelerator.num_processes > 1:
        bad = accelerator.reduce(bad, reduction="sum")
    return not bool(bad.item())


class LossWindow:
    """The losses since the last log, kept on the device: no host sync per step (on a GPU an `.item()` per step
    stalls the host until the device is done, so it cannot queue the next step's kernels).

    `check` finds the first non-finite loss of the window (one sync, in every process alike); `means` are the
    logged values. The loop checks at every log, before every checkpoint and at the end, so a run that diverges
    stops within `--log_every` steps and no checkpoint after the bad step is written."""

    def __init__(self):
        self.losses: dict[str, list] = {}  # optimizer name -> [(step, loss)]

    def add(self, name: str, step: int, loss: torch.Tensor) -> None:
        self.losses.setdefault(name, []).append((step, loss.detach()))

    def check(self, accelerator: Accelerator) -> tuple[str, float, int] | None:
        """(name, value, step) of the first non-finite loss in any process, else None."""
        for name, pairs in self.losses.items():
            values = torch.stack([loss.float() for _, loss in pairs])
            bad = ~torch.isfinite(values)
            if accelerator.num_processes > 1:  # every process must stop alike
                bad = accelerator.reduce(bad.float(), reduction="sum") > 0
            if bad.any():
                i = int(bad.nonzero()[0])
                return name, float(values[i]), pairs[i][0]
        return None

    def means(self) -> dict[str, float]:
        return {name: torch.stack([v for _, v in pairs]).float().mean().item() for name, pairs in self.losses.items()}

    def clear(self) -> None:
        self.losses = {}


def streamed_to(device: torch.device, batches):
    """A stream's batches on the training device (a prepared loader moves them itself)."""
    for batch in batches:
        yield {key: v.to(device, non_blocking=True) for key, v in batch.items()}


def train(cfg: TrainConfig) -> TrainResult:
    """Train `cfg.model` as `cfg` says; see the module docstring for the steps."""
    try:
        with lomo_check_cached():
            run = Run(cfg)
            run.load_data()
            run.build()
            run.resume()
            run.start_logging()
            run.train()
            return run.finish()
    finally:
        reset_accelerate_state()  # a second train() in this process may pick another precision


class Run:
    """One training run: what `train` keeps from phase to phase, and the phases (cf. `transformers.Trainer`'s
    `_inner_training_loop`). Each phase sets the attributes the next ones read; their order is `train`'s."""

    def __init__(self, cfg: TrainConfig):
        """Check the config and the output folder, let the family prepare, make the `Accelerator`."""
        self.family = family = get_family(cfg.model)
        check_config(cfg)
        cfg = dataclasses.replace(cfg, mixed_precision=resolve_mixed_precision(cfg.mixed_precision))
        self.out = out = Path(cfg.output_dir)
        _check_output_dir(out, cfg)
        if cfg.push_to_hub and get_token() is None:  # say so now, not after the training
            raise UserInputError("--push_to_hub needs a Hub token: set HF_TOKEN or run `hf auth login`")
        self.cfg = family.objective.prepare(cfg)  # e.g. a tokenizer learned, or the parts a model is built on trained
        self.accelerator = accelerator = Accelerator(
            mixed_precision=self.cfg.mixed_precision,
            gradient_accumulation_steps=self.cfg.gradient_accumulation_steps,
            log_with=None if self.cfg.report_to == "none" else self.cfg.report_to,
            project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
        )
        set_seed(self.cfg.seed)
        asked = launched_processes()
        if asked and asked > accelerator.num_processes and accelerator.is_main_process:
            logger.warning(
                "accelerate launch asked for %d processes, this run has %d: %s",
                asked,
                accelerator.num_processes,
                LAUNCH_CPU_HINT if accelerator.device.type == "cpu" else "see `accelerate env`",
            )
        self.state = TrainState()

    def load_data(self) -> None:
        """1. The kind of data the family trains on, the held-out split with the options the training split
        realized, and their loaders; the number of steps."""
        cfg, accelerator, family = self.cfg, self.accelerator, self.family
        with accelerator.main_process_first():
            kind, skip, options = family.data_kind, cfg.skip_bad_files, family.objective.data_options(cfg)
            if cfg.streaming:  # this process's share of the stream; the held-out split's first examples, in memory
                train_data = stream_data(
                    kind,
                    cfg.dataset,
                    cfg.train_split,
                    rank=accelerator.process_index,
                    world_size=accelerator.num_processes,
                    seed=cfg.seed,
                    skip_bad_files=skip,
                    **options,
                )
                held_out = (cfg.eval_batches or STREAM_EVAL_BATCHES) * cfg.batch_size
                eval_data = stream_data(kind, cfg.dataset, cfg.eval_split, head=held_out, **train_data.options).head()
            else:
                train_data = load_data(kind, cfg.dataset, cfg.train_split, skip_bad_files=skip, **options)
                eval_data = load_data(kind, cfg.dataset, cfg.eval_split, skip_bad_files=skip, **train_data.options)
        for d in (train_data, eval_data):
            if d.n_skipped:
                logger.warning("skipped %d unreadable file(s) in %s (%s)", d.n_skipped, d.name, d.split)
            for warning in d.warnings:
                logger.warning("%s (%s): %s", d.name, d.split, warning)
        fits = max(1, len(train_data) // accelerator.num_processes) if not cfg.streaming else cfg.batch_size
        if cfg.batch_size > fits:  # images per process per epoch
            logger.warning(
                "--batch_size %d is more than the %d training images per process: using %d", cfg.batch_size, fits, fits
            )
            self.cfg = cfg = dataclasses.replace(cfg, batch_size=fits)  # and train_config.json says so
        eval_loader = make_loader(eval_data, cfg.batch_size, shuffle=False)
        self.picture_batch = next(iter(make_loader(eval_data, 16, shuffle=False)))
        if cfg.streaming:  # already this process's share: accelerate would dispatch or split it again
            self.train_loader = make_stream_loader(train_data, cfg.batch_size)
            self.eval_loader = accelerator.prepare(eval_loader)
            self.total_steps = self.updates_per_epoch = cfg.max_steps  # a stream has no length known ahead
        else:
            train_loader = make_loader(train_data, cfg.batch_size, shuffle=True, seed=cfg.seed, drop_last=True)
            # sharded first: the steps of an epoch are those of one process's share (accelerate syncs the gradients
            # at the end of the loader too, so a last partial accumulation is a step)
            self.train_loader, self.eval_loader = accelerator.prepare(train_loader, eval_loader)
            self.updates_per_epoch = math.ceil(len(self.train_loader) / cfg.gradient_accumulation_steps)
            self.total_steps = cfg.max_steps or cfg.epochs * self.updates_per_epoch
        self.train_data = train_data

    def build(self) -> None:
        """2. The objective's models, their optimizers and LR schedulers, `accelerator.prepare` once."""
        cfg, accelerator = self.cfg, self.accelerator
        try:
            self.objective = objective = self.family.objective(cfg, self.train_data)
        except (RuntimeError, TypeError, ValueError) as err:
            if not cfg.model_config or isinstance(err, UserInputError):
                raise
            raise UserInputError(
                f"--model_config {cfg.model_config!r}: {cfg.model} cannot be built with it ({err})"
            ) from err
        if cfg.compile:  # each model's own __call__, compiled in place: unwrapping and saving see the same module
            for m in objective.models.values():
                m.compile()
        optimizers = objective.optimizers()
        # diffusers' "constant" ignores warm-up silently; a warm-up asked for is a warm-up given
        constant = cfg.lr_scheduler == "constant"
        schedule = "constant_with_warmup" if constant and cfg.lr_warmup_steps else cfg.lr_scheduler
        # a prepared scheduler steps once per process at each optimizer step (accelerate's AcceleratedScheduler)
        per_step = accelerator.num_processes
        warmup, steps = cfg.lr_warmup_steps * per_step, self.total_steps * per_step
        schedulers = {
            k: get_scheduler(schedule, opt, num_warmup_steps=warmup, num_training_steps=steps)
            for k, opt in optimizers.items()
        }
        names = list(objective.models)
        prepared = accelerator.prepare(*objective.models.values(), *optimizers.values(), *schedulers.values())
        n, k = len(names), len(optimizers)
        objective.models = dict(zip(names, prepared[:n], strict=True))
        self.optimizers = dict(zip(optimizers, prepared[n : n + k], strict=True))
        self.schedulers = dict(zip(schedulers, prepared[n + k : n + 2 * k], strict=True))
        # a constant schedule without warm-up has nothing to step (its factor is 1 at every step); the others step
        self.stepping = {} if schedule == "constant" else self.schedulers
        self.picture_batch = {key: v.to(accelerator.device) for key, v in self.picture_batch.items()}
        accelerator.register_for_checkpointing(self.state, *objective.checkpoint_objects())

    def resume(self) -> None:
        """3. The weights, optimizers, schedulers, RNG states and our counters of a checkpoint, if asked."""
        if self.cfg.resume_from_checkpoint:
            path = find_checkpoint(self.out, self.cfg.resume_from_checkpoint)
            self.accelerator.load_state(str(path))
            self.accelerator.print(f"resumed from {path} at step {self.state.step} (epoch {self.state.epoch})")

    def start_logging(self) -> None:
        """train_config.json, the trackers, the progress bar, the loss window and the throughput clock."""
        cfg, accelerator = self.cfg, self.accelerator
        if accelerator.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "train_config.json").write_text(dumps(cfg.to_dict(), indent=2))
        if cfg.report_to != "none":
            flat = {key: (v if isinstance(v, (int, float, str, bool)) else str(v)) for key, v in cfg.to_dict().items()}
            accelerator.init_trackers("genzoo", config=flat)
        self.bar = tqdm(
            total=self.total_steps,
            initial=self.state.step,
            desc=f"training {cfg.model}",
            disable=not accelerator.is_local_main_process,
        )
        self.window = LossWindow()  # the losses since the last log
        self.metrics: dict = {}  # the last evaluation's
        self.images_seen, self.t_start, self.eval_seconds = 0, time.perf_counter(), 0.0
        self.timed_from = self.state.step + WARMUP_STEPS

    def train(self) -> None:
        """4-5. Epochs of batches until `total_steps`; an evaluation at the end of every --eval_every_epochs."""
        cfg, state = self.cfg, self.state
        epochs = math.ceil(self.total_steps / self.updates_per_epoch)
        done = state.step >= self.total_steps
        try:
            while not done and (cfg.max_steps or state.epoch < epochs):  # --max_steps: however many epochs skips take
                for batch in self._epoch_batches():
                    state.batches_in_epoch += 1
                    if self.train_step(batch) and self.after_step():
                        done = True
                        break
                if cfg.streaming and not done:  # this process's share is through: its next pass (shares may
                    state.epoch, state.batches_in_epoch = state.epoch + 1, 0  # differ: a stream evaluates at the end)
                elif not cfg.streaming and state.batches_in_epoch >= len(self.train_loader):  # the epoch is complete
                    state.epoch, state.batches_in_epoch = state.epoch + 1, 0
                    if state.epoch % cfg.eval_every_epochs == 0 or state.epoch == epochs:
                        self.end_of_epoch_evaluation()
        finally:  # also when it diverged: a bar left open prints itself again whenever it is collected
            self.bar.close()

    def _epoch_batches(self):
        """This epoch's batches from where the run stands (a resumed run skips those it trained on)."""
        state, accelerator = self.state, self.accelerator
        self.train_loader.set_epoch(state.epoch)
        if self.cfg.streaming:  # a resumed stream replays its epoch's order up to the checkpoint (it cannot seek)
            return streamed_to(accelerator.device, itertools.islice(self.train_loader, state.batches_in_epoch, None))
        if state.batches_in_epoch:
            return accelerator.skip_first_batches(self.train_loader, state.batches_in_epoch)
        return self.train_loader

    def train_step(self, batch) -> bool:
        """The objective's losses of one batch, one optimizer at a time: backward, and at a gradient sync clip, step
        and zero. Whether an optimizer step was taken (not when accumulating, nor when the batch was skipped)."""
        cfg, state, accelerator, objective = self.cfg, self.state, self.accelerator, self.objective
        batch, skip = objective.augment(batch), False
        # with one batch per step there is nothing to accumulate: accelerate's context would set what is so already
        accumulate = cfg.gradient_accumulation_steps > 1
        with accelerator.accumulate(*objective.models.values()) if accumulate else nullcontext():
            for name, loss in objective.losses(batch, state.step):
                # skipping decides before the step: a host sync per step, so only when asked; skips the batch's rest
                if cfg.skip_nonfinite_steps and not _loss_is_finite(loss, accelerator):
                    if state.skipped >= cfg.skip_nonfinite_steps:
                        raise self.diverged(f"the {name} loss is {loss.item()} at step {state.step + 1}")
                    state.skipped, skip = state.skipped + 1, True
                    logger.warning("step %d: %s loss %s, batch skipped", state.step + 1, name, loss.item())
                    self.optimizers[name].zero_grad(set_to_none=True)  # and what this window accumulated
                    break
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    optimizer = self.optimizers[name]
                    if cfg.max_grad_norm:
                        accelerator.clip_grad_norm_(optimizer.param_groups[0]["params"], cfg.max_grad_norm)
                    optimizer.step()  # accelerate's: the fp16 loss scaler lives there
                    if name in self.stepping:
                        self.stepping[name].step()
                    # the torch optimizer's own zero_grad: accelerate's asks inspect.signature at every call
                    optimizer.optimizer.zero_grad(set_to_none=True)
                self.window.add(name, state.step + 1, loss)
        self.images_seen += len(next(iter(batch.values()))) * accelerator.num_processes
        return not skip and accelerator.sync_gradients

    def after_step(self) -> bool:
        """Count the step; log, check the losses and checkpoint when due. Whether it was the last step."""
        cfg, state = self.cfg, self.state
        state.step += 1
        if state.step == self.timed_from:  # steady state from here on
            self.images_seen, self.t_start, self.eval_seconds = 0, time.perf_counter(), 0.0
        self.objective.after_step(state.step)
        self.bar.update(1)
        last = state.step >= self.total_steps
        checkpoint = cfg.checkpointing_steps and state.step % cfg.checkpointing_steps == 0
        log = state.step % cfg.log_every == 0 or last
        if log or checkpoint:
            self.check_losses()
        if log:
            logs = {f"train/loss_{key}": v for key, v in self.window.means().items()}
            logs["train/lr"] = next(iter(self.schedulers.values())).get_last_lr()[0]
            self.accelerator.log(logs, step=state.step)
            self.bar.set_postfix({key.split("/")[-1]: f"{v:.4g}" for key, v in logs.items()})
            self.window.clear()
        if checkpoint:
            if not _all_finite(self.objective.models.values()):
                raise self.diverged(f"the weights are not finite after step {state.step}")
            _save_checkpoint(self.accelerator, state, self.out / CKPT, cfg.checkpoints_total_limit)
        return last

    def end_of_epoch_evaluation(self) -> None:
        t_eval = time.perf_counter()
        self.evaluate(f"epoch_{self.state.epoch:04d}")
        self.eval_seconds += time.perf_counter() - t_eval
        if self.accelerator.is_local_main_process:
            scores = ", ".join(f"{key} {v:.4f}" for key, v in self.metrics.items())
            self.bar.write(f"epoch {self.state.epoch}: {scores}")

    def evaluate(self, tag: str) -> None:
        """Held-out metrics (into `metrics` and the history), a picture under samples/`tag`.png, and both to the
        trackers (with the family's sounds, if it has any)."""
        objective, accelerator, state = self.objective, self.accelerator, self.state
        for m in objective.models.values():
            m.eval()
        limit = self.cfg.eval_batches
        limited = (b for i, b in enumerate(self.eval_loader) if limit is None or i < limit)
        self.metrics = metrics = objective.evaluate(limited, accelerator)
        pic, clips = objective.picture(self.picture_batch), objective.sounds(self.picture_batch)
        for m in objective.models.values():
            m.train()
        if accelerator.is_main_process:
            save_grid(pic, self.out / "samples" / f"{tag}.png")
            if any(t.name == "tensorboard" for t in accelerator.trackers):
                grid = np.asarray(image_grid(pic))[None]  # (1, H, W, 3)
                accelerator.get_tracker("tensorboard").log_images({"samples": grid}, state.step, dataformats="NHWC")
                if clips is not None:
                    writer = accelerator.get_tracker("tensorboard", unwrap=True)  # torch's SummaryWriter
                    for name, wave in clips[0].items():
                        writer.add_audio(f"audio/{name}", wave[None], state.step, sample_rate=clips[1])
        accelerator.log({f"eval/{key}": v for key, v in metrics.items()}, step=state.step)
        state.history.append({"epoch": state.epoch, "step": state.step, **metrics})

    def check_losses(self) -> None:
        """Stop with `TrainingDiverged` at the first non-finite loss since the last log (one host sync)."""
        found = self.window.check(self.accelerator)
        if found:
            name, value, bad_step = found
            raise self.diverged(f"the {name} loss is {value} at step {bad_step}")

    def diverged(self, what: str) -> TrainingDiverged:
        done = complete_checkpoints(self.out)
        kept = f"the last good checkpoint is {done[-1]}" if done else "there is no checkpoint"
        return TrainingDiverged(
            f"{what}: training diverged and no pipeline was saved ({kept}). Try a lower --learning_rate, "
            f"--max_grad_norm 1.0 or --skip_nonfinite_steps N; --resume_from_checkpoint latest continues from there"
        )

    def finish(self) -> TrainResult:
        """6. The final evaluation (unless the last step had one), then the pipeline, metrics.json and the model
        card; a push to the Hub if asked."""
        cfg, state, accelerator, objective, out = self.cfg, self.state, self.accelerator, self.objective, self.out
        elapsed = time.perf_counter() - self.t_start - self.eval_seconds
        if not state.history or state.history[-1]["step"] != state.step:
            self.evaluate(f"step_{state.step:06d}")
        else:
            self.metrics = {k: v for k, v in state.history[-1].items() if k not in ("epoch", "step")}
        accelerator.wait_for_everyone()
        if not _all_finite(objective.models.values()):
            raise self.diverged(f"the weights are not finite after step {state.step}")
        speed = self.images_seen / max(elapsed, 1e-9)
        result = TrainResult(out, self.metrics, state.step, speed, state.history, accelerator.is_main_process)
        if accelerator.is_main_process:
            objective.save(objective.pipeline(accelerator), out, accelerator)
            summary = {
                "model": cfg.model,
                "dataset": cfg.dataset,
                "eval_split": cfg.eval_split,
                "steps": state.step,
                "data_kind": self.family.data_kind,
                **self.train_data.options,  # e.g. the resolution and channels it trained at
                "metrics": self.metrics,
                "history": state.history,
                "train_images_per_second": result.images_per_second,
                "skipped_nonfinite_batches": state.skipped,
            }
            (out / "metrics.json").write_text(dumps(summary, indent=2))
            latest = max((out / "samples").glob("*.png"), key=os.path.getmtime)
            info = {"template": self.family.template, "pipeline_tag": self.family.pipeline_tag, **objective.card_info()}
            write_model_card(out, cfg, info, summary, latest)
            if cfg.push_to_hub:
                commit = push_to_hub(out, cfg.hub_model_id or out.resolve().name, private=cfg.hub_private_repo)
                accelerator.print(f"pushed to {commit.repo_url} (commit {commit.oid[:8]})")
        # every process tears its process group down at once, after the main one has written: one that destroys
        # its group while another still runs may hang the other's destroy (pytorch/pytorch#75097)
        accelerator.wait_for_everyone()
        accelerator.end_training()
        return result
