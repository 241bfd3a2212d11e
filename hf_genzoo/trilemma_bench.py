"""`genzoo bench` and `benchmarks/trilemma.py`: train (or take) the models and the feature classifier, then score
every row with `hf_genzoo.trilemma`. The trilemma module is the library (rows, scoring, targets); this one is the
orchestration that trains models, so the library does not import the training loop."""

import json
from pathlib import Path

import torch

from .data import load_images
from .errors import UserInputError
from .registry import get_family
from .training import make_config, train
from .trilemma import SLOW_NFE, Row, feature_family, run, trilemma_families


def add_arguments(parser) -> None:
    names = trilemma_families()
    parser.add_argument("--dataset", default="fashion_mnist", help="dataset (default: fashion_mnist)")
    parser.add_argument(
        "--num_samples", type=int, default=10_000, help="samples per row (default: 10000; 1000 is quick)"
    )
    parser.add_argument(
        "--models",
        default="",
        help="family=FOLDER_OR_HUB_ID,... to score instead of training them (a family may come twice: "
        "ddgan=T2-folder,ddgan=T4-folder)",
    )
    parser.add_argument("--families", default=",".join(names), help=f"rows to include (default: {','.join(names)})")
    parser.add_argument("--classifier", default=None, help="the feature classifier (default: trained, then reused)")
    parser.add_argument("--epochs", default="", help="family=EPOCHS,... for the models trained here (default: recipes)")
    parser.add_argument("--work_dir", default="genzoo-trilemma", help="where trained models go and are reused from")
    parser.add_argument("--batch_size", type=int, default=256, help="sampling batch size (default: 256)")
    parser.add_argument(
        "--slow_samples",
        type=int,
        default=None,
        help=f"samples for rows of {SLOW_NFE}+ network evaluations per sample (DDPM 1000), where the full count costs "
        "too much; the table says so and the targets compare FD_local at this count (default: --num_samples)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="digits, tiny models, at most 100 samples: checks that it runs"
    )
    parser.add_argument(
        "--inception_weights",
        default=None,
        metavar="PATH",
        help="torch-fidelity's Inception-v3 weights (weights-inception-2015-12-05-6726825d.pth): also report standard "
        "FID and KID, comparable to papers (needs hf_genzoo[fidelity])",
    )


def ensure_model(
    family: str, dataset: str, work_dir: Path, epochs: int | None, quick: bool, log=print, name: str = "", **settings
) -> str:
    """The folder of a trained `family` model under `work_dir` (`{dataset}-{name or family}`), training it with its
    recipe and `settings` (other `TrainConfig` values) when it is not there (with `quick`, its tiny configuration)."""
    out = Path(work_dir) / f"{dataset}-{name or family}"
    extra = {"epochs": epochs} if epochs else {}
    if quick:
        tiny = get_family(family).tiny
        extra = {"model_config": tiny.model_config, "max_steps": tiny.steps, "batch_size": 32, "mixed_precision": "no"}
    extra.update(settings)
    if (out / "model_index.json").exists():
        saved = json.loads((out / "train_config.json").read_text())
        if all(saved.get(k) == v for k, v in extra.items()):
            return str(out)
        raise UserInputError(
            f"{out} holds a {family} trained with other settings; remove it or pick another --work_dir"
        )
    log(f"training {family} on {dataset} into {out}")
    train(make_config(family, dataset=dataset, output_dir=str(out), checkpointing_steps=0, report_to="none", **extra))
    return str(out)


def _pair_list(spec: str) -> list[tuple[str, str]]:
    """'a=1,b=2,a=3' -> [('a', '1'), ('b', '2'), ('a', '3')]."""
    pairs = [part.split("=", 1) for part in filter(None, spec.split(","))]
    bad = [p[0] for p in pairs if len(p) != 2]
    if bad:
        raise UserInputError(f"expected family=VALUE pairs separated by commas, got {bad[0]!r}")
    return [(k, v) for k, v in pairs]


def _pairs(spec: str) -> dict[str, str]:
    return dict(_pair_list(spec))


def bench(args, log=print) -> tuple[list[Row], dict]:
    """Train (or take) the models and the feature classifier, score every row; returns the rows and what the
    table's caption needs (dataset, sample counts, the classifier's accuracy, the device)."""
    if args.quick:
        args.dataset, args.num_samples = "digits", min(args.num_samples, 100)
    given, epochs = _pair_list(args.models), {k: int(v) for k, v in _pairs(args.epochs).items()}
    chosen = [f for f in args.families.split(",") if f]
    unknown = sorted((set(chosen) | {f for f, _ in given}) - set(trilemma_families()))
    if unknown:
        raise UserInputError(
            f"unknown families {unknown}; the trilemma rows come from {', '.join(trilemma_families())}"
        )
    work, features = Path(args.work_dir), feature_family()
    classifier = args.classifier or ensure_model(features, args.dataset, work, epochs.get(features), args.quick, log)
    models = []
    for f in chosen:  # a given model replaces what the benchmark would train for its family
        models += [(g, path) for g, path in given if g == f] or [
            (f, ensure_model(f, args.dataset, work, epochs.get(f), args.quick, log, name=name, **settings))
            for name, settings in (get_family(f).trilemma_variants or {f: {}}).items()
        ]
    rows = run(
        models,
        classifier,
        args.dataset,
        args.num_samples,
        args.batch_size,
        args.seed,
        grids_dir=Path(args.output_dir) / "trilemma",
        inception_weights=args.inception_weights,
        log=log,
        slow_samples=args.slow_samples,
    )
    saved = Path(classifier, "metrics.json")
    return rows, {
        "dataset": args.dataset,
        "num_samples": args.num_samples,
        "reference_images": min(args.num_samples, len(load_images(args.dataset, "train"))),
        "classifier_accuracy": json.loads(saved.read_text())["metrics"]["accuracy"] if saved.exists() else None,
        "batch_size": args.batch_size,
        "device": device_name(),
    }


def device_name() -> str:
    import platform

    if torch.cuda.is_available():
        return torch.cuda.get_device_name()
    threads = torch.get_num_threads()
    return f"{platform.machine()} CPU ({threads} thread{'s' if threads > 1 else ''})"
