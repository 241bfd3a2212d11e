"""Text-to-image latent diffusion, measured: do its images follow the prompts, how close they are to the data, how fast.

    python benchmarks/text2image.py --update_readme                    # fashion_mnist and shapes, the recipes
    python benchmarks/text2image.py --epochs autoencoder_kl=2,clip=3,text2image=6 --per_class 20   # a CPU budget
    python benchmarks/text2image.py --quick                            # digits and shapes, tiny models: it runs

On --dataset (fashion_mnist) the feature classifier (trained on the real training split), the VAE, the CLIP and the
UNet are trained (or reused from --work_dir), then, at classifier-free guidance 1, 2, 4 and 7.5, `--per_class`
images per class are drawn for prompts in templates the training captions never used ("a photograph of a
{class}", "a small image of a {class}"; `hf_genzoo.prompting`), DPM-Solver++ in 20 steps, batch 128, and scored:
    prompt accuracy   the share the classifier assigns to the prompted class (chance: 1 / classes; the classifier's
                      own accuracy on real test images is the ceiling a perfect generator would reach)
    CLIP score        our CLIP's score of each image with its prompt (real test images, with the same prompts of
                      their class, for reference)
    FD_local          the trilemma's Frechet distance, in the classifier's features, against as many training images
    s / image         wall time of the whole draw, per image
On `shapes` the same three parts are trained on the synthetic captioned set, whose test split holds only
colour-shape pairs the training split never shows. For each such pair, single-object prompts ("a large red triangle
on the left"); the colour of what is drawn is read from its pixels (the palette colour nearest to the mean of the
non-black pixels) and its shape by a classifier trained on grey versions of the training split's images and their
`shape` column (grey, so that it reads the silhouette and not the colours each shape was seen in; its accuracy on
the real held-out images is given); chance: 1/4 and 1/3.
Writes benchmarks/results/text2image.md (+ .json) and grids in benchmarks/results/text2image/.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionPipeline
from report import publish

from hf_genzoo.data import load_data, load_images
from hf_genzoo.data.captions import HELD_OUT_TEMPLATES
from hf_genzoo.data.shapes import COLOURS, HELD_OUT, POSITIONS, SHAPES, SIZES
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.prompting import class_prompts, draw_for_prompts, prompt_accuracy
from hf_genzoo.trilemma import reference_set, score
from hf_genzoo.trilemma_bench import device_name, ensure_model
from hf_genzoo.viz import save_grid

HERE = Path(__file__).resolve().parent
GUIDANCES = (1.0, 2.0, 4.0, 7.5)
PARTS = ("autoencoder_kl", "clip", "text2image")


def parse_epochs(spec: str) -> dict[str, int]:
    return {k: int(v) for k, v in (part.split("=", 1) for part in filter(None, spec.split(",")))}


def train_stack(dataset: str, work: Path, epochs: dict, quick: bool, configs: dict) -> dict[str, str]:
    """The VAE, the CLIP and the UNet for `dataset`, each trained (or reused) under `work`."""

    def part(family, **settings):
        given = {"model_config": configs[family]} if family in configs and not quick else {}
        return ensure_model(family, dataset, work, epochs.get(family), quick, **given, **settings)

    vae, clip = part("autoencoder_kl"), part("clip")
    return {"autoencoder_kl": vae, "clip": clip, "text2image": part("text2image", vae=vae, text_encoder=clip)}


def colour_of(image: torch.Tensor) -> int:
    """The palette colour (index into `COLOURS`) nearest to the mean of an RGB image's non-black pixels; -1 if none."""
    pixels = image.permute(1, 2, 0).reshape(-1, 3) * 255  # (H*W, 3)
    drawn = pixels[pixels.max(1).values > 60]
    if len(drawn) == 0:
        return -1
    palette = torch.tensor(list(COLOURS.values()), dtype=torch.float32)
    return int((palette - drawn.mean(0)).norm(dim=1).argmin())


def measure_dataset(args, stack: dict, classifier: str) -> tuple[list[dict], dict]:
    pipe = StableDiffusionPipeline.from_pretrained(stack["text2image"])
    clf, clip = load_pipeline(classifier), load_pipeline(stack["clip"])
    names = clf.classifier.config.class_names
    prompts, targets = class_prompts(names, args.per_class)
    reference = reference_set(clf, args.dataset, len(prompts))
    test = load_images(args.dataset, "test")
    real = torch.from_numpy(np.array(test.images[: len(prompts)])).float() / 255
    real_labels = torch.from_numpy(np.array(test.labels[: len(prompts)]))
    real_prompts = [HELD_OUT_TEMPLATES[i % 2].format(label=names[k].lower()) for i, k in enumerate(real_labels)]
    rows = [
        {
            "guidance": "real test images",
            "prompt_accuracy": prompt_accuracy(clf, real, real_labels),
            "clip_score": clip(real, real_prompts).clip_score.mean().item(),
            "FD_local": score(clf, real, reference)["FD_local"],
            "seconds_per_image": None,
        }
    ]
    for guidance in GUIDANCES:
        start = time.perf_counter()
        images = draw_for_prompts(pipe, prompts, guidance, seed=args.seed)  # (N, C, H, W), class by class
        seconds = (time.perf_counter() - start) / len(images)
        rows.append(
            {
                "guidance": guidance,
                "prompt_accuracy": prompt_accuracy(clf, images, targets),
                "clip_score": clip(images, prompts).clip_score.mean().item(),
                "FD_local": score(clf, images, reference)["FD_local"],
                "seconds_per_image": seconds,
            }
        )
        per_class = images.view(len(names), args.per_class, *images.shape[1:])[:, :8]  # (classes, 8, C, H, W)
        save_grid(per_class, Path(args.output_dir) / "text2image" / f"{args.dataset}_guidance_{guidance:g}.png")
        print(json.dumps(rows[-1]), flush=True)
    info = {"classes": len(names), "images": len(prompts), "parts": trained_parts(stack)}
    info["classifier_accuracy"] = json.loads(Path(classifier, "metrics.json").read_text())["metrics"]["accuracy"]
    return rows, info


def trained_parts(stack: dict) -> dict:
    """Each part's optimizer steps, batch, training images/s and held-out metrics, from its metrics.json."""
    parts = {}
    for part in PARTS:
        summary = json.loads(Path(stack[part], "metrics.json").read_text())
        batch = json.loads(Path(stack[part], "train_config.json").read_text())["batch_size"]
        parts[part] = {
            "steps": summary["steps"],
            "batch": batch,
            "images_per_s": summary["train_images_per_second"],
            "metrics": summary["metrics"],
        }
    return parts


def describe(parts: dict) -> str:
    return "; ".join(
        f"{p} {v['steps']} steps of {v['batch']} ({v['images_per_s']:.0f} images/s, about "
        f"{v['steps'] * v['batch'] / v['images_per_s'] / 60:.0f} min)"
        for p, v in parts.items()
    )


def shape_prompts(per_pair: int) -> tuple[list[str], list[int], list[int]]:
    """Single-object prompts for every held-out colour-shape pair, sizes and positions in turn."""
    prompts, colours, shapes = [], [], []
    for colour, shape in HELD_OUT:
        for i in range(per_pair):
            size, position = list(SIZES)[i % len(SIZES)], list(POSITIONS)[i % len(POSITIONS)]
            prompts.append(f"a {size} {colour} {shape} {position}")
            colours.append(list(COLOURS).index(colour))
            shapes.append(SHAPES.index(shape))
    return prompts, colours, shapes


def measure_shapes(args, work: Path, epochs: dict, configs: dict) -> tuple[list[dict], dict]:
    stack = train_stack("shapes", work, epochs, args.quick, configs)
    judge = ensure_model(
        "classifier",
        "shapes",
        work,
        epochs.get("classifier"),
        args.quick,
        name="shape-classifier",
        label_column="shape",
        resolution=32,
        channels=1,  # grey: the shape from the silhouette, not from the colours it was seen in
    )
    judge = load_pipeline(judge)
    real = load_data("captioned_images", "shapes", "test")  # only the held-out pairs: "a {size} {colour} {shape} ..."
    real_images = torch.from_numpy(np.array(real.images)).float() / 255
    words = [caption.split(" ") for caption in real.captions]
    real_shapes = torch.tensor([SHAPES.index(w[3]) for w in words])
    judge_accuracy = (judge(real_images).labels.cpu() == real_shapes).float().mean().item()
    pipe = StableDiffusionPipeline.from_pretrained(stack["text2image"])
    prompts, colours, shapes = shape_prompts(args.per_class)
    rows = []
    for guidance in GUIDANCES:
        images = draw_for_prompts(pipe, prompts, guidance, seed=args.seed)
        read = torch.tensor([colour_of(x) for x in images])
        rows.append(
            {
                "guidance": guidance,
                "colour_accuracy": (read == torch.tensor(colours)).float().mean().item(),
                "shape_accuracy": (judge(images).labels.cpu() == torch.tensor(shapes)).float().mean().item(),
            }
        )
        grid = images.view(len(HELD_OUT), args.per_class, *images.shape[1:])[:, :8]
        save_grid(grid, Path(args.output_dir) / "text2image" / f"shapes_held_out_guidance_{guidance:g}.png")
        print(json.dumps(rows[-1]), flush=True)
    single = [" and " not in caption for caption in real.captions]  # one object: its colour is the image's
    real_colours = torch.tensor([colour_of(x) for x, one in zip(real_images, single, strict=True) if one])
    real_colour_truth = torch.tensor([list(COLOURS).index(w[2]) for w, one in zip(words, single, strict=True) if one])
    info = {
        "shape_judge_accuracy": judge_accuracy,
        "colour_reader_accuracy": (real_colours == real_colour_truth).float().mean().item(),
        "images": len(prompts),
        "parts": trained_parts(stack),
    }
    return rows, info


def tables(args, rows: list[dict], info: dict, shape_rows: list[dict], shape_info: dict) -> str:
    dataset = args.dataset
    lines = [
        f"`{dataset}`: {info['images']} prompts ({info['images'] // info['classes']} per class, held-out templates), "
        f"DPM-Solver++ 20 steps, batch 128, on {device_name()}. Trained: {describe(info['parts'])}; the judging "
        f"classifier's test accuracy {info['classifier_accuracy']:.3f}. Prompt accuracy: chance "
        f"{1 / info['classes']:.2f}.",
        "",
        "| guidance | prompt accuracy | CLIP score | FD_local | s / image |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        speed = "" if r["seconds_per_image"] is None else f"{r['seconds_per_image']:.3f}"
        lines.append(
            f"| {r['guidance']} | {r['prompt_accuracy']:.3f} | {r['clip_score']:.1f} | {r['FD_local']:.3g} | {speed} |"
        )
    if shape_rows:
        lines += [
            "",
            f"`shapes`, colour-shape pairs held out of training ({', '.join(' '.join(p) for p in HELD_OUT)}): "
            f"{shape_info['images']} single-object prompts. Trained: {describe(shape_info['parts'])}. Chance: "
            f"colour 0.25, shape "
            f"0.33. The shape judge scores {shape_info['shape_judge_accuracy']:.3f} on the real held-out images, "
            f"the colour reader {shape_info['colour_reader_accuracy']:.3f}.",
            "",
            "| guidance | colour accuracy | shape accuracy |",
            "|---|---|---|",
        ]
        lines += [f"| {r['guidance']} | {r['colour_accuracy']:.3f} | {r['shape_accuracy']:.3f} |" for r in shape_rows]
    best = max(rows[1:], key=lambda r: r["prompt_accuracy"])
    lines += [
        "",
        f"Best prompt accuracy: {best['prompt_accuracy']:.3f} at guidance {best['guidance']:g} (target: 0.85; the "
        f"classifier on real test images: {rows[0]['prompt_accuracy']:.3f}).",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fashion_mnist", help="the labelled dataset (default: fashion_mnist)")
    parser.add_argument("--epochs", default="", help="family=EPOCHS,... (classifier, autoencoder_kl, clip, text2image)")
    parser.add_argument("--shapes_epochs", default="", help="the same for the models trained on shapes")
    parser.add_argument(
        "--model_config",
        action="append",
        default=[],
        metavar="FAMILY=SPEC",
        help="a part's --model_config, e.g. 'text2image=block_out_channels=(32, 64),layers_per_block=1' (repeatable)",
    )
    parser.add_argument("--per_class", type=int, default=50, help="images per class (and per held-out shape pair)")
    parser.add_argument("--no_shapes", action="store_true", help="skip the held-out shapes part")
    parser.add_argument("--work_dir", default="genzoo-text2image", help="where trained models go and are reused from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="digits and shapes, tiny models: checks that it runs")
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--output_dir", default=str(HERE / "results"))
    args = parser.parse_args()
    if args.quick:
        args.dataset, args.per_class = "digits", min(args.per_class, 4)
    epochs, work = parse_epochs(args.epochs), Path(args.work_dir)
    classifier = ensure_model("classifier", args.dataset, work, epochs.get("classifier"), args.quick)
    configs = dict(spec.split("=", 1) for spec in args.model_config)
    rows, info = measure_dataset(args, train_stack(args.dataset, work, epochs, args.quick, configs), classifier)
    shapes_epochs = parse_epochs(args.shapes_epochs)
    shape_rows, shape_info = ([], {}) if args.no_shapes else measure_shapes(args, work, shapes_epochs, configs)
    text = tables(args, rows, info, shape_rows, shape_info)
    raw = {"dataset": rows, "dataset_info": info, "shapes": shape_rows, "shapes_info": shape_info}
    publish(text, raw, Path(args.output_dir) / "text2image.md", "text2image" if args.update_readme else None)


if __name__ == "__main__":
    main()
