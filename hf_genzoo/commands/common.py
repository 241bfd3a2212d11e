"""What several commands share: the flags naming a saved model and its data, one flag per sampling option, and
loading a model with the data its family trains on."""

import argparse

from ..data import load_data
from ..errors import UserInputError
from ..hub.loading import load_pipeline, train_config
from ..registry import families, family_of


def add_data_args(p: argparse.ArgumentParser, default_split: str = "test") -> None:
    p.add_argument("--model", required=True, help="folder (or Hub repo id) of a pipeline saved by `genzoo train`")
    p.add_argument(
        "--dataset",
        default=None,
        help="dataset name, Hub id, imagefolder:<path>, audiofolder:<path> or local path (default: the one the "
        "model was trained on, as its train_config.json says, else its family's own: digits for images, speech "
        "for audio)",
    )
    p.add_argument("--split", default=default_split, help=f"split to use (default: {default_split})")
    p.add_argument("--image_column", default=None, help="image column (default: guessed)")
    p.add_argument("--label_column", default=None, help="label column (default: 'label' if present)")
    p.add_argument("--skip_bad_files", action="store_true", help="skip unreadable files instead of stopping")


def add_sample_options(p: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """One flag per sampling option any family has (`Family.sample_options`), saying which families take it."""
    takers: dict[str, dict] = {}
    for name, family in families().items():
        for option, spec in family.sample_options.items():
            takers.setdefault(option, {})[name] = spec
    for option, specs in takers.items():
        spec, names = next(iter(specs.values())), ", ".join(specs)
        helps = {s.help for s in specs.values()}
        what = spec.help if len(helps) == 1 else "; ".join(f"{name}: {s.help}" for name, s in specs.items())
        p.add_argument(f"--{option}", type=spec.type, choices=spec.choices, help=f"{prefix}{names} only: {what}")
    return list(takers)


def load_pipeline_and_data(args, limit: int | None = None):
    """The saved pipeline and the split `args` name, as the data kind its family trains on, at its size."""
    pipe = load_pipeline(args.model)
    family = family_of(pipe)
    trained_on = train_config(args.model)[0].get("dataset")
    args.dataset = args.dataset or trained_on or family.objective.recipe.get("dataset", "digits")
    columns = {k: getattr(args, k) for k in ("image_column", "label_column") if getattr(args, k)}
    options = {**family.data_options(pipe), **columns}
    data = load_data(family.data_kind, args.dataset, args.split, skip_bad_files=args.skip_bad_files, **options)
    n = len(data) if limit is None else min(limit, len(data))
    return pipe, data, n


def require_encoder(pipe, command: str) -> None:
    """`embed` and `reconstruct` need a pipeline that encodes and reconstructs."""
    if not (hasattr(pipe, "encode") and hasattr(pipe, "reconstruct")):
        able = [name for name, f in families().items() if hasattr(f.pipeline, "encode")]
        raise UserInputError(
            f"genzoo {command} needs a model with an encoder ({', '.join(able)}); got {type(pipe).__name__}"
        )
