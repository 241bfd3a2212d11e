"""Point-cloud diffusion: the equivariant denoiser, the pipeline with every sampler, the family through the one loop,
`genzoo sample`'s `.ply` and 3-D views, `genzoo evaluate`'s protocol metrics. The shared pipeline checks run on it
in test_pipelines.py."""

import json

import numpy as np
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Sequence, Value
from diffusers import DDIMScheduler, DDPMScheduler

from hf_genzoo import PointCloudDenoiser, PointCloudDiffusionPipeline
from hf_genzoo.cli import main
from hf_genzoo.data.point_files import read_ply
from hf_genzoo.errors import UserInputError
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.models.pointcloud_diffusion import LOCAL_FEATURES, devoxelize, knn_geometry, voxel_geometry, voxelize
from hf_genzoo.samplers import SAMPLERS, use_sampler

from .conftest import randomize_parameters


def denoiser(num_classes=None, **kw):
    names = None if num_classes is None else [f"c{i}" for i in range(num_classes)]
    dims = dict(hidden_dim=16, num_blocks=2, embed_dim=16, local_channels=8, voxel_resolution=5, knn=4)
    model = PointCloudDenoiser(**{**dims, **kw}, num_classes=num_classes, label_names=names)
    return randomize_parameters(model, scale=0.2).eval()


def pipeline(num_classes=None, scheduler=None):
    return PointCloudDiffusionPipeline(denoiser(num_classes), scheduler or DDPMScheduler(num_train_timesteps=1000))


@pytest.mark.parametrize("local", LOCAL_FEATURES)
def test_the_denoiser_is_permutation_equivariant_for_any_number_of_points(local):
    model = denoiser(num_classes=3, local=local)
    g = torch.Generator().manual_seed(0)
    for n in (1, 7, 300):
        x = torch.randn(2, n, 3, generator=g)
        t, y = torch.tensor([5, 700]), torch.tensor([0, 2])
        perm = torch.randperm(n, generator=g)
        out = model(x, t, class_labels=y).sample  # (2, n, 3)
        assert out.shape == (2, n, 3)
        torch.testing.assert_close(model(x[:, perm], t, class_labels=y).sample, out[:, perm], rtol=1e-5, atol=1e-6)
    # ... and it is told the set, the timestep and the class: changing any one changes every point's prediction
    x = torch.randn(1, 50, 3, generator=g)
    base = model(x, 10, class_labels=torch.tensor([1])).sample
    other_set = model(torch.cat([x[:, :49], x[:, 49:] * 3], 1), 10, class_labels=torch.tensor([1])).sample
    assert (other_set[:, :49] - base[:, :49]).abs().amax() > 1e-4  # a point moved: the others' context moved
    assert (model(x, 900, class_labels=torch.tensor([1])).sample - base).abs().amax() > 1e-4
    assert (model(x, 10, class_labels=torch.tensor([2])).sample - base).abs().amax() > 1e-4
    torch.testing.assert_close(model(x, 10).sample, model(x, 10, class_labels=torch.tensor([3])).sample)  # no class


def test_voxels_average_their_points_and_are_read_back_trilinearly():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 200, 3, generator=g) * 4 - 1  # a box off the origin: the geometry centres and scales it
    geometry = voxel_geometry(x, 5)
    torch.testing.assert_close(voxel_geometry(3 * x + 7, 5).voxel, geometry.voxel)  # translation and scale
    cube = geometry.grid[:, :, 0, 0]  # (2, 200, 3)
    assert cube.abs().amax() == 1 and torch.allclose(cube.mean(1), torch.zeros(2, 3), atol=1e-6)
    f = torch.randn(2, 200, 6, generator=g)
    grid = voxelize(f, geometry.voxel, 5)  # (2, 6, z, y, x)
    cell = ((cube + 1) / 2 * 4).round().long()  # the nearest voxel centre of each point, as (x, y, z)
    for b in range(2):
        for v in geometry.voxel[b].unique()[:10]:
            members = geometry.voxel[b] == v
            x_, y_, z_ = cell[b, members][0]
            torch.testing.assert_close(grid[b, :, z_, y_, x_], f[b, members].mean(0))  # their mean
    assert (grid.abs().sum(1) > 0).sum() == sum(len(geometry.voxel[b].unique()) for b in range(2))  # empty: 0
    # read back at voxel centres: that voxel's value; halfway between two along x: their mean
    centres = torch.tensor([[[-1.0, -1.0, -1.0], [0.5, 0.0, -0.5], [0.25, 0.0, -0.5]]])  # cells (0,0,0), (3,2,1)
    read = devoxelize(grid[:1], centres[:, :, None, None])  # (1, 3, 6)
    torch.testing.assert_close(read[0, 0], grid[0, :, 0, 0, 0])
    torch.testing.assert_close(read[0, 1], grid[0, :, 1, 2, 3])
    torch.testing.assert_close(read[0, 2], (grid[0, :, 1, 2, 2] + grid[0, :, 1, 2, 3]) / 2)


def test_the_nearest_neighbours_are_sklearns():
    from sklearn.neighbors import NearestNeighbors

    x = torch.randn(2, 150, 3, generator=torch.Generator().manual_seed(0))
    geometry = knn_geometry(x, 6)
    for b in range(2):
        expected = NearestNeighbors(n_neighbors=6).fit(x[b].numpy()).kneighbors(x[b].numpy())[1]
        np.testing.assert_array_equal(geometry.neighbours[b].numpy(), expected)  # the point itself first
    assert knn_geometry(x[:, :3], 6).neighbours.shape == (2, 3, 3)  # fewer points than k: all of them


@pytest.mark.parametrize("local", ["voxel", "knn"])
def test_a_local_branch_tells_a_point_its_neighbourhood_beyond_the_pooled_context(local):
    """Move one point: a local model's answers change at its neighbours more than far from it; the plain model's
    (a function of each point and the pooled context) change about alike everywhere."""
    x = torch.randn(1, 60, 3, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)  # the same initial weights whatever ran before
    model = denoiser(local=local)
    moved = x.clone()
    moved[0, 0] += 0.3
    change = (model(moved, 10).sample - model(x, 10).sample).norm(dim=-1)[0, 1:]  # (59,)
    distance = (x[0, 1:] - x[0, 0]).norm(dim=-1)
    near, far = change[distance.argsort()[:5]].mean(), change[distance.argsort()[-20:]].mean()
    assert near > 1.5 * far, (local, near, far)  # measured: voxel 2.2x, knn 47x; the plain model 0.8x
    plain = denoiser()
    change = (plain(moved, 10).sample - plain(x, 10).sample).norm(dim=-1)[0, 1:]
    assert change[distance.argsort()[:5]].mean() < 1.5 * change[distance.argsort()[-20:]].mean()


def test_the_untrained_output_layer_is_zero_and_bad_shapes_are_clear_errors():
    model = PointCloudDenoiser(hidden_dim=8, num_blocks=1, embed_dim=8)
    assert model(torch.randn(2, 5, 3), 3).sample.abs().max() == 0  # predicts no noise before training
    with pytest.raises(UserInputError, match=r"\(B, N, 3\)"):
        model(torch.randn(2, 5, 2), 3)
    with pytest.raises(UserInputError, match="unconditional"):
        model(torch.randn(2, 5, 3), 3, class_labels=torch.tensor([0, 1]))
    with pytest.raises(UserInputError, match="embed_dim"):
        PointCloudDenoiser(embed_dim=7)


def test_the_pipeline_is_a_short_loop_over_the_schedulers_steps():
    """The pipeline's DDIM sampling equals the loop written out with diffusers' scheduler and the network."""
    pipe = pipeline(scheduler=DDIMScheduler(num_train_timesteps=1000))
    out = pipe(num_points=40, batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=6)
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, 40, 3), generator=g)
    scheduler = DDIMScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(6)
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(pipe.denoiser(x, t).sample, t, x).prev_sample
    assert isinstance(out.points, np.ndarray) and out.points.shape == (2, 40, 3)
    np.testing.assert_allclose(out.points, x.numpy(), rtol=1e-5, atol=1e-6)


def test_bf16_autocast_rounds_the_denoiser_only_and_auto_follows_the_cpu(monkeypatch):
    """mixed_precision="bf16" is the loop with the network under bf16 autocast and the scheduler's arithmetic in
    float32 (not float32's samples); "auto" is bf16 exactly where bf16 is native; anything else is a clear error."""
    import hf_genzoo.training.config as module

    pipe = pipeline(scheduler=DDIMScheduler(num_train_timesteps=1000))
    run = {"num_points": 40, "batch_size": 2, "num_inference_steps": 6, "output_type": "pt"}
    draw = {
        p: pipe(**run, generator=torch.Generator().manual_seed(0), mixed_precision=p).points for p in ("no", "bf16")
    }
    x = torch.randn((2, 40, 3), generator=torch.Generator().manual_seed(0))
    scheduler = DDIMScheduler(num_train_timesteps=1000)
    scheduler.set_timesteps(6)
    with torch.no_grad():
        for t in scheduler.timesteps:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                eps = pipe.denoiser(x, t).sample
            assert eps.dtype == torch.bfloat16  # the products ran in bf16
            x = scheduler.step(eps.float(), t, x).prev_sample
    assert draw["bf16"].dtype == torch.float32
    torch.testing.assert_close(draw["bf16"], x, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(draw["bf16"], draw["no"], atol=1e-3)
    for native, same in ((True, "bf16"), (False, "no")):
        monkeypatch.setattr(module, "bf16_is_native", lambda device=None, native=native: native)
        auto = pipe(**run, generator=torch.Generator().manual_seed(0), mixed_precision="auto").points
        torch.testing.assert_close(auto, draw[same], rtol=0, atol=0)
    with pytest.raises(UserInputError, match="mixed_precision must be one of"):
        pipe(**run, mixed_precision="fp16")


def test_a_pipeline_saved_under_the_old_module_name_still_loads(tmp_path):
    """Pipelines saved before the family's files took its one spelling name `hf_genzoo.models.point_denoiser` in
    their model_index.json; they load, to the same network."""
    pipe = pipeline()
    pipe.save_pretrained(tmp_path)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["denoiser"] == ["hf_genzoo.models.pointcloud_diffusion", "PointCloudDenoiser"]
    index["denoiser"][0] = "hf_genzoo.models.point_denoiser"
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    old = load_pipeline(str(tmp_path))
    assert type(old.denoiser) is PointCloudDenoiser
    for a, b in zip(old.denoiser.state_dict().values(), pipe.denoiser.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_every_sampler_swaps_in_and_samples_any_number_of_points(sampler):
    pipe = use_sampler(pipeline(), sampler)
    for n in (17, 2048):
        points = pipe(num_points=n, batch_size=2, generator=torch.Generator().manual_seed(0), num_inference_steps=4)
        assert points.points.shape == (2, n, 3) and np.isfinite(points.points).all()


def test_class_labels_by_name_or_id_and_classifier_free_guidance():
    pipe = pipeline(num_classes=3)
    kw = dict(num_points=30, batch_size=2, num_inference_steps=3, output_type="pt")
    by_name = pipe(class_label="c2", generator=torch.Generator().manual_seed(0), **kw).points
    by_id = pipe(class_label=[2, 2], generator=torch.Generator().manual_seed(0), **kw).points
    torch.testing.assert_close(by_name, by_id)
    other = pipe(class_label=0, generator=torch.Generator().manual_seed(0), **kw).points
    assert not torch.allclose(by_name, other)
    # guidance 1 is the conditional model alone; guidance w combines the conditional and the unconditional predictions
    guided_1 = pipe(class_label=2, guidance_scale=1.0, generator=torch.Generator().manual_seed(0), **kw).points
    torch.testing.assert_close(guided_1, by_name)
    x, t = torch.randn(2, 30, 3), torch.tensor(500)
    cond = pipe.denoiser(x, t, class_labels=torch.tensor([2, 2])).sample
    uncond = pipe.denoiser(x, t).sample
    combined = pipe.denoiser(torch.cat([x, x]), t, class_labels=torch.tensor([2, 2, 3, 3])).sample
    torch.testing.assert_close(combined, torch.cat([cond, uncond]), rtol=1e-5, atol=1e-6)  # one batch, both halves
    guided = pipe(class_label=2, guidance_scale=3.0, generator=torch.Generator().manual_seed(0), **kw).points
    assert not torch.allclose(guided, by_name)
    with pytest.raises(UserInputError, match="'mug' is not a class"):
        pipe(class_label="mug", **kw)
    with pytest.raises(UserInputError, match="out of range"):
        pipe(class_label=5, **kw)
    with pytest.raises(UserInputError, match="one per set"):
        pipe(class_label=[0, 1, 2], **kw)
    with pytest.raises(UserInputError, match="without classes"):
        pipeline()(class_label=0, **kw)
    with pytest.raises(UserInputError, match="output_type"):
        pipe(output_type="pil", num_points=3)


@pytest.fixture(scope="module")
def spheres_and_cubes(tmp_path_factory):
    """Two labelled classes of 64-point sets (a sphere's surface, a cube's corners-and-edges-free surface), parquet."""
    folder = tmp_path_factory.mktemp("pc-data")
    rng = np.random.default_rng(0)
    features = Features({"points": Sequence(Sequence(Value("float32"))), "label": ClassLabel(names=["sphere", "cube"])})
    for split, n in (("train", 96), ("test", 24)):
        labels = np.arange(n) % 2
        sphere = rng.normal(size=(n, 64, 3))
        sphere /= np.linalg.norm(sphere, axis=-1, keepdims=True)
        cube = rng.uniform(-1, 1, size=(n, 64, 3))
        face = rng.integers(0, 3, size=(n, 64))
        np.put_along_axis(cube, face[..., None], np.sign(rng.uniform(-1, 1, (n, 64, 1))), axis=-1)
        sets = np.where(labels[:, None, None] == 0, sphere, cube).astype(np.float32)
        Dataset.from_dict({"points": sets.tolist(), "label": labels.tolist()}, features=features).to_parquet(
            str(folder / f"{split}.parquet")
        )
    return str(folder)


@pytest.fixture(scope="module")
def trained(spheres_and_cubes, tmp_path_factory):
    out = tmp_path_factory.mktemp("pc-run") / "model"
    main(
        f"train pointcloud_diffusion --dataset {spheres_and_cubes} --num_points 64 --output_dir {out} "
        "--max_steps 400 --batch_size 32 --report_to none --checkpointing_steps 0 --mixed_precision no "
        "--eval_every_epochs 50 "
        "--model_config hidden_dim=64,num_blocks=2,embed_dim=32,shape_latent_dim=None "
        "--ema_max_decay 0.99 --learning_rate 2e-3".split()
    )
    return out


def test_the_one_loop_trains_it_and_its_samples_take_the_datas_place(trained):
    pipe = load_pipeline(str(trained))
    assert type(pipe) is PointCloudDiffusionPipeline and pipe.denoiser.config.label_names == ["sphere", "cube"]
    metrics = json.loads((trained / "metrics.json").read_text())["metrics"]
    assert metrics["loss"] < 0.5  # from 1 at the start (the zero output layer predicts no noise)
    assert pipe.scheduler.config.thresholding and pipe.scheduler.config.sample_max_value == 1.0  # x0 clipped
    noise = torch.randn(4, 256, 3, generator=torch.Generator().manual_seed(0))
    for sampler in ("dpmsolver++", "ddim"):
        use_sampler(pipe, sampler)
        # sampled at 4x the training size; noise reaches radius ~3.5, the training sets lie in the unit ball
        x = pipe(num_points=256, batch_size=4, class_label="sphere", latents=noise, output_type="pt").points
        radius = (x - x.mean(1, keepdim=True)).norm(dim=-1)  # (4, 256)
        assert x.mean(1).abs().max() < 0.3 and 0.6 < radius.amax(1).min() and radius.amax(1).max() < 2.0, sampler
        assert radius.amax(1).max() < noise.norm(dim=-1).amax(1).min() / 2
    # without the clip, DPM-Solver++ throws points far out (x0 = (x_t - sigma eps) / alpha with alpha 0.006 at first)
    use_sampler(pipe, "dpmsolver++", thresholding=False)
    x = pipe(num_points=256, batch_size=4, class_label="sphere", latents=noise, output_type="pt").points
    assert (x - x.mean(1, keepdim=True)).norm(dim=-1).amax() > 5
    assert "PointCloudDenoiser" in (trained / "README.md").read_text()


def test_genzoo_sample_writes_ply_files_and_3d_views(trained, tmp_path, capsys):
    out = tmp_path / "s" / "samples.png"
    main(f"sample --model {trained} --num_images 3 --num_points 100 --steps 5 --output {out}".split())
    text = capsys.readouterr().out
    assert "3 samples (steps 5, num_points 100, 5 network evaluations)" in text
    plys = sorted(out.parent.glob("samples_*.ply"))
    assert [p.name for p in plys] == ["samples_0000.ply", "samples_0001.ply", "samples_0002.ply"]
    points = read_ply(plys[0])
    assert points.shape == (100, 3) and np.isfinite(points).all() and points.std() > 0.05
    for png in (out, out.parent / "samples_views.png"):
        from PIL import Image

        picture = np.asarray(Image.open(png).convert("L"))
        assert picture.std() > 5  # not a blank picture
    main(f"sample --model {trained} --num_images 2 --num_points 50 --class_label cube --guidance_scale 2 "
         f"--steps 4 --output {tmp_path / 'c.png'}".split())  # fmt: skip
    assert "8 network evaluations" in capsys.readouterr().out  # guided: two predictions a step
    with pytest.raises(SystemExit, match="'mug' is not a class"):
        main(f"sample --model {trained} --num_images 1 --class_label mug --output {tmp_path / 'x.png'}".split())


def test_evaluate_keeps_the_first_sets_of_each_class_alike():
    from hf_genzoo.training.pointcloud_diffusion import first_of_each_class

    labels = torch.tensor([0, 0, 1, 0, 1, 1, 2, 2])
    assert first_of_each_class(labels, 3).tolist() == [0, 2, 6]
    assert first_of_each_class(labels, 6).tolist() == [0, 1, 2, 4, 6, 7]
    assert first_of_each_class(labels, 100).tolist() == list(range(8))  # fewer than asked: all of them


def test_genzoo_evaluate_scores_samples_with_the_papers_protocol(trained, spheres_and_cubes, tmp_path, capsys):
    from hf_genzoo.data.tensorize import cache_root
    from hf_genzoo.training.config import bf16_is_native

    kept = cache_root() / "point_metrics"
    before = set(kept.glob("references-*.npz"))
    main(f"evaluate --model {trained} --dataset {spheres_and_cubes} --output {tmp_path / 'm.json'}".split())
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["sets"] == 24 and metrics["num_points"] == 2048
    assert metrics["mixed_precision"] == ("bf16" if bf16_is_native() else "no")  # sampled as SAMPLE_PRECISION says
    assert {"mmd_cd", "cov_cd", "1nna_cd", "mmd_emd", "cov_emd", "1nna_emd"} <= set(metrics)
    assert 0 < metrics["cov_cd"] <= 1 and 0 <= metrics["1nna_cd"] <= 1 and metrics["mmd_cd"] > 0
    (matrices,) = set(kept.glob("references-*.npz")) - before  # the held-out sets' own matrices, kept
    written = matrices.stat()
    main(f"evaluate --model {trained} --dataset {spheres_and_cubes} --output {tmp_path / 'again.json'}".split())
    assert json.loads((tmp_path / "again.json").read_text()) == metrics
    now = matrices.stat()  # read back, not computed again: a computed matrix would replace the file
    assert (now.st_ino, now.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_genzoo_push_and_from_pretrained_by_repo_id(hub, hub_server, trained, capsys):
    from huggingface_hub import hf_hub_download

    main(["push", str(trained), "tester/pointcloud"])
    assert "tester/pointcloud" in capsys.readouterr().out
    card = open(hf_hub_download("tester/pointcloud", "README.md")).read()
    assert "point-cloud" in card and 'PointCloudDiffusionPipeline.from_pretrained("tester/pointcloud")' in card
    local, remote = load_pipeline(str(trained)), PointCloudDiffusionPipeline.from_pretrained("tester/pointcloud")
    kw = dict(num_points=100, batch_size=2, class_label="cube", num_inference_steps=5)
    a = local(generator=torch.Generator().manual_seed(0), **kw).points
    b = remote(generator=torch.Generator().manual_seed(0), **kw).points
    np.testing.assert_array_equal(a, b)


# --- the shape latent (Luo & Hu 2021; LION's two stages): an encoder, a decoder told the latent, a prior over latents


def prior(latent_dim, num_classes=None):
    from hf_genzoo.models.pointcloud_diffusion import ShapeLatentPrior

    model = ShapeLatentPrior(latent_dim, hidden_dim=16, num_blocks=2, embed_dim=16, num_classes=num_classes)
    return randomize_parameters(model, scale=0.2).eval()


def test_the_shape_encoder_reads_a_set_in_any_order_and_the_decoder_is_told_its_latent():
    model = denoiser(num_classes=3, shape_latent_dim=6)
    g = torch.Generator().manual_seed(0)
    for n in (1, 7, 300):
        x = torch.randn(2, n, 3, generator=g)
        perm = torch.randperm(n, generator=g)
        z = model.encode(x)
        assert z.shape == (2, 6)
        torch.testing.assert_close(model.encode(x[:, perm]), z)  # a set's latent, not a sequence's
        torch.testing.assert_close(z.mean(1), torch.zeros(2), atol=1e-5, rtol=0)  # LayerNorm: a fixed scale
        torch.testing.assert_close(z.var(1, correction=0), torch.ones(2), atol=1e-3, rtol=0)
        t, y = torch.tensor([5, 700]), torch.tensor([0, 2])
        out = model(x, t, class_labels=y, shape_latents=z).sample
        torch.testing.assert_close(model(x[:, perm], t, class_labels=y, shape_latents=z).sample, out[:, perm])
        torch.testing.assert_close(model(x, t, class_labels=y, shape_points=x).sample, out)  # eval: no noise
    x = torch.randn(1, 50, 3, generator=g)
    z = model.encode(x)
    base = model(x, 10, shape_latents=z).sample
    assert (model(x, 10, shape_latents=z.flip(1)).sample - base).abs().amax() > 1e-4  # another shape, other noise
    model.train()  # training adds N(0, latent_noise^2) to the encoded latent
    noisy = [model(x, 10, shape_points=x).sample for _ in range(2)]
    assert (noisy[0] - noisy[1]).abs().amax() > 1e-5 and (noisy[0] - base).abs().amax() > 1e-5
    model.register_to_config(latent_noise=0.0)
    torch.testing.assert_close(model(x, 10, shape_points=x).sample, base)
    model.eval()
    with pytest.raises(UserInputError, match="shape_latents .* or shape_points"):
        model(x, 10)
    with pytest.raises(UserInputError, match="one of the two"):
        model(x, 10, shape_latents=z, shape_points=x)
    with pytest.raises(UserInputError, match=r"must be \(1, 6\)"):
        model(x, 10, shape_latents=torch.zeros(1, 5))
    with pytest.raises(UserInputError, match="no shape latent"):
        denoiser()(x, 10, shape_latents=z)
    with pytest.raises(UserInputError, match="shape_latent_dim"):
        PointCloudDenoiser(shape_latent_dim=0)


def test_a_latent_pipeline_draws_x_T_then_its_latents_from_the_prior_then_decodes(tmp_path):
    """The pipeline equals the two loops written out: DDPM over the prior's latents, then DDIM over the points told
    them; given latents skip the prior; it saves and loads with its prior."""
    from hf_genzoo.pipelines.pointcloud_diffusion import guided_prediction

    model, latent_prior = denoiser(num_classes=2, shape_latent_dim=4), prior(4, num_classes=2)
    prior_scheduler = DDPMScheduler(num_train_timesteps=1000, clip_sample=False)
    pipe = PointCloudDiffusionPipeline(model, DDIMScheduler(num_train_timesteps=1000), latent_prior, prior_scheduler)
    kw = dict(num_points=20, batch_size=2, class_label=1, num_inference_steps=4, output_type="pt")
    out = pipe(generator=torch.Generator().manual_seed(0), prior_inference_steps=10, **kw).points
    g = torch.Generator().manual_seed(0)
    x, z = torch.randn((2, 20, 3), generator=g), torch.randn((2, 4), generator=g)
    labels = torch.tensor([1, 1])
    ddpm, ddim = (
        DDPMScheduler.from_config(prior_scheduler.config),
        DDIMScheduler(num_train_timesteps=1000),
    )
    ddpm.set_timesteps(10)
    ddim.set_timesteps(4)
    with torch.no_grad():
        for t in ddpm.timesteps:
            z = ddpm.step(latent_prior(z, t, labels).sample, t, z, generator=g).prev_sample
        x0 = x.clone()
        for t in ddim.timesteps:
            x = ddim.step(model(x, t, class_labels=labels, shape_latents=z).sample, t, x).prev_sample
    torch.testing.assert_close(out, x, rtol=1e-5, atol=1e-6)
    given = pipe(latents=x0, shape_latents=z, **kw).points  # decodes those latents, the prior unused
    torch.testing.assert_close(given, x, rtol=1e-5, atol=1e-6)
    # guidance: the prior's conditional and unconditional predictions in one batch, combined as for the points
    zt, t = torch.randn(2, 4), torch.tensor(300)
    cond = latent_prior(zt, t, labels).sample
    uncond = latent_prior(zt, t).sample
    guided = guided_prediction(latent_prior, zt, t, torch.tensor([1, 1, 2, 2]), True, 3.0)
    torch.testing.assert_close(guided, uncond + 3.0 * (cond - uncond), rtol=1e-5, atol=1e-6)
    assert (
        pipe(generator=torch.Generator().manual_seed(0), prior_inference_steps=10, guidance_scale=3.0, **kw)
        .points.isfinite()
        .all()
    )
    # saved and loaded with its prior: the same draw
    pipe.save_pretrained(tmp_path / "latent")
    loaded = PointCloudDiffusionPipeline.from_pretrained(tmp_path / "latent")
    assert type(loaded.prior).__name__ == "ShapeLatentPrior" and not loaded.prior_scheduler.config.clip_sample
    again = loaded(generator=torch.Generator().manual_seed(0), prior_inference_steps=10, **kw).points
    torch.testing.assert_close(again, out)
    with pytest.raises(UserInputError, match="no prior"):
        PointCloudDiffusionPipeline(model, DDIMScheduler())(**kw)
    with pytest.raises(UserInputError, match=r"shape_latents must be \(batch_size, 4\)"):
        pipe(shape_latents=torch.zeros(3, 4), **kw)
    with pytest.raises(UserInputError, match="both prior and prior_scheduler"):
        PointCloudDiffusionPipeline(model, DDIMScheduler(), latent_prior)
    with pytest.raises(UserInputError, match="no shape latent"):
        pipeline()(num_points=5, shape_latents=torch.zeros(1, 4))
    # a folder saved before pipelines had a prior (no such keys in model_index.json) loads without one
    pipeline().save_pretrained(tmp_path / "plain")
    index = json.loads((tmp_path / "plain" / "model_index.json").read_text())
    index.pop("prior"), index.pop("prior_scheduler")
    (tmp_path / "plain" / "model_index.json").write_text(json.dumps(index))
    assert PointCloudDiffusionPipeline.from_pretrained(tmp_path / "plain").prior is None


def test_fit_prior_learns_the_latents_of_each_class():
    """fit_prior on latents the encoder is made to return (two classes, two clusters): the prior's samples of each
    class land on its cluster."""
    from hf_genzoo.training.pointcloud_diffusion import fit_prior

    model = denoiser(num_classes=2, shape_latent_dim=2)
    model.encode = lambda points: points[:, 0, :2]  # the latent of a set: its first point's x and y
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 2
    centres = np.array([[1.5, 0.5], [-1.0, -1.0]])
    points = rng.normal(size=(400, 4, 3)) * 0.1
    points[:, 0, :2] += centres[labels]
    fitted, prior_scheduler = fit_prior(model, points.astype(np.float32), labels, steps=400, progress=False)
    assert not fitted.training and prior_scheduler.config.num_train_timesteps == 1000
    pipe = PointCloudDiffusionPipeline(model, DDIMScheduler(), fitted, prior_scheduler)
    g = torch.Generator().manual_seed(0)
    for c in (0, 1):
        z = pipe.sample_shape_latents(200, torch.full((200,), c), False, 1.0, g, steps=100)
        assert (z.mean(0) - torch.tensor(centres[c], dtype=torch.float32)).norm() < 0.25, (c, z.mean(0))
        assert z.std(0).max() < 0.5


def test_the_one_loop_trains_a_shape_latent_model_and_saves_its_prior(spheres_and_cubes, tmp_path, capsys):
    out = tmp_path / "latent"
    main(
        f"train pointcloud_diffusion --dataset {spheres_and_cubes} --num_points 64 --output_dir {out} "
        "--max_steps 30 --prior_steps 40 --batch_size 32 --report_to none --checkpointing_steps 0 "
        "--mixed_precision no --model_config hidden_dim=16,num_blocks=1,embed_dim=16,shape_latent_dim=8".split()
    )
    pipe = load_pipeline(str(out))
    assert pipe.denoiser.config.shape_latent_dim == 8 and pipe.prior.config.latent_dim == 8
    assert pipe.prior.config.num_classes == 2  # the prior is told the classes, as the decoder
    assert pipe.prior.output.weight.abs().amax() > 0  # fitted: the zero output layer moved
    assert "shape latent" in (out / "README.md").read_text()
    points = pipe(
        num_points=32, batch_size=2, class_label="cube", num_inference_steps=3, prior_inference_steps=5
    ).points
    assert points.shape == (2, 32, 3) and np.isfinite(points).all()
    main(f"sample --model {out} --num_images 1 --num_points 16 --steps 3 --output {tmp_path / 's.png'}".split())
    assert "1003 network evaluations" in capsys.readouterr().out  # the prior's 1,000 DDPM steps, then the points' 3
    with pytest.raises(SystemExit, match="prior_steps must be 1 or more"):
        main(f"train pointcloud_diffusion --output_dir {tmp_path / 'x'} --prior_steps 0".split())
