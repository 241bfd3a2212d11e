"""`genzoo evaluate`: a saved model's held-out metrics (its family says which), or with --classifier any
generative model's sample quality in that classifier's features."""

import json
import time
from pathlib import Path

import torch
from accelerate import Accelerator

from ..data import make_loader
from ..errors import UserInputError
from ..hub.card import card_for_repo
from ..hub.loading import load_pipeline
from ..metrics.inception import fid_kid, inception_reference
from ..records import dumps
from ..registry import families, family_of
from ..samplers import sample_images
from ..trilemma import reference_set, score
from .common import add_data_args, add_sample_options, load_pipeline_and_data


def evaluate_command_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate",
        description="Held-out metrics of a saved model (each family says which: an autoencoder's R^2, also of "
        "denoising with --noise; a VAE's ELBO; a classifier's accuracy). With --classifier, any generative model's "
        "sample quality instead, in that classifier's features against the training images.",
    )
    add_data_args(p)
    p.add_argument(
        "--noise",
        default=None,
        help="evaluate denoising of gaussian:SIGMA or mask:P corrupted images; audio: KINDS:LOW:HIGH noise mixed in "
        "(default: the audio denoiser's training mix)",
    )
    p.add_argument("--batch_size", type=int, default=256, help="evaluation batch size (default: 256)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--output", default=None, help="also write the metrics to this JSON file")
    p.add_argument(
        "--classifier",
        default=None,
        help="score the model's samples instead, in this classifier's features, against the training images: "
        "FD_local, KID_local, precision/recall, density/coverage, label entropy",
    )
    p.add_argument("--num_samples", type=int, default=1000, help="with --classifier: samples to draw (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="with --classifier: seed of the samples (default: 0)")
    p.add_argument(
        "--inception_weights",
        default=None,
        metavar="PATH",
        help="with --classifier: also standard FID/KID in torch-fidelity's Inception-v3 with these weights "
        "(weights-inception-2015-12-05-6726825d.pth; needs hf_genzoo[fidelity])",
    )
    p.add_argument(
        "--record",
        action="store_true",
        help="also add the scores to the model folder's metrics.json, so that its model card (and `genzoo push`) "
        "reports them",
    )
    p.set_defaults(func=evaluate_command, sample_options=add_sample_options(p, prefix="with --classifier, "))
    return p


def evaluate_command(args) -> None:
    if args.record and not (Path(args.model) / "metrics.json").is_file():
        raise UserInputError(f"--record writes into a `genzoo train` output folder; {args.model} is not one")
    if args.inception_weights and not args.classifier:
        raise UserInputError("--inception_weights scores a model's samples; it goes with --classifier")
    if args.inception_weights and not Path(args.inception_weights).is_file():
        raise UserInputError(f"--inception_weights {args.inception_weights}: no such file")

    pipe, data, _ = load_pipeline_and_data(args)
    accelerator = Accelerator(cpu=args.cpu)
    if args.classifier:
        metrics = _sample_quality(pipe, args, {o: getattr(args, o) for o in args.sample_options}, accelerator.device)
    else:
        family = family_of(pipe)
        if family.evaluate is None:
            able = [name for name, f in families().items() if f.evaluate is not None]
            raise UserInputError(
                f"held-out metrics of a {family.name} come with `genzoo train`'s metrics.json; without --classifier "
                f"this command evaluates {', '.join(able)}; with --classifier it scores any model's samples"
            )
        metrics = family.evaluate(pipe, make_loader(data, args.batch_size, shuffle=False), accelerator, args.noise)
    split = "train" if args.classifier else args.split
    result = {"model": args.model, "dataset": args.dataset, "split": split, "images": len(data), "noise": args.noise}
    result.update(metrics)
    print(dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(dumps(result, indent=2))
    if args.record:
        _record(Path(args.model), {k: v for k, v in metrics.items() if isinstance(v, float)})


def _record(folder: Path, scores: dict) -> None:
    """Add `scores` to the folder's metrics.json and render its model card again, so both report them."""
    summary = json.loads((folder / "metrics.json").read_text())
    summary["metrics"].update(scores)
    (folder / "metrics.json").write_text(dumps(summary, indent=2))
    card_for_repo(folder, str(folder)).save(folder / "README.md")
    print(f"recorded {', '.join(scores)} in {folder / 'metrics.json'} and its model card")


def _sample_quality(pipe, args, options: dict, device) -> dict:
    """`--num_samples` samples of `pipe` scored against as many training images in `--classifier`'s features."""
    clf = load_pipeline(args.classifier).to(device)
    reference = reference_set(clf, args.dataset, args.num_samples)
    pipe.to(device)
    t = time.perf_counter()
    images = sample_images(pipe, args.num_samples, torch.Generator().manual_seed(args.seed), args.batch_size, **options)
    speed = args.num_samples / (time.perf_counter() - t)
    scores = score(clf, images, reference, args.batch_size)
    if args.inception_weights:
        reference = inception_reference(reference["images"], args.inception_weights)
        scores.update(fid_kid(images, reference, args.inception_weights))
    family = family_of(pipe)
    if family.score_samples is not None:  # e.g. a text-to-image model's accuracy for class prompts
        scores.update(family.score_samples(pipe, clf, args.num_samples, args.seed, args.batch_size))
    return {**scores, "samples": args.num_samples, "nfe": family.nfe_for(pipe, **options), "images_per_s": speed}
