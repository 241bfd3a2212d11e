"""What a pipeline costs over its bare networks, and the peak memory of training and sampling, for every family.

    python benchmarks/pipeline_overhead.py --update_readme        # every family, its default model, batch 256
    python benchmarks/pipeline_overhead.py --families ddpm,vae --repeats 9
    python benchmarks/pipeline_overhead.py --families vae,gan --min_seconds 10   # rounds until 10 s of each
    python benchmarks/pipeline_overhead.py --quick                # tiny configs on digits, batch 16: checks it runs

Each family is trained for --steps steps by `train()` on its recipe's data, as benchmarks/gpu_smoke.py trains it,
evaluated once on one held-out batch (the model is the family's default; we time sampling, not quality), loaded back
with `load_pipeline`, and timed at --batch_size:

- pipeline: its main use as `Family.sample` (with gpu_smoke's fast solver, DPM-Solver++ in 20 steps, where a family
  takes it) or `Family.transform` makes it: a tensor out, and whatever the pipeline does around its networks.
- default output: the same call with the pipeline's own default `output_type` (PIL images; numpy point sets), so that
  what the conversion costs shows; for the pipelines that take an `output_type`.
- bare networks: the network calls that the pipeline made, made again directly. During one pipeline call, forward
  hooks on every module of the pipeline's components record each outermost module call (one not made from inside
  another module's forward: `unet`, not its blocks; `vae.post_quant_conv` and `vae.decoder` for a `vae.decode`) with
  a copy of its arguments; the bare loop then makes exactly those calls, in order, under `torch.no_grad()`. That is
  the pipeline's network work and nothing else: no noise drawn, no scheduler step, no tokenizer, none of the tensor
  code between networks (a VAE's sigmoid to pixels, classifier-free guidance's mixing, the audio's overlap-add), no
  output conversion. Only the forward passes of `nn.Module`s count as network work.
- pipeline / bare: the ratio of the two throughputs; 1.0 means the pipeline costs nothing over its networks, and the
  target is at least 0.95.

Medians of --repeats timed calls after one warm-up of each, the rounds interleaved so that a noisy machine slows each
alike, and rotated (pipeline, bare, default output; then bare, default output, pipeline; ...) so that no call always
follows the same one (what a call leaves in the caches and the allocator changes the next one's time). With
--min_seconds, rounds go on until each kind of call has taken that long in all (a call of milliseconds gets hundreds
of rounds, a slow one --repeats; the table's last column counts them). Peak memory (`hf_genzoo.memory.PeakMemory`) of
the `train()` call and of one pipeline call: on CUDA the most memory tensors held at once (the weights included), on
the CPU the process's peak resident set; in brackets what the call itself added. A family whose data needs a package
that is missing here is a row that says so. Writes a Markdown table to --output (and with --update_readme between the
`<!-- pipeline_overhead -->` markers of its docs page, or those --marker names).
"""

import argparse
import gc
import inspect
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
from gpu_smoke import FAST
from report import publish

from hf_genzoo.errors import MissingPackage
from hf_genzoo.family import Family
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.memory import PeakMemory
from hf_genzoo.registry import families
from hf_genzoo.training import make_config, train

HERE = Path(__file__).resolve().parent
PARTS = ("training", "sampling")  # what the peak memory is measured of


def _copy(value):
    """Tensors in nested tuples, lists and dicts copied (the pipeline may change its own in place); the rest as is."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


class NetworkCalls:
    """Within it, every outermost forward call of a module of `pipe`'s components, with copies of its arguments:
    `calls` is a list of `(name, module, args, kwargs)`; `replay()` makes those calls again."""

    def __init__(self, pipe):
        self.modules = {}  # module -> its name in the pipeline, e.g. "vae.decoder"
        for component, module in pipe.components.items():
            if isinstance(module, torch.nn.Module):
                for sub, m in module.named_modules():
                    self.modules.setdefault(m, f"{component}.{sub}" if sub else component)
        self.calls, self.depth, self.handles = [], 0, []

    def _enter(self, module, args, kwargs):
        if self.depth == 0:
            self.calls.append((self.modules[module], module, _copy(args), _copy(kwargs)))
        self.depth += 1

    def _leave(self, module, args, output):
        self.depth -= 1

    def __enter__(self) -> "NetworkCalls":
        for m in self.modules:
            self.handles.append(m.register_forward_pre_hook(self._enter, with_kwargs=True))
            self.handles.append(m.register_forward_hook(self._leave, always_call=True))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def counts(self) -> Counter:
        return Counter(name for name, *_ in self.calls)

    @torch.no_grad()
    def replay(self) -> None:
        for _, module, args, kwargs in self.calls:
            module(*args, **kwargs)


class DefaultOutput:
    """Within it, `pipe`'s `__call__` and methods drop an `output_type` keyword, so they return what the pipeline
    returns by default; `met` fills with the defaults met, by method name (empty: none was asked for). The class that
    drops them is built once, here, so that entering costs no more than swapping `pipe.__class__`."""

    def __init__(self, pipe):
        self.pipe, self.base, self.met = pipe, type(pipe), {}
        overrides = {}
        for name in ["__call__", *(n for n in dir(self.base) if not n.startswith("_"))]:
            method = getattr(self.base, name, None)
            if inspect.isfunction(method):
                param = inspect.signature(method).parameters.get("output_type")
                if param is not None and param.default is not inspect.Parameter.empty:
                    overrides[name] = self._dropping(name, method, param.default)
        self.cls = type(self.base.__name__, (self.base,), overrides)

    def _dropping(self, name, method, default):
        def call(pipe, *args, output_type=None, **kwargs):
            if output_type is not None:
                self.met[name] = default
            return method(pipe, *args, **kwargs)

        return call

    def __enter__(self) -> dict:
        self.pipe.__class__ = self.cls
        return self.met

    def __exit__(self, *exc) -> None:
        self.pipe.__class__ = self.base


def timed(calls: dict, repeats: int, device: torch.device, min_seconds: float = 0.0) -> dict[str, list[float]]:
    """Seconds of each of `calls` (name -> function) after a warm-up of each, in interleaved rounds of rotating order:
    `repeats` rounds, and more until each call has taken `min_seconds` in all (at most 10,000 rounds)."""

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    names, rounds = list(calls), 0
    while rounds < repeats or (min(sum(t) for t in times.values()) < min_seconds and rounds < 10_000):
        for name in names[rounds % len(names) :] + names[: rounds % len(names)]:  # each goes first in turn
            sync()
            t = time.perf_counter()
            calls[name]()
            sync()
            times[name].append(time.perf_counter() - t)
        rounds += 1
    return times


def _release():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def measure(family: Family, args, work: Path, device: torch.device) -> dict:
    """Train `family`, then time its pipeline, its default output and its bare networks; peak memory of both."""
    recipe, n = family.objective.recipe, args.batch_size
    cfg = make_config(
        family.name,
        dataset=recipe.get("dataset", args.dataset),  # a family with data of its own kind (audio) trains on it
        max_steps=args.steps,
        batch_size=n,
        report_to="none",
        checkpointing_steps=0,
        eval_batches=1,  # one held-out batch, at the end only: a model to time, not to judge
        eval_every_epochs=10**6,
        output_dir=str(work / family.name),
        **({"mixed_precision": args.mixed_precision} if args.mixed_precision else {}),
        **({"model_config": family.tiny.model_config} if args.quick else {}),
    )
    _release()
    with PeakMemory("cuda" if torch.cuda.is_available() else "cpu") as training:  # where accelerate trains
        result = train(cfg)
    _release()
    pipe = load_pipeline(str(result.output_dir)).to(device)
    pipe.set_progress_bar_config(disable=True)
    options = {k: v for k, v in FAST.items() if k in family.sample_options}
    inputs = None if family.generative else family.example_inputs(pipe, n, torch.Generator().manual_seed(0))
    inputs = inputs.to(device) if isinstance(inputs, torch.Tensor) else inputs

    def pipeline():
        if family.generative:
            return family.sample(pipe, n, torch.Generator(device=device).manual_seed(0), **options)
        return family.transform(pipe, inputs)

    default_output = DefaultOutput(pipe)

    def as_default_output():
        with default_output:
            return pipeline()

    pipeline()  # the first call swaps in the fast solver and builds what is built once
    with NetworkCalls(pipe) as network:
        pipeline()
    with default_output as defaults:
        pipeline()
    _release()
    with PeakMemory(device) as sampling:
        pipeline()
    calls = {"pipeline": pipeline, "bare": network.replay} | ({"default_output": as_default_output} if defaults else {})
    times = timed(calls, args.repeats, device, args.min_seconds)
    speed = {name: n / statistics.median(t) for name, t in times.items()}
    row = {
        "family": family.name,
        "network_calls": dict(network.counts()),
        "nfe": family.nfe_for(pipe, **options),  # the family's own count, per sample
        "dtype": str(pipe.dtype).removeprefix("torch."),
        "pipeline_images_per_s": speed["pipeline"],
        "bare_images_per_s": speed["bare"],
        "ratio": speed["pipeline"] / speed["bare"],
        "default_output": sorted(set(defaults.values())),
        "default_output_images_per_s": speed.get("default_output"),
        "training_memory": {"peak_mib": training.peak_mib, "delta_mib": training.delta_mib, "method": training.method},
        "sampling_memory": {"peak_mib": sampling.peak_mib, "delta_mib": sampling.delta_mib, "method": sampling.method},
        "calls": len(times["pipeline"]),
        "times_s": times,
        "train_steps": result.steps,
    }
    return row  # the pipeline and the recorded calls go with this frame


def _memory(m: dict) -> str:
    return f"{m['peak_mib']:,.0f} (+{m['delta_mib']:,.0f})"


def table(rows: list[dict], args, device: torch.device) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    kinds = {
        "cuda": "on CUDA the most memory tensors held at once, weights included",
        "clear_refs": "on the CPU the process's peak resident set",
        "sampling": "on the CPU the process's peak resident set",
    }
    where = {part: {kinds[r[f"{part}_memory"]["method"]] for r in rows if "skipped" not in r} for part in PARTS}
    said = set().union(*where.values())
    dtypes = ", ".join(sorted({r["dtype"] for r in rows if "skipped" not in r})) or "no"
    memory = next(iter(said)) if len(said) == 1 else "; ".join(f"{p}: {', '.join(sorted(k))}" for p, k in where.items())
    timing = f"at least {args.repeats}, and {args.min_seconds:g} s of each," if args.min_seconds else f"{args.repeats}"
    lines = [
        f"{name}; batch {args.batch_size} (images, point sets or clips); models trained {args.steps} steps on "
        f"{args.dataset} (or the family's own data), {dtypes} sampling; median of {timing} interleaved calls. "
        f"Bare networks: the network calls the pipeline makes, replayed without it. Peak memory, {memory}; in "
        f"brackets what the call added.",
        "",
        "| family | network calls per batch | pipeline images/s | bare networks images/s | pipeline / bare | "
        "default output images/s | peak memory, training (MiB) | peak memory, sampling (MiB) | timed calls |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['family']} | skipped: {r['skipped']} | | | | | | | |")
            continue
        network = ", ".join(f"{k} ×{v}" for k, v in r["network_calls"].items())
        default = (
            f"{r['default_output_images_per_s']:,.0f} ({', '.join(r['default_output'])})"
            if r["default_output"]
            else "n/a (tensors only)"
        )
        lines.append(
            f"| {r['family']} | {network} | {r['pipeline_images_per_s']:,.0f} | {r['bare_images_per_s']:,.0f} | "
            f"{r['ratio']:.2f}x | {default} | {_memory(r['training_memory'])} | {_memory(r['sampling_memory'])} | "
            f"{r['calls']:,} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default=",".join(families()), help="comma-separated (default: every family)")
    parser.add_argument("--dataset", default="fashion_mnist", help="for the families without data of their own")
    parser.add_argument("--steps", type=int, default=5, help="training steps: a model to time, not a good one")
    parser.add_argument("--batch_size", type=int, default=256, help="of training and of each timed call")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls of each after a warm-up (default: 5)")
    parser.add_argument(
        "--min_seconds", type=float, default=0.0, help="more rounds until each call took this long in all (default: 0)"
    )
    parser.add_argument("--mixed_precision", default=None, help="of training (default: each family's recipe)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="for sampling")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    parser.add_argument("--output", default=str(HERE / "results" / "pipeline_overhead.md"))
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument(
        "--marker",
        default="pipeline_overhead",
        help="the markers (in docs/measured/pipelines.md) that --update_readme fills",
    )
    parser.add_argument("--quick", action="store_true", help="tiny configs on digits, 2 steps, batch 16, 1 repeat")
    args = parser.parse_args()
    names = args.families.split(",")
    unknown = sorted(set(names) - set(families()))
    if unknown:
        parser.error(f"--families: unknown {', '.join(unknown)}; known: {', '.join(families())}")
    if args.quick:
        args.dataset, args.steps, args.batch_size, args.mixed_precision = "digits", 2, 16, "no"
    args.repeats = args.repeats or (1 if args.quick else 5)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    work = Path(tempfile.mkdtemp(prefix="genzoo-overhead-"))
    rows = []
    for name in names:
        try:
            rows.append(measure(families()[name], args, work, device))
            _release()
        except MissingPackage as err:  # e.g. the embedded speech set without espeak-ng: say so, go on
            rows.append({"family": name, "skipped": str(err)})
        print(json.dumps(rows[-1]), flush=True)
    publish(table(rows, args, device), rows, args.output, args.marker if args.update_readme else None)


if __name__ == "__main__":
    main()
