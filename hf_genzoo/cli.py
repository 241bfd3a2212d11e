"""The `genzoo` command: train, sample, push, bench, reconstruct, embed, evaluate, demo.

    genzoo demo                                        # 1-minute tour on the bundled digits
    genzoo train mlp_autoencoder --dataset fashion_mnist --epochs 10
    genzoo evaluate --model genzoo-output --dataset fashion_mnist
    genzoo train ddpm --dataset fashion_mnist --output_dir ddpm-fashion
    genzoo sample --model ddpm-fashion --scheduler dpmsolver++ --steps 20 --num_images 64
    genzoo push ddpm-fashion user/ddpm-fashion
    genzoo embed --model genzoo-output --dataset fashion_mnist
    genzoo reconstruct --model genzoo-output --dataset fashion_mnist --noise gaussian:0.3

Heavy imports (torch, diffusers) happen inside the commands, so `genzoo --help` is instant.
"""

import argparse
import json
import sys
from pathlib import Path


def _add_data_args(p: argparse.ArgumentParser, default_split: str = "test") -> None:
    p.add_argument("--model", required=True, help="folder (or Hub repo id) of a pipeline saved by `genzoo train`")
    p.add_argument("--dataset", default="digits", help="dataset name, Hub id, imagefolder:<path> or local path (default: digits)")
    p.add_argument("--split", default=default_split, help=f"split to use (default: {default_split})")
    p.add_argument("--image_column", default=None, help="image column (default: guessed)")
    p.add_argument("--label_column", default=None, help="label column (default: 'label' if present)")
    p.add_argument("--skip_bad_files", action="store_true", help="skip unreadable image files instead of stopping")


def _load_pipeline_and_data(args, limit: int | None = None):
    from hf_genzoo.data import load_images
    from hf_genzoo.hub.loading import load_pipeline

    pipe = load_pipeline(args.model)
    config = next(iter(pipe.components.values())).config  # the main model's: its image size and channels
    channels = config.get("in_channels", config.get("out_channels"))  # a GAN's generator has out_channels only
    data = load_images(args.dataset, args.split, resolution=config.sample_size, channels=channels,
                       image_column=args.image_column, label_column=args.label_column,
                       skip_bad_files=args.skip_bad_files)  # fmt: skip
    n = len(data) if limit is None else min(limit, len(data))
    return pipe, data, n


def _require_encoder(pipe, command: str) -> None:
    """`embed` and `reconstruct` need a model with an encoder: an autoencoder or a VAE."""
    from hf_genzoo.pipelines import AutoencoderPipeline, VAEPipeline

    if not isinstance(pipe, (AutoencoderPipeline, VAEPipeline)):
        raise SystemExit(f"genzoo {command}: needs an autoencoder or VAE pipeline, got {type(pipe).__name__}")


def cmd_train(args_list: list[str]) -> None:
    from hf_genzoo.training import train
    from hf_genzoo.training.args import add_train_arguments, parse_train_args

    parser = argparse.ArgumentParser(prog="genzoo train", add_help=False,
                                     description="Train a model with the one accelerate loop (same as scripts/train.py).")  # fmt: skip
    add_train_arguments(parser, model_as_flag=False)
    result = train(parse_train_args(parser, args_list))
    print(f"saved the pipeline to {result.output_dir}; held-out metrics: {json.dumps(result.metrics)}")


def cmd_reconstruct(args) -> None:
    import torch

    from hf_genzoo.data import parse_corruption
    from hf_genzoo.viz import save_grid

    pipe, data, n = _load_pipeline_and_data(args, args.num_images)
    _require_encoder(pipe, "reconstruct")
    clean = torch.from_numpy(data.images[:n].copy()).float() / 255  # (n, C, H, W)
    corruption = parse_corruption(args.noise)
    rows = [clean]
    if corruption:
        rows.append(corruption(clean, torch.Generator().manual_seed(args.seed)))
    rows.append(pipe.reconstruct(rows[-1], output_type="pt").images.cpu())
    path = save_grid(torch.stack(rows), args.output)
    print(f"wrote {path}: originals" + (", corrupted inputs" if corruption else "") + " and reconstructions, one row each")


def cmd_embed(args) -> None:
    import torch

    from hf_genzoo.viz import embedding_plot, save_grid

    pipe, data, n = _load_pipeline_and_data(args, args.num_images)
    _require_encoder(pipe, "embed")
    images = data.images[:n]
    codes = pipe.encode(torch.from_numpy(images.copy()).float() / 255).float().cpu().numpy()
    labels = None if args.no_labels or data.labels is None else data.labels[:n]
    out = Path(args.output_dir)
    path, ratio = embedding_plot(codes, images, out / "embedding.png", labels, data.label_names,
                                 max_thumbnails=args.max_thumbnails,
                                 title=f"PCA of {codes.shape[1]}-d codes, {args.dataset} ({args.split})")  # fmt: skip
    k = min(16, n)
    clean = torch.from_numpy(images[:k].copy()).float() / 255
    recon = pipe.reconstruct(clean, output_type="pt").images.cpu()
    grid = save_grid(torch.stack([clean, recon]), out / "reconstructions.png")
    print(f"wrote {path} (PCA of {n} codes; the two components explain {ratio.sum():.0%} of their variance)")
    print(f"wrote {grid} (originals over reconstructions)")


def cmd_evaluate(args) -> None:
    from accelerate import Accelerator

    import torch

    from hf_genzoo.data import make_loader, parse_corruption
    from hf_genzoo.pipelines import AutoencoderPipeline, ClassifierPipeline, VAEPipeline
    from hf_genzoo.training.autoencoder import evaluate_autoencoder
    from hf_genzoo.training.vae import evaluate_vae

    if args.inception_weights and not args.classifier:
        raise SystemExit("genzoo evaluate: --inception_weights scores a model's samples; it goes with --classifier")
    if args.inception_weights and not Path(args.inception_weights).is_file():
        raise SystemExit(f"genzoo evaluate: --inception_weights {args.inception_weights}: no such file")
    pipe, data, _ = _load_pipeline_and_data(args)
    accelerator = Accelerator(cpu=args.cpu)
    loader = make_loader(data, args.batch_size, shuffle=False)
    if args.classifier:
        metrics = _sample_quality(pipe, args, accelerator.device)
    elif isinstance(pipe, ClassifierPipeline):
        pipe.to(accelerator.device)
        labels = torch.cat([pipe(batch["pixel_values"], batch_size=args.batch_size).labels.cpu() for batch in loader])
        metrics = {"accuracy": float((labels.numpy() == data.labels).mean())}
    elif isinstance(pipe, AutoencoderPipeline):
        model = pipe.autoencoder.to(accelerator.device).eval()
        metrics = evaluate_autoencoder(model, loader, accelerator, parse_corruption(args.noise))
    elif isinstance(pipe, VAEPipeline) and not args.noise:
        metrics = evaluate_vae(pipe.vae.to(accelerator.device).eval(), loader, accelerator)
    else:
        raise SystemExit(f"genzoo evaluate: held-out metrics of a {type(pipe).__name__} come with `genzoo train`'s "
                         f"metrics.json; without --classifier this command evaluates autoencoders (also with "
                         f"--noise), VAEs and classifiers; with --classifier it scores any model's samples")  # fmt: skip
    result = {"model": args.model, "dataset": args.dataset, "split": "train" if args.classifier else args.split,
              "images": len(data), "noise": args.noise, **metrics}  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2))


def _sample_quality(pipe, args, device) -> dict:
    """`--num_samples` samples of `pipe` scored against as many training images in `--classifier`'s features."""
    import time

    import torch

    from hf_genzoo.hub.loading import load_pipeline
    from hf_genzoo.samplers import sample_images
    from hf_genzoo.trilemma import reference_set, score

    clf = load_pipeline(args.classifier).to(device)
    reference = reference_set(clf, args.dataset, args.num_samples)
    pipe.to(device)
    t = time.perf_counter()
    images, steps = sample_images(pipe, args.num_samples, torch.Generator().manual_seed(args.seed), args.batch_size,
                                  args.scheduler, args.steps, args.temperature)  # fmt: skip
    speed = args.num_samples / (time.perf_counter() - t)
    scores = score(clf, images, reference, args.batch_size)
    if args.inception_weights:
        from hf_genzoo.metrics.inception import fid_kid, inception_reference

        scores.update(fid_kid(images, inception_reference(reference["images"], args.inception_weights),
                              args.inception_weights))  # fmt: skip
    return {**scores, "samples": args.num_samples, "nfe": steps or 1, "images_per_s": speed}


def cmd_sample(args) -> None:
    import time

    import numpy as np
    import PIL.Image
    import torch

    from hf_genzoo.hub.loading import load_pipeline
    from hf_genzoo.samplers import check_sampler, sample_images
    from hf_genzoo.viz import save_grid

    if args.num_images < 1 or args.batch_size < 1:
        raise ValueError("--num_images and --batch_size must be at least 1")
    if args.scheduler:
        check_sampler(args.scheduler)  # before loading anything
    pipe = load_pipeline(args.model)
    if torch.cuda.is_available() and not args.cpu:
        pipe.to("cuda")
    generator = torch.Generator(device="cpu").manual_seed(args.seed)
    t = time.perf_counter()
    images, steps = sample_images(pipe, args.num_images, generator, args.batch_size, args.scheduler, args.steps,
                                  args.temperature)  # fmt: skip
    seconds = time.perf_counter() - t
    path = save_grid(images, args.output, ncols=min(args.num_images, 8))
    how = f" ({args.scheduler or 'the saved scheduler'}, {steps} steps)" if steps else ""
    print(f"wrote {path}: {len(images)} samples{how} in {seconds:.1f} s ({seconds / len(images) * 1000:.0f} ms per image)")
    if args.images_dir:
        folder = Path(args.images_dir)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (images.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)  # (N, H, W, C), as numpy_to_pil
        for i, x in enumerate(pixels):
            PIL.Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x).save(folder / f"{i:05d}.png")
        print(f"wrote {len(pixels)} PNG files to {folder}")


def cmd_push(args) -> None:
    from hf_genzoo.hub.push import PushError, push_to_hub

    try:
        commit = push_to_hub(args.output_dir, args.repo_id, private=args.private, revision=args.revision,
                             commit_message=args.commit_message, portable=args.portable)  # fmt: skip
    except PushError as err:  # the Hub failed or refused: its message, no traceback
        raise SystemExit(f"genzoo push: error: {err}") from None
    print(f"pushed {args.output_dir} to {commit.repo_url} (commit {commit.oid[:8]}); load it with "
          f"from_pretrained({commit.repo_url.repo_id!r}" + (f", revision={args.revision!r})" if args.revision else ")"))


def cmd_bench(args_list: list[str]) -> None:
    from hf_genzoo.trilemma import add_arguments, bench, plot

    parser = argparse.ArgumentParser(
        prog="genzoo bench",
        description="Train (or take) a VAE, GAN, flow, DDPM (4 samplers), an autoencoder and a feature classifier on "
                    "one dataset and score their samples: FD_local, KID_local, precision/recall, density/coverage, "
                    "label entropy, NFE, images/s, bits/dim. The same as benchmarks/trilemma.py.")  # fmt: skip
    add_arguments(parser)
    parser.add_argument("--output_dir", default="genzoo-bench", help="where the table, plot and grids go (default: genzoo-bench)")
    args = parser.parse_args(args_list)
    rows, text = bench(args)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "trilemma.md").write_text(text + "\n")
    print(f"\n{text}\n\nwrote {out / 'trilemma.md'}, {plot(rows, out / 'trilemma.png')} and a grid per row in "
          f"{out / 'trilemma'}/")


def cmd_demo(args) -> None:
    """Train the classic MLP autoencoder on the bundled digits and write what a person wants to see."""
    import numpy as np
    import torch
    from sklearn.decomposition import PCA

    from hf_genzoo.data import load_images
    from hf_genzoo.metrics import r2_score
    from hf_genzoo.training import make_config, train

    out = Path(args.output_dir)
    cfg = make_config("mlp_autoencoder", dataset="digits", output_dir=str(out), epochs=args.epochs, batch_size=64,
                      model_config=f"hidden_dim={args.hidden_dim}", checkpointing_steps=0, log_every=100)  # fmt: skip
    result = train(cfg)
    ns = argparse.Namespace(model=str(out), dataset="digits", split="test", image_column=None, label_column=None,
                            skip_bad_files=False, num_images=None, no_labels=False, max_thumbnails=250,
                            output_dir=str(out))  # fmt: skip
    cmd_embed(ns)
    # The baseline a reader should compare with: PCA with as many components as the code has dimensions.
    k = args.hidden_dim // 8
    train_x = np.asarray(load_images("digits", "train").images, dtype=np.float64).reshape(-1, 64) / 255
    test_x = np.asarray(load_images("digits", "test").images, dtype=np.float64).reshape(-1, 64) / 255
    pca = PCA(n_components=k).fit(train_x)
    pca_r2 = r2_score(torch.from_numpy(pca.inverse_transform(pca.transform(test_x))), torch.from_numpy(test_x))
    print(f"\nheld-out R^2: autoencoder ({k}-d code) {result.metrics['r2']:.3f} | PCA with {k} components {pca_r2:.3f}")
    print(f"look at: {out / 'reconstructions.png'}, {out / 'embedding.png'}, {out / 'samples'}/; "
          f"pipeline: AutoencoderPipeline.from_pretrained({str(out)!r})")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genzoo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("train", help="train a model (see `genzoo train MODEL --help`)", add_help=False)

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

    p = sub.add_parser("evaluate", help="held-out metrics: autoencoders' R^2 (with --noise, of denoising), VAEs' ELBO, "
                                        "classifiers' accuracy; with --classifier, any model's sample quality")
    _add_data_args(p)
    p.add_argument("--noise", default=None, help="evaluate denoising of gaussian:SIGMA or mask:P corrupted inputs")
    p.add_argument("--batch_size", type=int, default=256, help="evaluation batch size (default: 256)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--output", default=None, help="also write the metrics to this JSON file")
    p.add_argument("--classifier", default=None,
                   help="score the model's samples instead, in this classifier's features, against the training "
                        "images: FD_local, KID_local, precision/recall, density/coverage, label entropy")  # fmt: skip
    p.add_argument("--num_samples", type=int, default=1000, help="with --classifier: samples to draw (default: 1000)")
    p.add_argument("--scheduler", default=None, help="with --classifier, diffusion only: ddpm, ddim, dpmsolver++, ...")
    p.add_argument("--steps", type=int, default=None, help="with --classifier, diffusion only: sampling steps")
    p.add_argument("--temperature", type=float, default=None, help="with --classifier, flow only: prior temperature")
    p.add_argument("--seed", type=int, default=0, help="with --classifier: seed of the samples (default: 0)")
    p.add_argument("--inception_weights", default=None, metavar="PATH",
                   help="with --classifier: also standard FID/KID in torch-fidelity's Inception-v3 with these weights "
                        "(weights-inception-2015-12-05-6726825d.pth; needs hf_genzoo[fidelity])")  # fmt: skip

    p = sub.add_parser("sample", help="draw samples from any trained generative model (DDPM: choose the sampler)",
                       description="Draw samples from a saved VAE, GAN, flow or DDPM pipeline and write a grid. A DDPM "
                                   "samples with its saved scheduler (DDPM, 1000 steps) unless --scheduler swaps in a "
                                   "fast one; only the scheduler changes, never the network.")  # fmt: skip
    p.add_argument("--model", required=True, help="folder (or Hub repo id) of a pipeline saved by `genzoo train`")
    p.add_argument("--num_images", type=int, default=64, help="how many samples (default: 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of the one CPU generator all noise comes from (default: 0)")
    p.add_argument("--scheduler", default=None,
                   help="diffusion only: ddpm, ddim, dpmsolver++ or dpmsolver (default: the saved one)")
    p.add_argument("--steps", type=int, default=None,
                   help="diffusion only: sampling steps (default: ddpm 1000, ddim 50, dpmsolver++ 20)")
    p.add_argument("--temperature", type=float, default=None, help="flow only: scale of the prior's std (default: 1.0)")
    p.add_argument("--batch_size", type=int, default=256,
                   help="images per pipeline call; the same seed gives the same images only at the same batch size "
                        "(default: 256)")  # fmt: skip
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--output", default="samples.png", help="grid PNG to write, 8 per row (default: samples.png)")
    p.add_argument("--images_dir", default=None, help="also write each sample as its own PNG into this folder")

    p = sub.add_parser("push", help="share a trained model on the Hub, with its model card",
                       description="Push a `genzoo train` output folder to a Hub repo in one commit: the pipeline "
                                   "(safetensors only), a model card rendered for the repo, the sample grid and "
                                   "metrics. The token comes from HF_TOKEN or `hf auth login`.")  # fmt: skip
    p.add_argument("output_dir", help="folder written by `genzoo train`")
    p.add_argument("repo_id", help="Hub repo, user/name (created when missing)")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--revision", default=None, help="branch to commit to, created from main when new (default: main)")
    p.add_argument("--commit_message", default=None, help="commit message (default: 'Upload <pipeline> ...')")
    p.add_argument("--portable", action="store_true",
                   help="also push the model and pipeline source files, so that diffusers alone loads the repo with "
                        "DiffusionPipeline.from_pretrained(repo_id, trust_remote_code=True)")  # fmt: skip

    sub.add_parser("bench", help="the trilemma: quality, coverage and speed of every model on one dataset "
                                 "(see `genzoo bench --help`)", add_help=False)  # fmt: skip

    p = sub.add_parser("demo", help="train the classic autoencoder on the bundled digits and draw the results")
    p.add_argument("--output_dir", default="genzoo-demo", help="where everything goes (default: genzoo-demo)")
    p.add_argument("--epochs", type=int, default=150, help="passes over the 1,437 training digits (default: 150)")
    p.add_argument("--hidden_dim", type=int, default=128, help="first layer width h; the code has h/8 dims (default: 128)")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"sample": cmd_sample, "push": cmd_push, "reconstruct": cmd_reconstruct, "embed": cmd_embed, "evaluate": cmd_evaluate, "demo": cmd_demo}
    try:
        if argv and argv[0] == "train":  # its flags come from TrainConfig and the family's recipe
            return cmd_train(argv[1:])
        if argv and argv[0] == "bench":  # its flags live with the benchmark (hf_genzoo/trilemma.py)
            return cmd_bench(argv[1:])
        args = build_parser().parse_args(argv)
        commands[args.command](args)
    except ValueError as err:  # bad input: say what is wrong, no traceback
        raise SystemExit(f"genzoo {argv[0]}: error: {err}") from None


if __name__ == "__main__":
    main()
