"""The streamed data path: shares across real processes, the same batches as the cache, the head, bad files, and
the seeded shuffle."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import PIL.Image
import pytest
import torch
from datasets import ClassLabel, Dataset, Features, Image, Value

from hf_genzoo.data import BadFileError, StreamData, load_data, make_loader, make_stream_loader, stream_data

N = 100
# datasets waits 5 s whenever a shuffled parquet stream ends (apache/arrow#45214: its reader threads at exit); a
# training epoch can afford it, these tests stream dozens of epochs of 100 rows


@pytest.fixture(autouse=True)
def no_wait_at_stream_end(monkeypatch):
    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _rows(n: int = N, bad: int | None = None) -> Dataset:
    """`n` RGB images 10 wide, 12 high (centre-cropped by both paths), an `id` and a 5-class `label`; row `bad`
    holds bytes that are no image (and no file name)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 12, 10, 3), dtype=np.uint8)
    records = [{"bytes": b"not a png" if i == bad else _png(a), "path": None} for i, a in enumerate(images)]
    features = Features({"image": Image(), "id": Value("int64"), "label": ClassLabel(names=list("abcde"))})
    return Dataset.from_dict({"image": records, "id": list(range(n)), "label": [i % 5 for i in range(n)]}, features)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The split as ONE parquet file (shared by examples) and as 4 (shared by shards), and one with a bad row."""
    root = tmp_path_factory.mktemp("stream")
    ds = _rows()
    ds.to_parquet(str(root / "one.parquet"))
    (root / "four").mkdir()
    for k in range(4):
        ds.shard(4, k, contiguous=True).to_parquet(str(root / "four" / f"train-{k}.parquet"))
    _rows(bad=50).to_parquet(str(root / "bad.parquet"))
    return {
        "one": str(root / "one.parquet"),
        "four": str(root / "four" / "train-*.parquet"),
        "bad": str(root / "bad.parquet"),
    }


SHARE = """
import json, os, sys
import datasets
from tests.test_streaming import share_ids
datasets.config.SLEEP_TIME_ON_THREADS_SHUTDOWN = 0  # as no_wait_at_stream_end
print("SHARE" + json.dumps(share_ids(sys.argv[1:], int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))))
"""


def share_ids(names: list[str], rank: int, world_size: int) -> dict:
    """The ids that process `rank` of `world_size` sees in one epoch of each of `names`, in whole batches of 10."""
    seen = {}
    for name in names:
        data = stream_data("images", name, rank=rank, world_size=world_size, label_column="id", shuffle_buffer=16)
        ids = [i for batch in data.batches(10, epoch=0) for i in batch["labels"].tolist()]
        seen[name] = {"ids": ids, "by_shards": data.by_shards}
    return seen


def test_two_processes_see_disjoint_shares_that_make_the_whole_split(files):
    """Rank 1 in a process of its own, rank 0 in this one, at the same time."""
    names = [files["one"], files["four"]]
    other = subprocess.Popen(
        [sys.executable, "-c", SHARE, *names],
        env={**os.environ, "RANK": "1", "WORLD_SIZE": "2"},
        cwd=Path(__file__).parents[1],  # where `tests` imports from
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shares = [share_ids(names, 0, 2)]
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, err[-2000:]
    shares.append(json.loads(out[out.rindex("SHARE") + 5 :]))
    for name, by_shards in ((files["one"], False), (files["four"], True)):  # 1 file: every 2nd example; 4: 2 files each
        a, b = (s[name]["ids"] for s in shares)
        assert all(s[name]["by_shards"] == by_shards for s in shares)
        assert len(a) == len(b) == N // 2  # 50 each, in 5 whole batches of 10
        assert not set(a) & set(b) and sorted(a + b) == list(range(N))


def test_batches_match_the_cached_path(files):
    batch_size = 16
    cached = load_data("images", files["one"])
    stream = stream_data("images", files["one"], shuffle_buffer=0)  # the stored order, as make_loader's unshuffled
    expected = list(make_loader(cached, batch_size, shuffle=False))
    got = list(stream.batches(batch_size))
    assert len(got) == N // batch_size  # the partial last batch is dropped
    for g, e in zip(got, expected, strict=False):
        assert g.keys() == e.keys()
        for key in e:
            assert g[key].dtype == e[key].dtype and g[key].shape == e[key].shape
            torch.testing.assert_close(g[key], e[key], rtol=0, atol=0)
    assert got[0]["pixel_values"].shape == (batch_size, 3, 10, 10)  # (B, C, H, W), centre-cropped
    loader = make_stream_loader(stream, batch_size)
    loader.set_epoch(3)
    torch.testing.assert_close(next(iter(loader))["pixel_values"], got[0]["pixel_values"])  # no shuffle: any epoch


def test_head_realizes_the_options_and_serves_the_objectives(files):
    data = stream_data("images", files["one"], head=30)
    assert isinstance(data, StreamData) and data
    assert data.images.shape == (30, 3, 10, 10) and data.labels.dtype == np.int64
    assert (data.resolution, data.channels) == (10, 3) and data.options["resolution"] == 10
    assert data.label_names == list("abcde")
    with pytest.raises(TypeError, match="no length known ahead"):
        len(data)

    small = stream_data("images", files["one"], head=30, resolution=4, channels=1)
    cached = load_data("images", files["one"], resolution=4, channels=1)
    assert small.images.shape == (30, 1, 4, 4) and small.options["channels"] == 1
    np.testing.assert_array_equal(small.images, cached.images[:30])
    mean, std = small.channel_stats()
    x = small.images.astype(np.float64) / 255
    np.testing.assert_allclose(mean, [x.mean()])
    np.testing.assert_allclose(std, [x.std(ddof=1)])

    digits = stream_data("images", "digits", "test", head=50)  # a built-in streams from memory
    np.testing.assert_array_equal(digits.images, load_data("images", "digits", "test").images[:50])


def test_a_bad_row_is_named_or_skipped_and_counted(files):
    with pytest.raises(BadFileError, match=r"1 unreadable image file(.|\n)*'id': 50(.|\n)*--skip_bad_files"):
        stream_data("images", files["bad"])  # in the head: found when opened
    late = stream_data("images", files["bad"], head=10, shuffle_buffer=0)  # past the head: found when streamed
    with pytest.raises(BadFileError, match=r"'id': 50"):
        list(late.examples())

    skipping = stream_data("images", files["bad"], head=10, skip_bad_files=True, label_column="id")
    assert skipping.n_skipped == 0
    for epoch in (0, 1):  # counted once, however often it comes by
        ids = [int(e["labels"]) for e in skipping.examples(epoch)]
        assert sorted(ids) == [i for i in range(N) if i != 50] and skipping.n_skipped == 1
    whole_head = stream_data("images", files["bad"], skip_bad_files=True)
    assert len(whole_head.images) == N - 1 and whole_head.n_skipped == 1


def test_the_shuffle_depends_on_seed_and_epoch(files):
    def order(epoch, seed=0):
        data = stream_data("images", files["four"], seed=seed, shuffle_buffer=20, label_column="id")
        return [int(e["labels"]) for e in data.examples(epoch)]

    first = order(0)
    assert sorted(first) == list(range(N)) and first != list(range(N))
    assert order(0) == first  # the same epoch, the same order
    assert order(1) != first and sorted(order(1)) == list(range(N))
    assert order(0, seed=1) != first


def test_kinds_that_do_not_stream_say_so():
    with pytest.raises(ValueError, match=r"the point_sets data kind does not stream \(only images do\)"):
        stream_data("point_sets", "shapes3d")
    with pytest.raises(ValueError, match=r"read whole: give a split name, not the slice 'train\[:90%\]'"):
        stream_data("images", "digits", "train[:90%]")


# --- the training loop on a stream

TINY_AE = "hidden_dim=32,latent_dim=4"


def _weights(run) -> dict:
    from safetensors.torch import load_file

    return load_file(str(Path(run) / "autoencoder" / "diffusion_pytorch_model.safetensors"))


def test_train_streams_a_parquet_split_and_learns(files, tiny_train_kwargs):
    from hf_genzoo.training import make_config, train

    kwargs = dict(tiny_train_kwargs, dataset=files["one"], eval_split="train", model_config=TINY_AE, batch_size=10)
    result = train(make_config("mlp_autoencoder", **kwargs, streaming=True, max_steps=40, learning_rate=3e-3))
    assert result.steps == 40 and [h["step"] for h in result.history] == [40]  # a stream evaluates at the end
    summary = json.loads((result.output_dir / "metrics.json").read_text())
    assert summary["resolution"] == 10 and summary["channels"] == 3  # realized from the stream's first image
    first = train(make_config("mlp_autoencoder", **{**kwargs, "output_dir": kwargs["output_dir"] + "0"}, max_steps=1))
    assert result.metrics["loss"] < first.metrics["loss"]  # it learned from what it streamed


def test_a_resumed_stream_continues_where_it_stopped(tiny_train_kwargs):
    """20 steps, a checkpoint, 20 more after a resume: the same weights as 40 straight (the stream replays its
    epoch's order up to the checkpoint; digits' 1,437 images at batch 32 make 44 batches, so step 40 is mid-epoch)."""
    from hf_genzoo.training import make_config, train

    kwargs = dict(tiny_train_kwargs, model_config=TINY_AE, streaming=True, checkpointing_steps=20)
    straight = dict(kwargs, output_dir=kwargs["output_dir"] + "_straight")
    train(make_config("mlp_autoencoder", **straight, max_steps=40))
    train(make_config("mlp_autoencoder", **kwargs, max_steps=20))
    train(make_config("mlp_autoencoder", **kwargs, max_steps=40, resume_from_checkpoint="latest"))
    a, b = _weights(straight["output_dir"]), _weights(kwargs["output_dir"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_streaming_needs_max_steps(tiny_train_kwargs):
    from hf_genzoo.errors import UserInputError
    from hf_genzoo.training import make_config, train

    with pytest.raises(UserInputError, match="--streaming needs --max_steps"):
        train(make_config("mlp_autoencoder", **tiny_train_kwargs, streaming=True))
