"""The family spec: what the rest of hf_genzoo knows about a model family, one `Family` record per family.

This module imports nothing of the families. Each family builds its record in `hf_genzoo/families/<name>.py` and
registers it (`hf_genzoo.registry.register_family`); the CLI, the samplers, the trilemma benchmark, the Hub code
and the benchmark scripts ask the registry (`get_family`, `family_of`, `families`); none of them names a family.
Adding one is described in the docs ("Adding a family").
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_PANELS: dict[tuple, tuple] = {}  # (family name, its `app`) -> the panels it built


@dataclass(frozen=True)
class SampleOption:
    """A sampling option of a family's own, offered by `genzoo sample` (and `genzoo evaluate --classifier`) as
    `--NAME`, and passed to the family's `sample` as a keyword argument."""

    type: type
    help: str
    choices: tuple | None = None


@dataclass(frozen=True)
class Tiny:
    """A configuration that trains in seconds on `digits`: the tests and the benchmarks' quick modes.

    Args:
        model_config (`str`): `--model_config` overrides that make the model tiny.
        steps (`int`, defaults to 100): optimizer steps that show the code paths work (not a useful model).
        dataset (`str`, defaults to `"digits"`): a dataset of the family's data kind that needs no network.
    """

    model_config: str
    steps: int = 100
    dataset: str = "digits"


def draw(pipe, batch_size: int, generator, **options):
    """How an image-sampling pipeline is called (diffusers' convention): images `(B, C, H, W)` in [0, 1]."""
    return pipe(batch_size=batch_size, generator=generator, output_type="pt", **options).images


def image_data_options(pipe) -> dict[str, int]:
    """The resolution and channels of the images a saved pipeline takes, from its first image model's config."""
    model = next(m for m in pipe.components.values() if "sample_size" in getattr(m, "config", {}))
    c = model.config
    return {"resolution": c.sample_size, "channels": c.get("in_channels", c.get("out_channels"))}


@dataclass(frozen=True)
class Target:
    """A claim about a family's trilemma row `row` against row `reference` (`hf_genzoo.trilemma.Row`s, by key): an
    FD_local at most `max_fd_ratio` times the reference's, in under `max_time_ratio` of its sampling time per image,
    with a recall at least `min_recall_ratio` times the reference's; each part that is `None` is not claimed.
    FD_local is compared at the same number of samples (the reference's, when it drew fewer: FD_local is biased
    upwards at small counts)."""

    row: str
    reference: str
    max_fd_ratio: float | None = None
    max_time_ratio: float | None = None
    min_recall_ratio: float | None = None

    def check(self, rows: list) -> dict | None:
        """The ratios claimed and whether each is met (`fd_ratio`, `fd_met`, ...); `None` when either row is
        missing."""
        by_key = {r.key: r for r in rows}
        fast, ref = by_key.get(self.row), by_key.get(self.reference)
        if fast is None or ref is None:
            return None
        out = {"row": fast.name, "reference": ref.name}
        if self.max_fd_ratio is not None:
            counts = [r.scores.get("samples") for r in (fast, ref)]
            n = None if None in counts else min(counts)
            out["fd_ratio"] = fast.fd_at(n) / ref.fd_at(n)
            out["fd_samples"] = n
            out["fd_met"] = out["fd_ratio"] <= self.max_fd_ratio
        if self.max_time_ratio is not None:  # time per image, row / reference
            out["time_ratio"] = ref.scores["images_per_s"] / fast.scores["images_per_s"]
            out["time_met"] = out["time_ratio"] < self.max_time_ratio
        if self.min_recall_ratio is not None:
            r, r_ref = fast.scores["recall"], ref.scores["recall"]
            out["recall_ratio"] = (
                r / r_ref if r_ref else math.inf if r else 1.0
            )  # a reference of recall 0: any is as much
            out["recall_met"] = r >= self.min_recall_ratio * r_ref
        return out


@dataclass(frozen=True)
class Family:
    r"""
    One trainable model family, as the rest of the package sees it.

    Args:
        name (`str`): what `genzoo train NAME` takes.
        objective (`type`): its `Objective` subclass: models, optimizers, the loss of a batch.
        pipeline (`type`): the `DiffusionPipeline` class that training saves and `load_pipeline` loads.
        tiny (`Tiny`): its configuration for tests and quick benchmark modes.
        models (`tuple[type]`): the model classes its pipelines hold (for `--portable` Hub repos).
        data_kind (`str`, *optional*, defaults to `"images"`): what it trains on (`hf_genzoo.data.KINDS`).
        data_options (`Callable`, *optional*): `(pipe) -> dict`, the data options (`load_data`) that fit a saved
            pipeline, for `genzoo evaluate` and friends; defaults to the image size of its first model.
        pipeline_tag (`str`, *optional*): the Hub task of its model card.
        card_template (`str`, *optional*): `model_cards/<card_template>.md`; defaults to `name`.
        sample (`Callable`, *optional*): `(pipe, batch_size, generator, **options)` -> a batch of samples as a
            tensor (images `(B, C, H, W)` in [0, 1]); `draw` for an image pipeline called the diffusers way, `None`
            for a family that does not generate.
        sample_options (`dict[str, SampleOption]`, *optional*): the options `sample` takes beyond those.
        sampler_options (`dict[str, dict]`, *optional*): for a diffusion family, the scheduler options it samples
            with, by sampler name (`hf_genzoo.samplers.use_sampler`); e.g. `thresholding=True` for pixel-space models.
        call_arguments (`Callable`, *optional*): `(n) -> dict`, the arguments with which a call of the pipeline itself
            asks for `n` samples, or goes with `n` input images (default: `{"batch_size": n}` for a sampler, as
            diffusers' convention has it, nothing more for a pipeline that takes images; a text-to-image pipeline
            takes `n` prompts, a CLIP `n` texts).
        to_images (`Callable`, *optional*): `(samples) -> (B, C, H, W)` in [0, 1], how samples that are not images
            (point sets, sounds) are drawn in a grid; `None` when they are images.
        export (`Callable`, *optional*): `(samples, output) -> list[Path]`, the files `genzoo sample` writes beside
            its grid `output` for samples that are not images (a point set's `.ply` and 3-D views).
        nfe (`int` or `Callable`, *optional*, defaults to 1): network evaluations per sample; a callable takes the
            pipeline and the sample options (`nfe(pipe, steps=20)`) where they decide it.
        transform (`Callable`, *optional*): `(pipe, images)` -> the output of a non-generative family's main use
            (a reconstruction, labels): what the speed benchmarks time.
        evaluate (`Callable`, *optional*): `(pipe, loader, accelerator, noise)` -> held-out metrics of a saved
            pipeline (`genzoo evaluate`); `noise` is the `--noise` spec or `None`.
        score_samples (`Callable`, *optional*): `(pipe, classifier, num_samples, seed, batch_size) -> dict`, what
            else `genzoo evaluate --classifier` measures of its samples with the dataset's classifier (a
            text-to-image model: the accuracy of its images for class prompts).
        trilemma_rows (`Callable`, *optional*): `(pipe, context)` -> its rows in the trilemma benchmark
            (`hf_genzoo.trilemma.Row`); `None` keeps it out of the benchmark.
        trilemma_variants (`dict[str, dict]`, *optional*): the models the benchmark trains for its rows, by name, each
            with its `TrainConfig` settings (a DDGAN at T = 2 and at T = 4); default: one, with the recipe.
        trilemma_targets (`tuple`, *optional*): `Target`s the benchmark checks for its rows.
        features (`bool`, *optional*, defaults to `False`): its pipeline embeds images (`features(images)`) in the
            space where the sample-quality metrics measure every other family.
        app (`Callable`, *optional*): `() -> tuple`, the panels of its tab in `genzoo app` (`hf_genzoo.app.panels`:
            samples, reconstruction, interpolation, latent walk, ...), in order; `None`: a tab that says it has none.
            A function, so that the record can import the app's panels where they are built, not when it loads.
        inputs (`Callable`, *optional*): `(pipe, n, generator)` -> `n` inputs of a non-generative family's main use,
            as `transform` and the pipeline take them (tests and speed benchmarks); default: random images of the
            size `data_options` gives.
    """

    name: str
    objective: type
    pipeline: type
    tiny: Tiny
    models: tuple[type, ...] = ()
    data_kind: str = "images"
    data_options: Callable[[Any], dict] = image_data_options
    pipeline_tag: str = "unconditional-image-generation"
    card_template: str | None = None
    sample: Callable | None = None
    sample_options: dict[str, SampleOption] = field(default_factory=dict)
    sampler_options: dict[str, dict] = field(default_factory=dict)
    call_arguments: Callable[[int], dict] | None = None
    to_images: Callable | None = None
    export: Callable | None = None
    nfe: int | Callable[..., int] = 1
    transform: Callable | None = None
    evaluate: Callable | None = None
    score_samples: Callable | None = None
    trilemma_rows: Callable | None = None
    trilemma_variants: dict[str, dict] | None = None
    trilemma_targets: tuple = ()
    features: bool = False
    inputs: Callable | None = None
    app: Callable[[], tuple] | None = None

    @property
    def panels(self) -> tuple:
        """The panels of its app tab (see `app`), built once."""
        if self.app is None:
            return ()
        key = (self.name, self.app)
        if key not in _PANELS:
            _PANELS[key] = tuple(self.app())
        return _PANELS[key]

    @property
    def template(self) -> str:
        return self.card_template or self.name

    @property
    def generative(self) -> bool:
        return self.sample is not None

    def call_kwargs(self, n: int) -> dict:
        """See `call_arguments`."""
        if self.call_arguments is not None:
            return self.call_arguments(n)
        return {"batch_size": n} if self.generative else {}

    def example_inputs(self, pipe, n: int, generator=None):
        """See `inputs`: `n` random inputs for the pipeline's main use (images `(n, C, H, W)` in [0, 1] by default)."""
        import torch

        if self.inputs is not None:
            return self.inputs(pipe, n, generator)
        options = self.data_options(pipe)
        side = options["resolution"]
        return torch.rand(n, options["channels"], side, side, generator=generator)

    def nfe_for(self, pipe, **options) -> int:
        """Network evaluations per sample of `pipe` when drawn with `options` (`None` values, and other families'
        options, are left out: the defaults)."""
        if not callable(self.nfe):
            return self.nfe
        return self.nfe(pipe, **{k: v for k, v in options.items() if k in self.sample_options and v is not None})
