"""The `genzoo` command: train, reconstruct, embed, evaluate, demo.

    genzoo demo                                        # 1-minute tour on the bundled digits
    genzoo train mlp_autoencoder --dataset fashion_mnist --epochs 10
    genzoo evaluate --model genzoo-output --dataset fashion_mnist
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
    model = next(iter(pipe.components.values()))
    data = load_images(args.dataset, args.split, resolution=model.config.sample_size, channels=model.config.in_channels,
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

    from hf_genzoo.data import make_loader, parse_corruption
    from hf_genzoo.pipelines import AutoencoderPipeline, VAEPipeline
    from hf_genzoo.training.autoencoder import evaluate_autoencoder
    from hf_genzoo.training.vae import evaluate_vae

    pipe, data, _ = _load_pipeline_and_data(args)
    accelerator = Accelerator(cpu=args.cpu)
    loader = make_loader(data, args.batch_size, shuffle=False)
    if isinstance(pipe, AutoencoderPipeline):
        model = pipe.autoencoder.to(accelerator.device).eval()
        metrics = evaluate_autoencoder(model, loader, accelerator, parse_corruption(args.noise))
    elif isinstance(pipe, VAEPipeline) and not args.noise:
        metrics = evaluate_vae(pipe.vae.to(accelerator.device).eval(), loader, accelerator)
    else:
        raise SystemExit(f"genzoo evaluate: held-out metrics of a {type(pipe).__name__} come with `genzoo train`'s "
                         f"metrics.json; this command evaluates autoencoders (also with --noise) and VAEs")  # fmt: skip
    result = {"model": args.model, "dataset": args.dataset, "split": args.split, "images": len(data),
              "noise": args.noise, **metrics}  # fmt: skip
    print(json.dumps(result, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2))


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

    p = sub.add_parser("evaluate", help="held-out metrics: autoencoders' R^2 (with --noise, of denoising), VAEs' ELBO")
    _add_data_args(p)
    p.add_argument("--noise", default=None, help="evaluate denoising of gaussian:SIGMA or mask:P corrupted inputs")
    p.add_argument("--batch_size", type=int, default=256, help="evaluation batch size (default: 256)")
    p.add_argument("--cpu", action="store_true", help="run on the CPU even when a GPU is present")
    p.add_argument("--output", default=None, help="also write the metrics to this JSON file")

    p = sub.add_parser("demo", help="train the classic autoencoder on the bundled digits and draw the results")
    p.add_argument("--output_dir", default="genzoo-demo", help="where everything goes (default: genzoo-demo)")
    p.add_argument("--epochs", type=int, default=150, help="passes over the 1,437 training digits (default: 150)")
    p.add_argument("--hidden_dim", type=int, default=128, help="first layer width h; the code has h/8 dims (default: 128)")
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"reconstruct": cmd_reconstruct, "embed": cmd_embed, "evaluate": cmd_evaluate, "demo": cmd_demo}
    try:
        if argv and argv[0] == "train":  # its flags come from TrainConfig and the family's recipe
            return cmd_train(argv[1:])
        args = build_parser().parse_args(argv)
        commands[args.command](args)
    except ValueError as err:  # bad input: say what is wrong, no traceback
        raise SystemExit(f"genzoo {argv[0]}: error: {err}") from None


if __name__ == "__main__":
    main()
