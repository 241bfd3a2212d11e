"""Point-cloud diffusion on held-out `shapes3d`: the protocol of the point-cloud generation papers, a point classifier's
verdict on class-conditional samples, and seconds per sample.

    python benchmarks/pointcloud_diffusion.py --model DIR [--model DIR2 ...] --classifier DIR --update_readme
    python benchmarks/pointcloud_diffusion.py                 # trains both with their recipes first (CPU: ~20 min)
    python benchmarks/pointcloud_diffusion.py --quick         # tiny models, a few sets: checks that it runs

Quality (Achlioptas et al. 2018; Yang et al. 2019, PointFlow): `--num_sets` held-out sets (the same number of each
class) are the reference; each row is as many sets, of the same classes, scored against it with
`hf_genzoo.metrics.point_cloud_metrics`: MMD, COV and 1-NNA with the Chamfer distance (squared, mean per direction,
summed over both directions) and the Earth Mover's distance (exact assignment, mean distance, on 256-point
subsamples). Every set is centred and scaled into the unit ball (`unit_ball`), the data's one normalization. Rows:
training sets against the test sets (the floor: what sets of the true distribution score), the model's class-
conditional samples of each model (2,048 points, DPM-Solver++ and DDIM, 50 steps), and Gaussian blobs (the
ceiling). Target: 1-NNA-CD at most 65% (50% is ideal).

Classes: the point classifier (`genzoo train point_classifier`) names the class of each set; the share named as the
class it was drawn for (targets: at least 90% of the samples, at least 75% in every class).

Copies: a model that reproduced its training sets would score as the floor row does, so the table also gives, for
the best row's samples and for the held-out sets, the Chamfer distance to the nearest of all training sets: samples
much nearer to training sets than new shapes of the same classes are (the held-out sets) would be copies.

Speed: seconds per 2,048-point sample at batch 1 (median of --repeats runs) with DPM-Solver++ 50, DDIM 50 and DDPM
1,000 steps (one run).

Precision (`--mixed_precision`, the pipeline's): `auto` samples with the denoiser under bf16 autocast where the CPU
computes bf16 natively (AMX, AVX-512 BF16), as `genzoo evaluate` does; `--mixed_precision auto no` adds a float32 row
and timing, to show what bf16 costs in quality and saves in time.

Writes benchmarks/results/pointcloud_diffusion.md (+ .json) and a picture of samples per class
(pointcloud_diffusion.png); with --update_readme the table goes between `<!-- pointcloud_diffusion -->` markers.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from report import publish

from hf_genzoo.data import load_data
from hf_genzoo.data.points import unit_ball
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.metrics.points import ReferenceSets, pairwise_chamfer, point_cloud_metrics
from hf_genzoo.pipelines.pointcloud_diffusion import PRECISIONS
from hf_genzoo.samplers import use_sampler
from hf_genzoo.training import make_config, train
from hf_genzoo.training.config import resolve_mixed_precision
from hf_genzoo.viz import point_cloud_images, save_grid

HERE = Path(__file__).resolve().parent
TARGET_1NNA_CD, TARGET_ACCURACY, TARGET_CLASS_ACCURACY = 0.65, 0.90, 0.75
SAMPLERS = (("dpmsolver++", 50), ("ddim", 50))
TIMED = (("dpmsolver++", 50), ("ddim", 50), ("ddpm", 1000))
METRICS = ("mmd_cd", "cov_cd", "1nna_cd", "mmd_emd", "cov_emd", "1nna_emd")


def balanced(data, per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`per_class` sets of each class of `data` (drawn with `seed`): points `(n, N, 3)` and labels `(n,)`."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    chosen = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in np.unique(labels)])
    return torch.from_numpy(np.array(data.arrays["points"][np.sort(chosen)])), torch.from_numpy(labels[np.sort(chosen)])


def samples(pipe, labels: torch.Tensor, num_points: int, sampler: str, steps: int, batch: int, guidance: float, mp):
    """Class-conditional samples, one per label, normalized as the data are; `mp` the pipeline's mixed_precision."""
    use_sampler(pipe, sampler)
    g, out = torch.Generator().manual_seed(0), []
    for i in range(0, len(labels), batch):
        chunk = labels[i : i + batch]
        call = {"num_inference_steps": steps, "output_type": "pt", "mixed_precision": mp}
        out.append(pipe(num_points, len(chunk), chunk, guidance, g, **call).points)
    return unit_ball(torch.cat(out).float())


def seconds_per_sample(pipe, sampler: str, steps: int, num_points: int, repeats: int, mp: str) -> float:
    use_sampler(pipe, sampler)
    times = []
    for r in range(repeats):
        t = time.perf_counter()
        g = torch.Generator().manual_seed(r)
        pipe(num_points, 1, 0, generator=g, num_inference_steps=steps, mixed_precision=mp)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def precision_name(mp: str) -> str:
    return {"no": "fp32", "bf16": "bf16"}[mp]


def describe(folder: str, pipe) -> str:
    """A row's name: the denoiser's neighbourhood branch (and shape latent), width and blocks, the steps it trained."""
    c = pipe.denoiser.config
    local = {"none": "plain", "voxel": f"voxel {c.voxel_resolution}^3", "knn": f"kNN {c.knn}"}[c.local]
    local += f", shape latent {c.shape_latent_dim}" if c.shape_latent_dim else ""
    summary = Path(folder) / "metrics.json"
    steps = json.loads(summary.read_text()).get("steps") if summary.exists() else None
    return f"ours ({local}, width {c.hidden_dim}, {c.num_blocks} blocks{f', {steps} steps' if steps else ''})"


def verdict(met: bool, by: float, digits: int) -> str:
    """`by`: how far a share is from its target, as percentage points."""
    return "met" if met else f"missed by {by * 100:.{digits}f} points"


def trained(family: str, out: Path, **quick) -> str:
    cfg = make_config(family, output_dir=str(out), report_to="none", checkpointing_steps=0, **quick)
    train(cfg)
    return str(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--model",
        action="append",
        help="a `genzoo train pointcloud_diffusion` folder; repeat for several (default: train one)",
    )
    parser.add_argument("--classifier", help="a `genzoo train point_classifier` folder (default: train one)")
    parser.add_argument("--num_sets", type=int, default=100, help="reference sets, split evenly over the classes")
    parser.add_argument("--num_points", type=int, default=2048, help="points per set (the papers': 2048)")
    parser.add_argument("--emd_points", type=int, default=256, help="points per set for the exact EMD")
    parser.add_argument(
        "--guidance_scale",
        type=float,
        nargs="+",
        default=[1.0],
        help="classifier-free guidance of the samples; several: the first for every sampler, the others with "
        "DPM-Solver++ 50 (one row each)",
    )
    parser.add_argument(
        "--mixed_precision",
        nargs="+",
        choices=PRECISIONS,
        default=["auto"],
        help="the pipelines' mixed_precision (auto: bf16 autocast where the CPU computes it natively); several: the "
        "first for every row and the timings, the others with DPM-Solver++ 50 at the first guidance (a row and a "
        "timing each)",
    )
    parser.add_argument("--batch_size", type=int, default=50, help="sets per pipeline call")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per fast sampler (median)")
    parser.add_argument("--n_jobs", type=int, default=2, help="processes for the EMD assignments")
    parser.add_argument("--work_dir", default=None, help="where models trained here go (default: a temporary folder)")
    parser.add_argument("--output", default=str(HERE / "results" / "pointcloud_diffusion.md"))
    parser.add_argument(
        "--update_readme", action="store_true", help="also put the table between its markers in its docs page"
    )
    parser.add_argument("--quick", action="store_true", help="tiny models, 20 sets of 256 points: checks it runs")
    args = parser.parse_args()
    quick = {}
    if args.quick:
        args.num_sets, args.num_points, args.emd_points, args.repeats = 20, 256, 32, 1
        quick = {"max_steps": 30, "num_points": 128, "batch_size": 16, "mixed_precision": "no", "prior_steps": 30}
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="genzoo-pc-"))
    tiny = {"pointcloud_diffusion": "hidden_dim=16,num_blocks=1,embed_dim=16", "point_classifier": "widths=(16, 32)"}
    if args.classifier is None:
        extra = {**quick, "model_config": tiny["point_classifier"]} if args.quick else {}
        args.classifier = trained("point_classifier", work / "classifier", **extra)
    if (
        args.model is None
    ):  # the recipe; quick: a tiny plain and a tiny shape-latent model, the table's two kinds of row
        configs = {"diffusion": {}}
        if args.quick:
            configs = {
                f"diffusion-{k}": {**quick, "model_config": f"{tiny['pointcloud_diffusion']}{extra}"}
                for k, extra in (("plain", ",shape_latent_dim=None"), ("latent", ",shape_latent_dim=8"))
            }
        args.model = [trained("pointcloud_diffusion", work / name, **extra) for name, extra in configs.items()]
    loaded = [load_pipeline(folder) for folder in args.model]
    pipes = {describe(folder, pipe): pipe for folder, pipe in zip(args.model, loaded, strict=True)}
    clf = load_pipeline(args.classifier)
    test = load_data("point_sets", "shapes3d", "test", num_points=args.num_points)
    train_sets = load_data("point_sets", "shapes3d", "train", num_points=args.num_points)
    names = test.label_names
    per_class = max(1, args.num_sets // len(names))
    reference, labels = balanced(test, per_class, seed=0)
    floor, floor_labels = balanced(train_sets, per_class, seed=1)
    rows = {"training sets (floor)": floor}
    (first, *other_scales), precisions = args.guidance_scale, [resolve_mixed_precision(p) for p in args.mixed_precision]
    (mp, *other_precisions) = list(dict.fromkeys(precisions))  # "auto" may repeat "bf16" or "no"
    variants = [(*s, first, mp) for s in SAMPLERS] + [(*SAMPLERS[0], g, mp) for g in other_scales]
    variants += [(*SAMPLERS[0], first, p) for p in other_precisions]
    for name, pipe in pipes.items():
        pipe.set_progress_bar_config(disable=True)
        for sampler, steps, guidance, mp in variants:
            t = time.perf_counter()
            row = f"{name}, {sampler} {steps}" + (f", guidance {guidance:g}" if other_scales else "")
            row += f", {precision_name(mp)}" if other_precisions else ""
            rows[row] = samples(pipe, labels, args.num_points, sampler, steps, args.batch_size, guidance, mp)
            print(f"{row}: {len(labels)} sets in {time.perf_counter() - t:.0f} s", flush=True)
    blobs = torch.randn(len(labels), args.num_points, 3, generator=torch.Generator().manual_seed(0))
    rows["Gaussian blobs (ceiling)"] = unit_ball(blobs)
    results = []
    references = ReferenceSets(reference, emd_points=args.emd_points)  # their own matrices once, for every row
    for name, sets in rows.items():
        t = time.perf_counter()
        scores = point_cloud_metrics(sets, references, n_jobs=args.n_jobs)
        truth = floor_labels if sets is floor else labels  # the classes each row's sets are of
        predicted = torch.as_tensor(clf(sets, normalize=False).labels)
        per = {names[c]: float((predicted[truth == c] == c).float().mean()) for c in range(len(names))}
        results.append({"row": name, **scores, "accuracy": float((predicted == truth).float().mean()), "per": per})
        print(f"{name}: {results[-1]} ({time.perf_counter() - t:.0f} s)", flush=True)
    timed_points = args.num_points if args.quick else 2048
    timed_runs = [(s, k, mp, f"{s} {k}") for s, k in TIMED]
    timed_runs += [
        (*SAMPLERS[0], p, f"{SAMPLERS[0][0]} {SAMPLERS[0][1]} {precision_name(p)}") for p in other_precisions
    ]
    timing = {
        name: {
            column: seconds_per_sample(pipe, s, k, timed_points, 1 if s == "ddpm" else args.repeats, p)
            for s, k, p, column in timed_runs
        }
        for name, pipe in pipes.items()
    }
    best = min((r for r in results if r["row"] in rows and r["row"].startswith("ours")), key=lambda r: r["1nna_cd"])

    # the picture: per class, a held-out set and samples of that class (the best row)
    ours = rows[best["row"]]
    shown = min(per_class, 5)
    grid = torch.stack(
        [
            point_cloud_images(torch.cat([reference[labels == c][:1], ours[labels == c][:shown]]), size=80)
            for c in range(len(names))
        ]
    )  # (classes, 1 + shown, 3, H, W)
    picture = save_grid(grid, Path(args.output).with_suffix(".png"))

    # copies: the CD from each of the best row's samples, and from each held-out set, to its nearest training set
    every_train = torch.from_numpy(np.array(train_sets.arrays["points"]))  # (1600, N, 3)
    t = time.perf_counter()
    nearest = {
        name: pairwise_chamfer(sets, every_train).min(1) for name, sets in (("held-out", reference), ("ours", ours))
    }
    print(f"nearest training sets in {time.perf_counter() - t:.0f} s", flush=True)
    copies = {name: {"median": float(np.median(d)), "min": float(d.min())} for name, d in nearest.items()}

    lines = [
        f"shapes3d test: {len(reference)} sets ({per_class} per class, {len(names)} classes), {args.num_points} "
        f"points, unit-ball normalized; EMD on {args.emd_points}-point subsamples; guidance "
        f"{' and '.join(f'{g:g}' for g in args.guidance_scale)}; "
        f"sampled in {' and '.join(precision_name(p) for p in [mp, *other_precisions])} (the denoiser under "
        "bf16 autocast or not); "
        f"classes named by `{Path(args.classifier).name}`; models: "
        + "; ".join(f"{name} ({folder})" for name, folder in zip(pipes, args.model, strict=True)),
        "",
        "| row | MMD-CD (x10^3) | COV-CD | 1-NNA-CD | MMD-EMD (x10^2) | COV-EMD | 1-NNA-EMD | "
        "classified as its class |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['row']} | {r['mmd_cd'] * 1e3:.2f} | {r['cov_cd']:.1%} | {r['1nna_cd']:.1%} | "
            f"{r['mmd_emd'] * 1e2:.2f} | {r['cov_emd']:.1%} | {r['1nna_emd']:.1%} | {r['accuracy']:.1%} |"
        )
    worst_class = min(best["per"], key=best["per"].get)
    weakest = best["per"][worst_class]
    timed = list(next(iter(timing.values())))  # the columns
    lines += [
        "",
        f"| seconds per 2,048-point sample (batch 1, {precision_name(mp)} unless named) | " + " | ".join(timed) + " |",
        "|---|" + "---|" * len(timed),
        *("| " + name + " | " + " | ".join(f"{v:.2f}" for v in t.values()) + " |" for name, t in timing.items()),
        "",
        f"Targets, best row ({best['row']}): 1-NNA-CD <= {TARGET_1NNA_CD:.0%}: {best['1nna_cd']:.1%} "
        f"({verdict(best['1nna_cd'] <= TARGET_1NNA_CD, best['1nna_cd'] - TARGET_1NNA_CD, 1)}); samples "
        f"classified as their class >= {TARGET_ACCURACY:.0%}: {best['accuracy']:.1%} "
        f"({verdict(best['accuracy'] >= TARGET_ACCURACY, TARGET_ACCURACY - best['accuracy'], 1)}); every class "
        f">= {TARGET_CLASS_ACCURACY:.0%}: weakest {worst_class} {weakest:.0%} "
        f"({verdict(weakest >= TARGET_CLASS_ACCURACY, TARGET_CLASS_ACCURACY - weakest, 0)}).",
        "",
        f"Copies? CD (x10^3) to the nearest of the {len(every_train)} training sets, median (smallest): the held-out "
        f"sets {copies['held-out']['median'] * 1e3:.2f} ({copies['held-out']['min'] * 1e3:.2f}), the best row's "
        f"samples {copies['ours']['median'] * 1e3:.2f} ({copies['ours']['min'] * 1e3:.2f}); samples that copied "
        "training sets would lie far nearer to them than new shapes do.",
        "",
        f"![per class: a held-out set, then samples of that class]({Path('benchmarks/results') / picture.name})",
    ]
    raw = {"rows": results, "seconds_per_sample": timing, "nearest_training_cd": copies}
    raw |= {"models": args.model, "classifier": args.classifier}
    publish("\n".join(lines), raw, args.output, "pointcloud_diffusion" if args.update_readme else None)


if __name__ == "__main__":
    main()
