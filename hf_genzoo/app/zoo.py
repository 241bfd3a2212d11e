"""A zoo: one model of every registered family, saved as `genzoo train` saves it, for the app's browser tests and its
benchmark.

- `size="tiny"`: each family's `Tiny` configuration on its tiny dataset, trained for seconds (the tests): the models
  are not useful, the code paths are real.
- `size="recipe"`: each family's recipe (the model `genzoo train FAMILY` builds), on Fashion-MNIST for the image
  families, trained for `steps` steps: the networks have their real size, so the app's request times are the ones a
  trained model of that recipe has (the outputs are not good unless `steps` is large).
"""

import time
from pathlib import Path

from ..compat import reset_accelerate_state
from ..registry import families as registered
from ..training import make_config, train

IMAGE_KINDS = ("images", "captioned_images", "captioned_latents")


def train_zoo(
    folder: str | Path, families: list[str] | None = None, size: str = "tiny", steps: int | None = None, log=print
) -> dict[str, str]:
    """Train (or keep, when already saved) a model of each family in `families` (default: all) under
    `folder/<family>`; returns family name -> folder."""
    if size not in ("tiny", "recipe"):
        raise ValueError(f"size is 'tiny' or 'recipe', got {size!r}")
    known = registered()
    out = {}
    for name in families or list(known):
        family, target = known[name], Path(folder) / name
        if not (target / "model_index.json").exists():
            start, tiny = time.perf_counter(), family.tiny
            if size == "tiny":
                settings = {
                    "dataset": tiny.dataset,
                    "model_config": tiny.model_config,
                    "max_steps": steps or tiny.steps,
                }
            else:
                dataset = "fashion_mnist" if family.data_kind in IMAGE_KINDS else tiny.dataset
                settings = {"dataset": dataset, "max_steps": steps or 20}
            train_one(name, target, **settings)
            log(f"zoo: {name} ({size}) trained in {time.perf_counter() - start:.1f} s")
        out[name] = str(target)
    return out


def train_one(name: str, output_dir: str | Path, **settings) -> None:
    """Train one model of family `name` into `output_dir` with `settings` (TrainConfig fields) over the zoo's own:
    batch 16, fp32, no checkpoints, no logger."""
    quiet = {"batch_size": 16, "report_to": "none", "checkpointing_steps": 0, "mixed_precision": "no"}
    try:
        train(make_config(name, **{**quiet, **settings, "output_dir": str(output_dir)}))
    finally:
        reset_accelerate_state()


def train_tiny_zoo(
    folder: str | Path, families: list[str] | None = None, steps: int | None = None, log=print
) -> dict[str, str]:
    """`train_zoo` at the tiny size (`steps`: each family's tiny number of steps unless given)."""
    return train_zoo(folder, families, "tiny", steps, log=log)
