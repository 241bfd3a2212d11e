"""The one cache for every data kind: captioned images with token ids, audio segments, point sets; the same cache
keys, the same bad-file policy, the same loader. Each test makes its data (no network)."""

import io
import json

import numpy as np
import PIL.Image
import pytest
import torch
from datasets import Dataset, Features, Image, Sequence, Value
from scipy.signal import resample_poly

import hf_genzoo.data.tensorize as tensorize
from hf_genzoo.data import BadFileError, load_data, make_loader
from hf_genzoo.errors import UserInputError

sf = pytest.importorskip("soundfile")


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PIL.Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _no_tensorizing(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("tensorized again")

    monkeypatch.setattr(tensorize, "_write_cache", fail)


# --- captioned images


def _clip_tokenizer(folder, words):
    """A CLIP tokenizer over a tiny vocabulary, saved as a user's tokenizer folder would be."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for w in words:
        vocab.setdefault(w + "</w>", len(vocab))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=8, pad_token="<|endoftext|>")
    tokenizer.save_pretrained(folder)
    return tokenizer


def _captioned_parquet(path):
    rng = np.random.default_rng(0)
    captions = ["a red square", "a blue circle", "a red circle"]
    rows = {"image": [{"bytes": _png(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)), "path": None} for _ in captions]}
    rows["text"] = captions
    Dataset.from_dict(rows, features=Features({"image": Image(), "text": Value("string")})).to_parquet(str(path))
    return captions


def test_captioned_images_keep_captions_and_token_ids(tmp_path, monkeypatch):
    captions = _captioned_parquet(tmp_path / "shapes.parquet")
    tokenizer = _clip_tokenizer(tmp_path / "tok", ["a", "red", "blue", "square", "circle"])
    data = load_data("captioned_images", str(tmp_path / "shapes.parquet"), tokenizer=str(tmp_path / "tok"))
    assert data.images.shape == (3, 3, 6, 6) and data.captions == captions
    expected = tokenizer(captions, padding="max_length", max_length=8, truncation=True)["input_ids"]
    np.testing.assert_array_equal(data.arrays["input_ids"], expected)
    assert data.arrays["input_ids"].shape == (3, 8) and data.arrays["input_ids"][0, 0] == 0  # <|startoftext|>
    batch = next(iter(make_loader(data, 2, shuffle=False)))
    assert set(batch) == {"pixel_values", "input_ids", "caption_bytes"} and batch["input_ids"].dtype == torch.int64

    _no_tensorizing(monkeypatch)  # the same tokenizer: the cache
    again = load_data("captioned_images", str(tmp_path / "shapes.parquet"), tokenizer=str(tmp_path / "tok"))
    np.testing.assert_array_equal(again.arrays["input_ids"], data.arrays["input_ids"])
    _clip_tokenizer(tmp_path / "tok", ["a", "red", "blue", "square", "circle", "green"])  # another vocabulary
    with pytest.raises(AssertionError, match="tensorized again"):
        load_data("captioned_images", str(tmp_path / "shapes.parquet"), tokenizer=str(tmp_path / "tok"))


def test_class_names_become_captions_through_templates():
    data = load_data("captioned_images", "digits", "test", caption_templates="a handwritten {label}")
    assert len(data.captions) == 360 and "input_ids" not in data.arrays
    assert all(c == f"a handwritten {label}" for c, label in zip(data.captions, data.labels, strict=True))
    two = load_data("captioned_images", "digits", "test", caption_templates=["a {label}", "the {label}"]).captions
    assert two[:2] == [f"a {data.labels[0]}", f"the {data.labels[1]}"]  # image i takes template i mod 2
    with pytest.raises(UserInputError, match="max_length .* goes with a tokenizer"):
        load_data("captioned_images", "digits", "test", caption_templates="{label}", max_length=8)
    with pytest.raises(UserInputError, match="must each hold {label}"):
        load_data("captioned_images", "digits", "test", caption_templates="a digit")


# --- audio segments


def _audiofolder(root, bad: bool):
    """Two classes of clips: a 1.5 s stereo chirp at 22.05 kHz and a 0.4 s mono tone at 8 kHz each."""
    (root / "chirp").mkdir(parents=True)
    (root / "tone").mkdir(parents=True)
    t = np.arange(int(1.5 * 22050)) / 22050
    stereo = np.stack([np.sin(2 * np.pi * (200 + 300 * t) * t), 0.5 * np.sin(2 * np.pi * 440 * t)], 1) * 0.8
    sf.write(root / "chirp" / "a.wav", stereo, 22050)
    mono = 0.3 * np.sin(2 * np.pi * 300 * np.arange(3200) / 8000)
    sf.write(root / "tone" / "b.wav", mono, 8000)
    if bad:
        (root / "tone" / "broken.wav").write_bytes(b"RIFF not really a wave file")
    return stereo, mono


def test_audio_is_decoded_resampled_and_cut_into_segments_once(tmp_path, monkeypatch):
    stereo, mono = _audiofolder(tmp_path / "clips", bad=False)
    data = load_data("audio", f"audiofolder:{tmp_path / 'clips'}", sampling_rate=16000, segment_seconds=0.5)
    x = data.arrays["audio_values"]  # (N, 2, 8000) int16
    assert x.dtype == np.int16 and x.shape == (4, 2, 8000)  # 1.5 s -> 3 segments; 0.4 s -> one, zero-padded
    assert sorted(data.labels.tolist()) == [0, 0, 0, 1] and data.label_names == ["chirp", "tone"]
    chirp = np.concatenate(list(x[data.labels == 0].astype(np.float32) / 32767), axis=1)  # (2, 24000)
    reference = resample_poly(stereo.T, 320, 441, axis=1)[:, :24000]  # 22050 -> 16000 Hz
    np.testing.assert_allclose(chirp, reference, atol=2e-4)
    tone = x[data.labels == 1][0].astype(np.float32) / 32767
    np.testing.assert_allclose(tone[0], tone[1])  # mono copied to both sides
    np.testing.assert_allclose(tone[0, :6400], resample_poly(mono, 2, 1)[:6400], atol=2e-4)
    assert np.all(tone[:, 6400:] == 0)  # the padding

    mono_data = load_data("audio", f"audiofolder:{tmp_path / 'clips'}", channels=1, segment_seconds=0.5)
    assert mono_data.arrays["audio_values"].shape == (4, 1, 8000)
    _no_tensorizing(monkeypatch)
    again = load_data("audio", f"audiofolder:{tmp_path / 'clips'}", sampling_rate=16000, segment_seconds=0.5)
    assert isinstance(again.arrays["audio_values"], np.memmap)


def test_unreadable_audio_is_named_or_skipped_and_counted(tmp_path):
    _audiofolder(tmp_path / "clips", bad=True)
    with pytest.raises(BadFileError, match=r"1 unreadable audio file(.|\n)*broken\.wav(.|\n)*--skip_bad_files"):
        load_data("audio", f"audiofolder:{tmp_path / 'clips'}")
    data = load_data("audio", f"audiofolder:{tmp_path / 'clips'}", skip_bad_files=True)
    assert data.n_skipped == 1 and data.arrays["audio_values"].shape == (2, 2, 16000)  # 1.5 s -> 1 s; 0.4 s -> 1 s
    with pytest.raises(UserInputError, match="channels must be 1 .* or 2"):
        load_data("audio", f"audiofolder:{tmp_path / 'clips'}", channels=3)


# --- point sets


def test_point_sets_are_resampled_centred_and_scaled(tmp_path):
    rng = np.random.default_rng(0)
    sets = [rng.normal(5, 2, size=(n, 3)).astype(np.float32) for n in (50, 10, 30)]
    np.save(tmp_path / "cloud.npy", sets[2])
    rows = {"points": [s.tolist() for s in sets[:2]] + [[[0.0, float("nan"), 0.0]]], "label": [0, 1, 1]}
    path = tmp_path / "sets.parquet"
    features = Features({"points": Sequence(Sequence(Value("float32"))), "label": Value("int64")})
    Dataset.from_dict(rows, features=features).to_parquet(str(path))
    with pytest.raises(BadFileError, match=r"1 unreadable point set(.|\n)*row 2"):
        load_data("point_sets", str(path), num_points=20)
    data = load_data("point_sets", str(path), num_points=20, skip_bad_files=True)
    points = data.arrays["points"]
    assert points.shape == (2, 20, 3) and data.n_skipped == 1 and data.labels.tolist() == [0, 1]
    np.testing.assert_allclose(points.mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(points, axis=2).max(1), 1, rtol=1e-5)
    raw = load_data("point_sets", str(path), num_points=50, normalize=False, skip_bad_files=True).arrays["points"]
    assert {tuple(p) for p in raw[0]} == {tuple(p) for p in sets[0]}  # 50 of 50: every point once
    assert len({tuple(p) for p in raw[1]}) == 10  # 10 points drawn with replacement up to 50

    (tmp_path / "files.json").write_text(json.dumps([{"path": str(tmp_path / "cloud.npy")}]))
    from_files = load_data("point_sets", str(tmp_path / "files.json"), num_points=30, normalize=False)
    assert {tuple(p) for p in from_files.arrays["points"][0]} == {tuple(p) for p in sets[2]}


def test_every_kind_takes_only_its_own_options():
    with pytest.raises(UserInputError, match=r"the point_sets data kind takes no option\(s\) \['resolution'\]"):
        load_data("point_sets", "digits", resolution=8)
    with pytest.raises(UserInputError, match="unknown data kind 'video'; known: "):
        load_data("video", "digits")
