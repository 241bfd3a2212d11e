"""The `genzoo` command: train, sample, evaluate, push, bench, app, reconstruct, embed, denoise, demo.

    genzoo demo                                        # 1-minute tour on the bundled digits
    genzoo train mlp_autoencoder --dataset fashion_mnist --epochs 10
    genzoo evaluate --model genzoo-output --dataset fashion_mnist
    genzoo train ddpm --dataset fashion_mnist --output_dir ddpm-fashion
    genzoo sample --model ddpm-fashion --scheduler dpmsolver++ --steps 20 --num_images 64
    genzoo push ddpm-fashion user/ddpm-fashion
    genzoo app --models_dir runs                       # every trained model under runs/, in the browser
    genzoo push --space user/zoo --model vae=runs/vae  # the same app, as a Hugging Face Space
    genzoo embed --model genzoo-output --dataset fashion_mnist
    genzoo reconstruct --model genzoo-output --dataset fashion_mnist --noise gaussian:0.3
    genzoo train audio_denoiser --output_dir denoiser       # the embedded speech clips, noise mixed in
    genzoo denoise noisy.wav clean.wav --model denoiser

What a command knows of the model families (which can sample, with which options; which can be evaluated) comes
from the family registry (`hf_genzoo.family`). Heavy imports (torch, diffusers) happen inside the commands, so
`genzoo --help` is instant. A mistake in what was typed ends with its message (`UserInputError`); anything else is a
bug and shows its traceback.
"""

import argparse
import json
import sys
from pathlib import Path

from huggingface_hub.errors import (
    GatedRepoError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from .errors import UserInputError
from .records import dumps

# The Hub's errors about what was asked for (Python callers get them typed; the CLI says them in one line)
HUB_USER_ERRORS = (RepositoryNotFoundError, RevisionNotFoundError, GatedRepoError, LocalEntryNotFoundError)


def _add_data_args(p: argparse.ArgumentParser, default_split: str = "test") -> None:
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


def _add_sample_options(p: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """One flag per sampling option any family has (`Family.sample_options`), saying which families take it."""
    from .registry import families

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


def _load_pipeline_and_data(args, limit: int | None = None):
    """The saved pipeline and the split `args` name, as the data kind its family trains on, at its size."""
    from .data import load_data
    from .hub.loading import load_pipeline, train_config
    from .registry import family_of

    pipe = load_pipeline(args.model)
    family = family_of(pipe)
    trained_on = train_config(args.model)[0].get("dataset")
    args.dataset = args.dataset or trained_on or family.objective.recipe.get("dataset", "digits")
    columns = {k: getattr(args, k) for k in ("image_column", "label_column") if getattr(args, k)}
    options = {**family.data_options(pipe), **columns}
    data = load_data(family.data_kind, args.dataset, args.split, skip_bad_files=args.skip_bad_files, **options)
    n = len(data) if limit is None else min(limit, len(data))
    return pipe, data, n


def _require_encoder(pipe, command: str) -> None:
    """`embed` and `reconstruct` need a pipeline that encodes and reconstructs."""
    from .registry import families

    if not (hasattr(pipe, "encode") and hasattr(pipe, "reconstruct")):
        able = [name for name, f in families().items() if hasattr(f.pipeline, "encode")]
        raise UserInputError(
            f"genzoo {command} needs a model with an encoder ({', '.join(able)}); got {type(pipe).__name__}"
        )


def cmd_train(argv: list[str]) -> None:
    from .training import train
    from .training.args import add_train_arguments, parse_train_args

    description = "Train a model with the one accelerate loop (same as scripts/train.py)."
    parser = argparse.ArgumentParser(prog="genzoo train", add_help=False, description=description)
    add_train_arguments(parser, model_as_flag=False)
    result = train(parse_train_args(parser, argv))
    if result.main_process:
        print(f"saved the pipeline to {result.output_dir}; held-out metrics: {dumps(result.metrics)}")


def cmd_reconstruct(args) -> None:
    import torch

    from .data import parse_corruption
    from .viz import save_grid

    pipe, data, n = _load_pipeline_and_data(args, args.num_images)
    _require_encoder(pipe, "reconstruct")
    clean = torch.from_numpy(data.images[:n].copy()).float() / 255  # (n, C, H, W)
    corruption = parse_corruption(args.noise)
    rows = [clean]
    if corruption:
        rows.append(corruption(clean, torch.Generator().manual_seed(args.seed)))
    rows.append(pipe.reconstruct(rows[-1], output_type="pt").images.cpu())
    path = save_grid(torch.stack(rows), args.output)
    print(
        f"wrote {path}: originals" + (", corrupted inputs" if corruption else "") + " and reconstructions, one row each"
    )


def cmd_embed(args) -> None:
    import torch

    from .viz import embedding_plot, save_grid

    pipe, data, n = _load_pipeline_and_data(args, args.num_images)
    _require_encoder(pipe, "embed")
    images = data.images[:n]
    codes = pipe.encode(torch.from_numpy(images.copy()).float() / 255).float().cpu().numpy()
    labels = None if args.no_labels or data.labels is None else data.labels[:n]
    out = Path(args.output_dir)
    title = f"PCA of {codes.shape[1]}-d codes, {args.dataset} ({args.split})"
    path, ratio = embedding_plot(
        codes, images, out / "embedding.png", labels, data.label_names, max_thumbnails=args.max_thumbnails, title=title
    )
    k = min(16, n)
    clean = torch.from_numpy(images[:k].copy()).float() / 255
    recon = pipe.reconstruct(clean, output_type="pt").images.cpu()
    grid = save_grid(torch.stack([clean, recon]), out / "reconstructions.png")
    print(f"wrote {path} (PCA of {n} codes; the two components explain {ratio.sum():.0%} of their variance)")
    print(f"wrote {grid} (originals over reconstructions)")


def cmd_evaluate(argv: list[str]) -> None:
    from .registry import families, family_of

    p = argparse.ArgumentParser(
        prog="genzoo evaluate",
        description="Held-out metrics of a saved model (each family says which: an autoencoder's R^2, also of "
        "denoising with --noise; a VAE's ELBO; a classifier's accuracy). With --classifier, any generative model's "
        "sample quality instead, in that classifier's features against the training images.",
    )
    _add_data_args(p)
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
    options = _add_sample_options(p, prefix="with --classifier, ")
    args = p.parse_args(argv)
    if args.record and not (Path(args.model) / "metrics.json").is_file():
        raise UserInputError(f"--record writes into a `genzoo train` output folder; {args.model} is not one")
    if args.inception_weights and not args.classifier:
        raise UserInputError("--inception_weights scores a model's samples; it goes with --classifier")
    if args.inception_weights and not Path(args.inception_weights).is_file():
        raise UserInputError(f"--inception_weights {args.inception_weights}: no such file")
    from accelerate import Accelerator

    from .data import make_loader

    pipe, data, _ = _load_pipeline_and_data(args)
    accelerator = Accelerator(cpu=args.cpu)
    if args.classifier:
        metrics = _sample_quality(pipe, args, {o: getattr(args, o) for o in options}, accelerator.device)
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
    from .hub.card import card_for_repo

    summary = json.loads((folder / "metrics.json").read_text())
    summary["metrics"].update(scores)
    (folder / "metrics.json").write_text(dumps(summary, indent=2))
    card_for_repo(folder, str(folder)).save(folder / "README.md")
    print(f"recorded {', '.join(scores)} in {folder / 'metrics.json'} and its model card")


def _sample_quality(pipe, args, options: dict, device) -> dict:
    """`--num_samples` samples of `pipe` scored against as many training images in `--classifier`'s features."""
    import time

    import torch

    from .hub.loading import load_pipeline
    from .registry import family_of
    from .samplers import sample_images
    from .trilemma import reference_set, score

    clf = load_pipeline(args.classifier).to(device)
    reference = reference_set(clf, args.dataset, args.num_samples)
    pipe.to(device)
    t = time.perf_counter()
    images = sample_images(pipe, args.num_samples, torch.Generator().manual_seed(args.seed), args.batch_size, **options)
    speed = args.num_samples / (time.perf_counter() - t)
    scores = score(clf, images, reference, args.batch_size)
    if args.inception_weights:
        from .metrics.inception import fid_kid, inception_reference

        reference = inception_reference(reference["images"], args.inception_weights)
        scores.update(fid_kid(images, reference, args.inception_weights))
    family = family_of(pipe)
    if family.score_samples is not None:  # e.g. a text-to-image model's accuracy for class prompts
        scores.update(family.score_samples(pipe, clf, args.num_samples, args.seed, args.batch_size))
    return {**scores, "samples": args.num_samples, "nfe": family.nfe_for(pipe, **options), "images_per_s": speed}


def cmd_sample(argv: list[str]) -> None:
    from .registry import families

    makers = [name for name, f in families().items() if f.generative]
    p = argparse.ArgumentParser(
        prog="genzoo sample",
        description=f"Draw samples from a saved model of a generative family ({', '.join(makers)}) and write a grid. "
        "Each family's own options are below; a diffusion model samples with its saved scheduler unless --scheduler "
        "swaps in a fast one (only the scheduler changes, never the network).",
    )
    p.add_argument("--model", required=True, help="folder (or Hub repo id) of a pipeline saved by `genzoo train`")
    p.add_argument("--num_images", type=int, default=64, help="how many samples (default: 64)")
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the one CPU generator all noise comes from (default: 0)"
    )
    p.add_argument(
        "--batch_size",
        type=int,
        default=256,
        help="images per pipeline call; the same seed gives the same images only at the same batch size (default: 256)",
    )
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--output", default="samples.png", help="grid PNG to write, 8 per row (default: samples.png)")
    p.add_argument("--images_dir", default=None, help="also write each sample as its own PNG into this folder")
    options = _add_sample_options(p)
    args = p.parse_args(argv)
    if args.num_images < 1 or args.batch_size < 1:
        raise UserInputError("--num_images and --batch_size must be at least 1")

    import time

    import torch
    from diffusers import DiffusionPipeline

    from .hub.loading import load_pipeline
    from .registry import family_of
    from .samplers import sample_images
    from .viz import save_grid

    pipe = load_pipeline(args.model)
    if torch.cuda.is_available() and not args.cpu:
        pipe.to("cuda")
    given = {o: getattr(args, o) for o in options if getattr(args, o) is not None}
    t = time.perf_counter()
    images = sample_images(pipe, args.num_images, torch.Generator().manual_seed(args.seed), args.batch_size, **given)
    seconds = time.perf_counter() - t
    family = family_of(pipe)
    pictures = family.to_images(images) if family.to_images else images  # (N, C, H, W) in [0, 1]
    path = save_grid(pictures, args.output, ncols=min(args.num_images, 8))
    how = ", ".join([f"{k} {v}" for k, v in given.items()] + [f"{family.nfe_for(pipe, **given)} network evaluations"])
    per_image = seconds / len(images) * 1000
    print(f"wrote {path}: {len(images)} samples ({how}) in {seconds:.1f} s ({per_image:.0f} ms per image)")
    if family.export is not None:  # samples that are not images: their own files too (a point set's .ply)
        written = family.export(images, path)
        print(
            f"wrote {len(written)} more file(s): {', '.join(str(p) for p in written[:3])}{' ...' * (len(written) > 3)}"
        )
    if args.images_dir:
        folder = Path(args.images_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(DiffusionPipeline.numpy_to_pil(pictures.permute(0, 2, 3, 1).numpy())):
            image.save(folder / f"{i:05d}.png")
        print(f"wrote {len(pictures)} PNG files to {folder}")


def cmd_push(args) -> None:
    from .hub.push import PushError, push_to_hub

    if args.space:
        return _push_space(args)
    space_only = [f for f in ("model", "models_dir", "title", "requirement") if getattr(args, f) is not None]
    if space_only:
        raise UserInputError(f"--{', --'.join(space_only)} only work with --space user/name (the app as a Space)")
    if args.output_dir is None or args.repo_id is None:
        raise UserInputError(
            "push takes OUTPUT_DIR REPO_ID (a trained model to a model repo), or --space user/name "
            "--model NAME=FOLDER_OR_REPO (the genzoo app with those models, as a Space)"
        )
    try:
        commit = push_to_hub(
            args.output_dir,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            commit_message=args.commit_message,
            portable=args.portable,
        )
    except PushError as err:  # the Hub failed or refused: its message, no traceback
        raise SystemExit(f"genzoo push: error: {err}") from None
    revision = f", revision={args.revision!r}" if args.revision else ""
    print(
        f"pushed {args.output_dir} to {commit.repo_url} (commit {commit.oid[:8]}); load it with "
        f"from_pretrained({commit.repo_url.repo_id!r}{revision})"
    )


def _push_space(args) -> None:
    from .app.models import collect_models
    from .app.space import push_space, space_models
    from .hub.push import PushError

    model_only = [f for f in ("revision", "portable") if getattr(args, f)]
    if args.output_dir is not None or model_only:
        given = [*(["OUTPUT_DIR REPO_ID"] if args.output_dir is not None else []), *(f"--{f}" for f in model_only)]
        raise UserInputError(
            f"--space takes its models from --model NAME=FOLDER_OR_REPO and --models_dir DIR, not {', '.join(given)}"
        )
    models = collect_models(args.model, args.models_dir)
    try:
        commit = push_space(
            args.space,
            models,
            private=args.private,
            title=args.title,
            requirement=args.requirement,
            commit_message=args.commit_message,
        )
    except PushError as err:
        raise SystemExit(f"genzoo push: error: {err}") from None
    print(f"pushed the genzoo app to the Space {commit.repo_url} (commit {commit.oid[:8]}); it shows:")
    for m in space_models(models):
        where = f"{m.app_source} in the Space, from {m.source}" if m.folder else m.source
        print(f"  {m.name}: {where}")


def cmd_app(argv: list[str]) -> None:
    from .app.cli import main as app_main

    app_main(argv)


def cmd_bench(argv: list[str]) -> None:
    from .trilemma import trilemma_families
    from .trilemma_bench import add_arguments, bench

    parser = argparse.ArgumentParser(
        prog="genzoo bench",
        description=f"Train (or take) every family with trilemma rows ({', '.join(trilemma_families())}) and a "
        "feature classifier on one dataset, and score their samples: FD_local, KID_local, precision/recall, "
        "density/coverage, label entropy, NFE, images/s, bits/dim. The scores go to trilemma.json and a table; "
        "benchmarks/trilemma.py runs the same code and adds the verdict and the plot.",
    )
    add_arguments(parser)
    parser.add_argument(
        "--output_dir", default="genzoo-bench", help="where the scores and grids go (default: genzoo-bench)"
    )
    args = parser.parse_args(argv)
    rows, caption = bench(args)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    raw = [{"name": r.name, "nfe": r.nfe, "bits_per_dim": r.bits_per_dim, **r.scores} for r in rows]
    (out / "trilemma.json").write_text(json.dumps({"caption": caption, "rows": raw}, indent=2))
    columns = list(dict.fromkeys(k for r in rows for k, v in r.scores.items() if isinstance(v, float)))
    lines = ["| row | " + " | ".join(columns) + " | NFE |", "|---" * (len(columns) + 2) + "|"]
    for r in rows:
        cells = [f"{r.scores[c]:.3g}" if isinstance(r.scores.get(c), float) else "" for c in columns]
        lines.append(f"| {r.name} | " + " | ".join(cells) + f" | {r.nfe or ''} |")
    print("\n".join(lines))
    print(f"\nwrote {out / 'trilemma.json'} and a grid per row in {out / 'trilemma'}/")


def cmd_denoise(args) -> None:
    """Denoise an audio file with a trained audio denoiser; write the result at the input's rate and layout."""
    import time

    import soundfile as sf
    import torch

    from .hub.loading import load_pipeline
    from .registry import families, family_of

    source, target = Path(args.input), Path(args.output)
    if not source.is_file():
        raise UserInputError(f"{source}: no such file")
    formats = sf.available_formats()  # e.g. {"WAV": ..., "FLAC": ..., "OGG": ...}
    if target.suffix[1:].upper() not in formats:
        raise UserInputError(f"{target}: give the output a suffix soundfile writes ({', '.join(sorted(formats))})")
    pipe = load_pipeline(args.model)
    family = family_of(pipe)
    if family.data_kind != "audio":
        able = [name for name, f in families().items() if f.data_kind == "audio"]
        raise UserInputError(f"genzoo denoise needs an audio model ({', '.join(able)}); got {type(pipe).__name__}")
    if torch.cuda.is_available() and not args.cpu:
        pipe.to("cuda")
    pipe.set_progress_bar_config(disable=True)
    subtype = sf.info(str(source)).subtype
    t = time.perf_counter()
    out = pipe(str(source), chunk_seconds=args.chunk_seconds, batch_size=args.batch_size)
    seconds = time.perf_counter() - t
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        sf.write(str(target), out.audio, out.sampling_rate, subtype=subtype)
    except (ValueError, TypeError, RuntimeError):  # the output's format has no such subtype (e.g. flac in, wav out)
        sf.write(str(target), out.audio, out.sampling_rate)
    length = len(out.audio) / out.sampling_rate
    print(
        f"wrote {target}: {length:.1f} s, {out.audio.shape[1]} channel(s) at {out.sampling_rate} Hz, denoised in "
        f"{seconds:.1f} s (real-time factor {seconds / max(length, 1e-9):.2f})"
    )


def cmd_demo(args) -> None:
    """Train the classic MLP autoencoder on the bundled digits and write what a person wants to see."""
    import numpy as np
    import torch
    from sklearn.decomposition import PCA

    from .data import load_images
    from .metrics import r2_score
    from .training import make_config, train

    out = Path(args.output_dir)
    cfg = make_config(
        "mlp_autoencoder",
        dataset="digits",
        output_dir=str(out),
        epochs=args.epochs,
        batch_size=64,
        model_config=f"hidden_dim={args.hidden_dim}",
        checkpointing_steps=0,
        log_every=100,
    )
    result = train(cfg)
    ns = argparse.Namespace(
        model=str(out),
        dataset="digits",
        split="test",
        image_column=None,
        label_column=None,
        skip_bad_files=False,
        num_images=None,
        no_labels=False,
        max_thumbnails=250,
        output_dir=str(out),
    )
    cmd_embed(ns)
    # The baseline a reader should compare with: PCA with as many components as the code has dimensions.
    k = args.hidden_dim // 8
    train_x = np.asarray(load_images("digits", "train").images, dtype=np.float64).reshape(-1, 64) / 255
    test_x = np.asarray(load_images("digits", "test").images, dtype=np.float64).reshape(-1, 64) / 255
    pca = PCA(n_components=k).fit(train_x)
    pca_r2 = r2_score(torch.from_numpy(pca.inverse_transform(pca.transform(test_x))), torch.from_numpy(test_x))
    print(f"\nheld-out R^2: autoencoder ({k}-d code) {result.metrics['r2']:.3f} | PCA with {k} components {pca_r2:.3f}")
    print(
        f"look at: {out / 'reconstructions.png'}, {out / 'embedding.png'}, {out / 'samples'}/; "
        f"pipeline: AutoencoderPipeline.from_pretrained({str(out)!r})"
    )


# Commands whose flags come from the family registry or the training config: they build their own parser when
# run (so `genzoo --help` imports nothing heavy), and take the rest of the command line.
OWN_PARSERS = {"train": cmd_train, "sample": cmd_sample, "evaluate": cmd_evaluate, "bench": cmd_bench, "app": cmd_app}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genzoo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("train", help="train a model (see `genzoo train MODEL --help`)", add_help=False)
    sub.add_parser(
        "sample", help="draw samples from any trained generative model (see `genzoo sample --help`)", add_help=False
    )
    sub.add_parser(
        "evaluate",
        help="held-out metrics of a saved model; with --classifier, any model's sample quality "
        "(see `genzoo evaluate --help`)",
        add_help=False,
    )

    p = sub.add_parser("reconstruct", help="grid of images over their reconstructions (optionally corrupted first)")
    _add_data_args(p)
    p.add_argument("--num_images", type=int, default=16, help="how many images (default: 16)")
    p.add_argument("--noise", default=None, help="corrupt the inputs first: gaussian:SIGMA or mask:P (shows denoising)")
    p.add_argument("--seed", type=int, default=0, help="seed of the corruption (default: 0)")
    p.add_argument("--output", default="reconstructions.png", help="PNG to write (default: reconstructions.png)")

    p = sub.add_parser("embed", help="PCA of the codes as a thumbnail scatter plot, plus a reconstruction grid")
    _add_data_args(p)
    p.add_argument("--num_images", type=int, default=2000, help="how many images to embed (default: 2000)")
    p.add_argument("--max_thumbnails", type=int, default=400, help="thumbnails drawn (the rest are dots; default: 400)")
    p.add_argument("--no_labels", action="store_true", help="do not colour points by label")
    p.add_argument("--output_dir", default=".", help="where embedding.png and reconstructions.png go (default: .)")

    p = sub.add_parser(
        "push",
        help="share a trained model on the Hub, with its model card; or the genzoo app with models, as a Space",
        usage="genzoo push [-h] OUTPUT_DIR REPO_ID [--revision R] [--portable] [--private] [--commit_message M]\n"
        "       genzoo push [-h] --space USER/NAME --model NAME=FOLDER_OR_REPO [--model ...] [--models_dir DIR] "
        "[--title T] [--requirement SPEC] [--private] [--commit_message M]",
        description="Push a `genzoo train` output folder to a Hub repo in one commit: the pipeline (safetensors "
        "only), a model card rendered for the repo, the sample grid and metrics. With --space, publish the genzoo "
        "app (`genzoo app`) with the models of --model/--models_dir as a Gradio Space instead: local folders go up "
        "into the Space, Hub ids stay ids. The token comes from HF_TOKEN or `hf auth login`.",
    )
    p.add_argument("output_dir", nargs="?", help="folder written by `genzoo train` (not with --space)")
    p.add_argument("repo_id", nargs="?", help="Hub repo, user/name (created when missing; not with --space)")
    p.add_argument(
        "--space", default=None, metavar="USER/NAME", help="publish the genzoo app as this Space (created when missing)"
    )
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="NAME=FOLDER_OR_REPO",
        help="with --space: a model the app shows in its tab NAME, a `genzoo train` folder or a Hub model id; repeat",
    )
    p.add_argument(
        "--models_dir",
        default=None,
        metavar="DIR",
        help="with --space: every saved pipeline under this folder (named by its path)",
    )
    p.add_argument("--title", default=None, metavar="T", help="with --space: the Space's title (default: its name)")
    p.add_argument(
        "--requirement",
        default=None,
        metavar="SPEC",
        help="with --space: the requirements.txt line that installs hf_genzoo on the Space, e.g. a git+https:// "
        "URL (default: hf_genzoo[app]==<this version>)",
    )
    p.add_argument("--private", action="store_true", help="create the repo (or Space) as private")
    p.add_argument("--revision", default=None, help="branch to commit to, created from main when new (default: main)")
    p.add_argument(
        "--commit_message",
        default=None,
        help="commit message (default: 'Upload <pipeline> ...'; for a Space 'Show <models> ...')",
    )
    p.add_argument(
        "--portable",
        action="store_true",
        help="also push the model and pipeline source files, so that diffusers alone loads the repo with "
        "DiffusionPipeline.from_pretrained(repo_id, trust_remote_code=True)",
    )

    sub.add_parser(
        "bench",
        help="the trilemma: quality, coverage and speed of every model on one dataset (see `genzoo bench --help`)",
        add_help=False,
    )
    sub.add_parser(
        "app",
        help="look at, play with and compare trained models in the browser (see `genzoo app --help`)",
        add_help=False,
    )

    p = sub.add_parser(
        "denoise",
        help="denoise an audio file with a trained audio denoiser",
        description="Denoise an audio file (wav, flac, ogg: what soundfile reads) with a model trained by `genzoo "
        "train audio_denoiser`. The output keeps the input's length, sampling rate, channels and sample format; "
        "long files go through in overlapping chunks, so memory stays bounded.",
    )
    p.add_argument("input", help="the noisy audio file")
    p.add_argument("output", help="where the denoised file goes (its suffix picks the format: .wav, .flac, .ogg)")
    p.add_argument("--model", required=True, help="folder (or Hub repo id) of a `genzoo train audio_denoiser` model")
    p.add_argument("--chunk_seconds", type=float, default=4.0, help="seconds per chunk of a long file (default: 4)")
    p.add_argument("--batch_size", type=int, default=8, help="chunks per forward pass (default: 8)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")

    p = sub.add_parser("demo", help="train the classic autoencoder on the bundled digits and draw the results")
    p.add_argument("--output_dir", default="genzoo-demo", help="where everything goes (default: genzoo-demo)")
    p.add_argument("--epochs", type=int, default=150, help="passes over the 1,437 training digits (default: 150)")
    p.add_argument(
        "--hidden_dim", type=int, default=128, help="first layer width h; the code has h/8 dims (default: 128)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    commands = {
        "push": cmd_push,
        "reconstruct": cmd_reconstruct,
        "embed": cmd_embed,
        "demo": cmd_demo,
        "denoise": cmd_denoise,
    }
    try:
        if argv and argv[0] in OWN_PARSERS:
            return OWN_PARSERS[argv[0]](argv[1:])
        args = build_parser().parse_args(argv)
        commands[args.command](args)
    except UserInputError as err:  # what was typed cannot work: say what, no traceback
        raise SystemExit(f"genzoo {argv[0]}: error: {err}") from None
    except HUB_USER_ERRORS as err:  # a repo id or revision that is not there, no access, or no network and no cache
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise SystemExit(f"genzoo {argv[0]}: error: {type(err).__name__}: {first}") from None


if __name__ == "__main__":
    main()
