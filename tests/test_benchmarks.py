"""The benchmark scripts' quick modes run and write their tables (so they do not rot between full runs)."""

import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from hf_genzoo.training.loop import WARMUP_STEPS

from .launch import run_or_dump

REPO = Path(__file__).resolve().parents[1]


def _run(*args, timeout=600):
    proc = run_or_dump([sys.executable, *args], cwd=REPO, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_autoencoder_benchmark_quick_mode_writes_its_table(tmp_path):
    out = tmp_path / "ae.md"
    _run("benchmarks/autoencoder_r2.py", "--quick", "--output", str(out))
    table = out.read_text()
    assert table.startswith("Made by `python benchmarks/autoencoder_r2.py --quick --output")
    assert "| PCA | " in table and "| ConvAutoencoder | " in table
    raw = json.loads(out.with_suffix(".json").read_text())
    assert set(raw["r2"]) == {"PCA", "MLPAutoencoder", "ConvAutoencoder"} and "r2_noisy_input" in raw["denoising"]


def test_families_benchmark_quick_mode_writes_table_and_grids(tmp_path):
    _run("benchmarks/families.py", "--quick", "--families", "vae,flow", "--output_dir", str(tmp_path))
    table = (tmp_path / "families.md").read_text()
    assert "| vae | " in table and "| flow | " in table and "(exact)" in table and "(ELBO bound; " in table
    assert {p.name for p in (tmp_path / "families").iterdir()} == {"vae.png", "flow_t_0_7.png", "flow_t_1_0.png"}


def test_gpu_smoke_quick_mode_runs_every_registered_family_beside_its_bare_loop(tmp_path):
    from hf_genzoo.registry import families

    _run("benchmarks/gpu_smoke.py", "--quick", "--output", str(tmp_path / "s.md"))
    rows = json.loads((tmp_path / "s.json").read_text())
    assert [r["family"] for r in rows] == list(families())
    ran = [r for r in rows if "skipped" not in r]  # a family whose data needs a missing system package is skipped
    assert all("apt-get install" in r["skipped"] for r in rows if r not in ran)
    assert shutil.which("espeak-ng") is None or len(ran) == len(rows)
    for r in ran:
        assert r["steps"] == WARMUP_STEPS + 2 and r["sample_images_per_s"] > 0 and r["metrics"]
        assert r["train_images_per_s"] > 0 and r["bare_images_per_s"] > 0
        assert r["train_over_bare"] == pytest.approx(r["train_images_per_s"] / r["bare_images_per_s"])
        assert "compiled_train_images_per_s" not in r  # eager only without --compile
        assert r["train_peak_mib"] >= 0 and r["sample_peak_mib"] >= 0
    table = (tmp_path / "s.md").read_text()
    assert "| family | train() images/s | bare loop images/s | train() / bare |" in table
    assert "CPU (" in table or torch.cuda.get_device_name() in table  # the device it ran on
    assert (
        f", digits, batch 16, fp32, {WARMUP_STEPS + 2} steps per family" in table
    )  # --quick's batch, not the GPU run's 256
    for r in ran:
        cells = next(line for line in table.splitlines() if line.startswith(f"| {r['family']} |")).split(" | ")
        assert float(cells[1].replace(",", "")) > 0 and float(cells[2].replace(",", "")) > 0
        assert float(cells[3]) == pytest.approx(r["train_over_bare"], abs=0.006)
    rows = [r for r in ran if r["family"] in ("mlp_autoencoder", "gan")]
    # the --compile columns (a compiled run takes a minute of inductor's C++ builds on a CPU): the table of these rows
    smoke = _benchmark_module("gpu_smoke")
    compiled = [
        {**r, "compiled_train_images_per_s": 2.0, "compiled_bare_images_per_s": 3.0}
        | {"train_compiled_over_eager": 1.5, "bare_compiled_over_eager": 0.25}
        for r in rows
    ]
    args = argparse.Namespace(
        compile=True, dataset="digits", mixed_precision="no", steps=WARMUP_STEPS + 2, batch_size=16
    )
    lines = smoke.table([*compiled, {"family": "audio_denoiser", "skipped": "apt-get install espeak-ng"}], args)
    lines = lines.splitlines()
    assert "fp32" in lines[0] and "| compiled / eager: train() | compiled / eager: bare |" in lines[2]
    assert len({line.count("|") for line in lines[2:]}) == 1  # every row has the header's columns
    assert "| 2 | 3 | 1.50 | 0.25 |" in lines[4]


def _benchmark_module(name: str):
    """benchmarks/NAME.py as a module (the scripts import their siblings)."""
    import importlib.util

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location(f"{name}_benchmark", REPO / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO / "benchmarks"))


def test_bare_loop_trains_and_compiles_to_the_same_losses(tmp_path, monkeypatch):
    """The bare loop learns, and compiled it gives the eager losses. Compiled with dynamo and AOT autograd but
    without inductor's C++ build (half a minute on a CPU): test_training's --compile test runs inductor itself."""
    from hf_genzoo.registry import get_family

    compile_module = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compile_module(self, backend="aot_eager", **kw))
    from hf_genzoo.training import make_config

    bare_loop = _benchmark_module("bare_loop").bare_loop
    cfg = make_config(
        "mlp_autoencoder",
        dataset="digits",
        max_steps=30,
        batch_size=64,
        mixed_precision="no",
        output_dir=str(tmp_path / "run"),
        model_config=get_family("mlp_autoencoder").tiny.model_config,
    )
    eager = bare_loop(cfg, device="cpu")
    losses = eager.losses["autoencoder"]
    assert eager.steps == 30 and len(losses) == 30 and eager.images_per_second > 0
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5  # it really trains
    compiled = bare_loop(dataclasses.replace(cfg, compile=True), device="cpu")
    torch.testing.assert_close(compiled.losses["autoencoder"], losses, rtol=1e-3, atol=1e-4)  # same seed, same maths


def test_loop_benchmarks_quick_mode_write_their_tables(tmp_path):
    _run("benchmarks/loop_throughput.py", "--quick", "--output", str(tmp_path / "l.md"))
    table = (tmp_path / "l.md").read_text()
    assert "| mlp_autoencoder, 1 thread | `train()` |" in table and "| ddpm, 1 thread | `train()` |" in table
    raw = json.loads((tmp_path / "l.json").read_text())
    for case in ("mlp_autoencoder, 1 thread", "ddpm, 1 thread"):
        assert all(v > 0 for v in raw[case]["medians"].values()) and "plain, fused AdamW" in raw[case]["medians"]
    _run(
        "benchmarks/loop_throughput.py",
        "--quick",
        "--profile",
        "--cases",
        "mlp_autoencoder",
        "--output",
        str(tmp_path / "p.md"),
    )
    parts = json.loads((tmp_path / "p.json").read_text())["mlp_autoencoder, 1 thread"]
    assert set(parts) == {"train()", "plain, fused AdamW"}
    assert (
        parts["train()"]["the loop (hf_genzoo/training)"] != 0
        and parts["plain, fused AdamW"]["accelerate's wrappers"] == 0
    )
    _run("benchmarks/bf16_autoencoder.py", "--quick", "--output", str(tmp_path / "b.md"))
    table = (tmp_path / "b.md").read_text()
    assert "| `train()`, bf16, batch 256 | 256 | 0.00141 |" in table and "| bf16 weights | 128 |" in table
    r2 = json.loads((tmp_path / "b.json").read_text())["r2"]
    assert len(r2) == 6 and all(-5 < v < 1 for v in r2.values())


def test_ddpm_benchmarks_quick_mode_write_their_tables(tmp_path):
    _run("benchmarks/ddpm_throughput.py", "--quick", "--output", str(tmp_path / "t.md"))
    table = (tmp_path / "t.md").read_text()
    assert "| diffusers example data path" in table and "| `train()`, fp32" in table and "channels_last |" in table
    medians = json.loads((tmp_path / "t.json").read_text())["medians"]
    assert all(v > 0 for v in medians.values()) and len(medians) == 6
    _run("benchmarks/ddpm_sampling.py", "--quick", "--output", str(tmp_path / "s.md"))
    table = (tmp_path / "s.md").read_text()
    assert "| ddpm | 50 |" in table and "| ddim | 2 |" in table and "| dpmsolver++ | 2 |" in table


def test_trilemma_quick_mode_writes_table_plot_and_grids(tmp_path):
    _run(
        "benchmarks/trilemma.py",
        "--quick",
        "--num_samples",
        "64",
        "--slow_samples",  # DDPM 1000's row: 1000 network calls a sample
        "16",
        "--work_dir",
        str(tmp_path / "models"),
        "--output_dir",
        str(tmp_path / "out"),
    )
    table = (tmp_path / "out" / "trilemma.md").read_text()
    rows = json.loads((tmp_path / "out" / "trilemma.json").read_text())
    names = [r["name"] for r in rows]
    assert names[0] == "real test images" and {"vae", "gan", "flow T=1.0", "DDPM 1000", "dpmsolver++ 20"} <= set(names)
    assert "conv_autoencoder: random latents" in names and "vae: midpoints of two test images" in names
    # the DDGAN family's two models, trained at T = 2 and T = 4, one row each, T network evaluations per sample
    assert {r["name"]: r["nfe"] for r in rows if r["name"].startswith("DDGAN")} == {"DDGAN T=2": 2, "DDGAN T=4": 4}
    assert (tmp_path / "models" / "digits-ddgan-T2" / "model_index.json").exists()
    assert "**DDGAN T=4 against gan**: recall x" in table
    floor = rows[0]
    assert floor["samples"] == 64 and floor["FD_local"] < min(r["FD_local"] for r in rows[1:])  # real beats tiny models
    diffusion = {r["name"]: r["nfe"] for r in rows if r["name"].startswith(("DDPM", "dpmsolver", "sde-dpmsolver"))}
    assert diffusion == {"DDPM 1000": 1000, "dpmsolver++ 20": 20, "sde-dpmsolver++ 20": 20, "sde-dpmsolver++ 10": 10}
    assert "| DDPM 1000 (16 samples) |" in table and (tmp_path / "out" / "trilemma.png").stat().st_size > 10_000
    assert all((tmp_path / "out" / r["grid"]).exists() for r in rows)


def test_text2image_benchmarks_quick_mode_write_their_tables(tmp_path):
    out = tmp_path / "out"
    _run(
        "benchmarks/text2image.py",
        "--quick",
        "--per_class",
        "2",
        "--work_dir",
        str(tmp_path / "models"),
        "--output_dir",
        str(out),
    )
    raw = json.loads((out / "text2image.json").read_text())
    assert [r["guidance"] for r in raw["dataset"]] == ["real test images", 1.0, 2.0, 4.0, 7.5]
    assert all(0 <= r["prompt_accuracy"] <= 1 and r["FD_local"] > 0 for r in raw["dataset"])
    assert raw["shapes_info"]["colour_reader_accuracy"] == 1.0  # the pixel reader reads real single objects right
    assert len(raw["shapes"]) == 4 and (out / "text2image" / "shapes_held_out_guidance_4.png").exists()
    assert "| real test images |" in (out / "text2image.md").read_text()
    _run("benchmarks/text2image_throughput.py", "--quick", "--output", str(tmp_path / "t.md"))
    medians = json.loads((tmp_path / "t.json").read_text())["medians"]
    assert medians["example"] > 0 and medians["ours_fp32"] > 0


def test_checkpoint_and_multiprocess_benchmarks_quick_mode_write_their_tables(tmp_path):
    from hf_genzoo.registry import families

    _run(
        "benchmarks/checkpoints.py", "--quick", "--families", "mlp_autoencoder,ddpm", "--output", str(tmp_path / "c.md")
    )
    rows = json.loads((tmp_path / "c.json").read_text())
    assert [r["family"] for r in rows] == ["mlp_autoencoder", "ddpm"] and all(r["writes"] == 3 for r in rows)
    assert all(0 < r["weights_mb"] < r["checkpoint_mb"] for r in rows)  # the optimizer state is in there too
    assert set(families()) >= {r["family"] for r in rows}
    # ~30 s on 2 cores; a torchrun that hangs fails in 4 minutes with every process's stacks
    _run("benchmarks/multiprocess_throughput.py", "--quick", "--output", str(tmp_path / "mp.md"), timeout=240)
    speeds = json.loads((tmp_path / "mp.json").read_text())
    assert set(speeds) == {"1", "2"} and all(v[0] > 0 for v in speeds.values())
    assert "| 2 | " in (tmp_path / "mp.md").read_text()


def test_fast_sampler_options_draws_as_the_stock_pipeline_and_writes_its_table(tmp_path):
    import importlib.util

    from diffusers import DDPMPipeline, DDPMScheduler, DPMSolverMultistepScheduler

    from hf_genzoo.models.unet import TINY_UNET, unet_for_images

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("fso", REPO / "benchmarks" / "fast_sampler_options.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    torch.manual_seed(0)
    unet = unet_for_images(1, 8, **TINY_UNET).eval()
    for options in ({"algorithm_type": "dpmsolver++", "thresholding": True}, {"algorithm_type": "sde-dpmsolver++"}):
        scheduler = DPMSolverMultistepScheduler.from_config(DDPMScheduler().config, **options)
        pipe = DDPMPipeline(unet=unet, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        stock = pipe(batch_size=3, generator=torch.Generator().manual_seed(5), num_inference_steps=4, output_type="pt")
        ours = module.draw(unet, scheduler, 3, 4, torch.Generator().manual_seed(5), batch_size=3)
        torch.testing.assert_close(ours, stock.images.float(), rtol=0, atol=1e-6)
    _run("benchmarks/fast_sampler_options.py", "--quick", "--output", str(tmp_path / "f.md"))
    table = (tmp_path / "f.md").read_text()
    assert "| DPM-Solver++(2M), as built" in table and "| UniPC (bh2) + thresholding | 4 |" in table


@pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="the speech set needs espeak-ng (apt-get install espeak-ng)"
)
def test_audio_denoising_benchmark_quick_mode_writes_table_and_figure(tmp_path):
    out = tmp_path / "audio.md"
    _run("benchmarks/audio_denoising.py", "--quick", "--output", str(out))
    table = out.read_text()
    for method in ("noisy input", "spectral subtraction", "Wiener filter", "ours, U-Net (causal): widths (8, 16)"):
        assert f"| -5..0 | 10 | {method}" in table and f"| 10..20 | 10 | {method}" in table
    raw = json.loads(out.with_suffix(".json").read_text())
    assert raw["table"]["noisy input | 0..5"]["si_sdri"] == 0.0  # the input against itself
    (rtf,) = raw["rtf"].values()  # one model, timed in fp32 and with bf16 weights
    assert rtf["fp32"]["rtf"] > 0 and rtf["bf16"]["rtf"] > 0
    assert raw["memory"]["peak_mib"] >= raw["memory"]["load_only_mib"] > 0
    ((field, ahead),) = raw["support"].values()
    assert ahead == 16 - 1 and field > ahead  # two levels of stride 4, causal: one block of lookahead
    assert out.with_suffix(".png").stat().st_size > 10_000  # the spectrogram figure


def test_pointcloud_benchmark_quick_mode_writes_table_and_picture(tmp_path):
    out = tmp_path / "pc.md"
    flags = ["--guidance_scale", "1", "2", "--mixed_precision", "bf16", "no"]
    _run("benchmarks/pointcloud_diffusion.py", "--quick", *flags, "--output", str(out))
    table = out.read_text()
    models = (
        "ours (plain, width 16, 1 blocks, 30 steps)",
        "ours (plain, shape latent 8, width 16, 1 blocks, 30 steps)",
    )
    rows = [f"{m}, {s} 50, guidance 1, bf16" for m in models for s in ("dpmsolver++", "ddim")]
    rows += [f"{m}, dpmsolver++ 50, guidance 2, bf16" for m in models]  # the other scales with the first sampler
    rows += [f"{m}, dpmsolver++ 50, guidance 1, fp32" for m in models]  # and the other precisions
    for row in ("training sets (floor)", *rows, "Gaussian blobs (ceiling)"):
        assert f"| {row} | " in table
    raw = json.loads(out.with_suffix(".json").read_text())
    scores = {r["row"]: r for r in raw["rows"]}
    assert scores["Gaussian blobs (ceiling)"]["1nna_cd"] > 0.8  # blobs are told apart from shapes
    for m in models:  # guidance 2 and fp32 reach the sampler: their samples, so their distances, differ
        one, two, fp32 = (scores[f"{m}, dpmsolver++ 50, guidance {w}"] for w in ("1, bf16", "2, bf16", "1, fp32"))
        assert one["mmd_cd"] != two["mmd_cd"] and one["mmd_cd"] != fp32["mmd_cd"]
    assert scores["training sets (floor)"]["1nna_cd"] < scores["Gaussian blobs (ceiling)"]["1nna_cd"]
    assert set(raw["seconds_per_sample"]) == set(models)
    columns = ["dpmsolver++ 50", "ddim 50", "ddpm 1000", "dpmsolver++ 50 fp32"]  # the first precision, then the others
    assert all(list(t) == columns and min(t.values()) > 0 for t in raw["seconds_per_sample"].values())
    assert "Targets, best row (ours (" in table and "every class >= 75%" in table
    copies = raw["nearest_training_cd"]  # the held-out sets' and the best row's nearest training sets
    assert 0 < copies["held-out"]["min"] <= copies["held-out"]["median"] and copies["ours"]["median"] > 0
    assert "Copies? CD (x10^3) to the nearest of the 1600 training sets" in table
    assert out.with_suffix(".png").exists()


def test_app_benchmark_quick_mode_times_every_panel_and_screenshots_every_tab(tmp_path):
    pytest.importorskip("gradio")
    from hf_genzoo.app.browser import chromium_path

    from .hub_server import pick_free_port

    if chromium_path() is None:
        pytest.skip("no chromium: apt-get install chromium")
    out = tmp_path / "app.md"
    work, port = str(tmp_path / "zoo"), str(pick_free_port())
    _run(
        "benchmarks/app.py",
        "--quick",
        "--families",
        "vae,pointcloud_diffusion",
        "--work_dir",
        work,
        "--output",
        str(out),
        "--port",
        port,
    )
    table = out.read_text()
    assert "From `genzoo app` to the first page served: **" in table
    raw = json.loads(out.with_suffix(".json").read_text())
    assert {(r["tab"], r["panel"]) for r in raw["rows"]} == {
        ("vae", "Samples"),
        ("vae", "Interpolation"),
        ("pointcloud_diffusion", "Samples"),
    }
    assert all(r["median_s"] > 0 and len(r["times_s"]) == 2 for r in raw["rows"]) and raw["first_page_s"][0] > 1
    assert {p.name for p in (tmp_path / "app").iterdir()} == {"vae.png", "pointcloud_diffusion.png"}


def test_pipeline_overhead_records_the_pipelines_network_calls_and_replays_them():
    import importlib.util

    from diffusers import DDPMPipeline, DDPMScheduler

    from hf_genzoo.models.unet import TINY_UNET, unet_for_images

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("po", REPO / "benchmarks" / "pipeline_overhead.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    torch.manual_seed(0)
    pipe = DDPMPipeline(unet=unet_for_images(1, 8, **TINY_UNET).eval(), scheduler=DDPMScheduler())
    pipe.set_progress_bar_config(disable=True)
    with module.NetworkCalls(pipe) as network:
        images = pipe(batch_size=2, num_inference_steps=3, output_type="pt").images
    assert network.counts() == {"unet": 3}  # the UNet's own blocks run inside it: not calls of their own
    assert [tuple(args[0].shape) for _, _, args, _ in network.calls] == [(2, 1, 8, 8)] * 3
    seen = []
    handle = pipe.unet.register_forward_hook(lambda m, a, out: seen.append(out.sample))
    network.replay()
    handle.remove()
    assert len(seen) == 3 and not network.handles  # the hooks are gone: the replay is the bare network
    default = module.DefaultOutput(pipe)
    with default as met:
        pil = pipe(batch_size=2, num_inference_steps=3, output_type="pt").images
    assert met == {"__call__": "pil"} and len(pil) == 2 and type(pipe) is DDPMPipeline
    assert isinstance(images, torch.Tensor) and pil[0].size == (8, 8)


def test_pipeline_overhead_quick_mode_writes_its_table(tmp_path):
    out = tmp_path / "po.md"
    _run(
        "benchmarks/pipeline_overhead.py",
        *("--quick", "--families", "vae,mlp_autoencoder", "--min_seconds", "0.2", "--output", str(out)),
    )
    table = out.read_text()
    assert "| pipeline images/s | bare networks images/s | pipeline / bare |" in table
    assert "median of at least 1, and 0.2 s of each, interleaved calls" in table
    rows = {r["family"]: r for r in json.loads(out.with_suffix(".json").read_text())}
    for r in rows.values():  # rounds go on until each kind of call took 0.2 s: a tiny model's calls take ms
        assert r["calls"] > 1 and {len(t) for t in r["times_s"].values()} == {r["calls"]}
        assert min(sum(t) for t in r["times_s"].values()) >= 0.2
        assert min(sum(t[:-1]) for t in r["times_s"].values()) < 0.2, "and no round more than that"
    assert rows["vae"]["network_calls"] == {"vae.decoder": 1}
    assert rows["mlp_autoencoder"]["network_calls"] == {"autoencoder": 1}
    for name, r in rows.items():
        assert r["pipeline_images_per_s"] > 0 and r["bare_images_per_s"] > 0 and r["default_output_images_per_s"] > 0
        assert r["ratio"] == pytest.approx(r["pipeline_images_per_s"] / r["bare_images_per_s"])
        assert r["default_output"] == ["pil"] and r["nfe"] == 1
        for memory in (r["training_memory"], r["sampling_memory"]):
            on_cpu = memory["method"] != "cuda"  # there the process's resident set, torch's libraries in it
            assert memory["peak_mib"] > (100 if on_cpu else 0) and memory["delta_mib"] >= 0
        assert f"| {name} | " in table and f"| {r['ratio']:.2f}x | " in table and f" | {r['calls']:,} |" in table


def test_pipeline_parts_builds_the_pipelines_call_from_its_network(tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("pp", REPO / "benchmarks" / "pipeline_parts.py")
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        pp = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(pp)
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    calls = pp.stages(4)
    with torch.no_grad():
        outputs = {name: call() for name, call in calls.items()}
    assert list(outputs) == ["network", "+ pixels", "+ input check", "+ device and dtype", "pipeline"]
    network = outputs.pop("network").sample
    pixels = network.clone().mul_(0.25).add_(0.5).clamp_(0, 1)  # the default Normalize(0.5, 0.25), undone
    for name, out in outputs.items():  # each stage computes what the pipeline returns
        torch.testing.assert_close(out.images if name == "pipeline" else out, pixels, rtol=0, atol=0, msg=name)
    out = tmp_path / "pp.md"  # the script's main, in this process (no second import of the package)
    monkeypatch.setattr(sys, "argv", ["pipeline_parts.py", "--batch_size", "8", "--rounds", "3", "--output", str(out)])
    pp.main()
    table = out.read_text()
    medians = json.loads(out.with_suffix(".json").read_text())
    assert list(medians) == list(calls) and all(s > 0 for s in medians.values())
    assert "| call | ms per batch | added (µs) | network / call |" in table and "| pipeline | " in table
    assert f"| network | {medians['network'] * 1e3:.3f} |  | 1.00x |" in table


def test_each_tables_markers_are_in_one_page_and_its_pictures_are_linked_from_there(monkeypatch):
    """`--update_readme` finds the one page (README.md or a docs page) with a table's markers, and its links to
    benchmarks/results/ resolve from that page, as from the raw table written into benchmarks/results/."""
    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    import report

    markers = {"trilemma": "docs/measured/trilemma.md", "audio_denoising": "docs/families/audio_denoiser.md"}
    for marker, page in markers.items():
        assert report.marked_page(marker) == REPO / page
    with pytest.raises(SystemExit, match="no page"):
        report.marked_page("no_such_table")
    table = "| ![vae](benchmarks/results/families/vae.png) |"
    for page in (REPO / "README.md", REPO / "docs/families/vae.md", REPO / "benchmarks/results/families.md"):
        link = report.for_page(table, page).split("](")[1].split(")")[0]
        assert (page.parent / link).resolve() == (REPO / "benchmarks/results/families/vae.png").resolve(), page
    assert report.for_page(table, REPO / "docs/families/vae.md") == "| ![vae](../results/families/vae.png) |"


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 300
