"""A tiny zoo: one model of every registered family, trained for seconds at its `Tiny` configuration, as
`genzoo train` would save it. What the app's browser tests and its benchmark serve; the models are not useful, the
code paths are real."""

import time
from pathlib import Path

from ..compat import reset_accelerate_state


def train_tiny_zoo(folder: str | Path, families: list[str] | None = None, log=print) -> dict[str, str]:
    """Train (or keep, when already saved) a tiny model of each family in `families` (default: all) under
    `folder/<family>`; returns family name -> folder."""
    from ..family import families as registered
    from ..training import make_config, train

    known = registered()
    out = {}
    for name in families or list(known):
        family, target = known[name], Path(folder) / name
        if not (target / "model_index.json").exists():
            start = time.perf_counter()
            tiny = family.tiny
            cfg = make_config(
                name,
                dataset=tiny.dataset,
                model_config=tiny.model_config,
                max_steps=tiny.steps,
                batch_size=16,
                output_dir=str(target),
                report_to="none",
                checkpointing_steps=0,
                mixed_precision="no",
            )
            try:
                train(cfg)
            finally:
                reset_accelerate_state()
            log(f"tiny zoo: {name} trained in {time.perf_counter() - start:.1f} s")
        out[name] = str(target)
    return out
