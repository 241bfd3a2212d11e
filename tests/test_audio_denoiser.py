"""The audio denoising autoencoder: exact lengths, the pipeline's layouts, rates and chunks, training on the embedded
speech, bad inputs, `genzoo denoise`, the Hub."""

import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from hf_genzoo import cli
from hf_genzoo.data import BadFileError, load_data
from hf_genzoo.errors import MissingPackage, UserInputError
from hf_genzoo.hub.loading import load_pipeline
from hf_genzoo.metrics import snr
from hf_genzoo.models import AudioDenoisingAE
from hf_genzoo.pipelines import AudioDenoisingPipeline
from hf_genzoo.training import make_config, train
from hf_genzoo.viz import spectrogram_images

from .conftest import randomize_parameters

sf = pytest.importorskip("soundfile")
SMALL = {"block_out_channels": (8, 16, 32)}  # the default depth and kernel, narrow


def small_pipe(channels: int = 2, rate: int = 16_000, seed: int = 0) -> AudioDenoisingPipeline:
    torch.manual_seed(seed)
    model = randomize_parameters(AudioDenoisingAE(audio_channels=channels, sampling_rate=rate, **SMALL), 0.05, seed)
    return AudioDenoisingPipeline(denoiser=model.eval())


def speech_like(seconds: float, rate: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """`(channels, T)`: a few harmonics under a syllable-rate envelope, plus a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    voice = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / k for k, f in enumerate((180, 360, 540, 900), 1))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    x = 0.3 * voice * envelope + 0.01 * rng.standard_normal((channels, len(t)))
    return x.astype(np.float32)


# --- the model


@pytest.mark.parametrize("length", [1, 2, 7, 8, 9, 1001, 16_001])
def test_output_length_equals_input_length_for_any_length(length):
    for channels, kernel in ((2, 3), (1, 5)):
        model = AudioDenoisingAE(audio_channels=channels, block_out_channels=(4, 8, 8), kernel_size=kernel)
        out = model(torch.randn(2, channels, length))
        assert out.sample.shape == (2, channels, length)
        assert out.latents.shape == (2, 8, -(-length // 8))


def test_the_default_architecture_is_the_classic_one_and_its_flops_are_counted():
    model = AudioDenoisingAE()
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    shapes = [(type(m).__name__, m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs]
    assert shapes == [
        ("Conv1d", 2, 256, 3, 2),
        ("Conv1d", 256, 512, 3, 2),
        ("Conv1d", 512, 1024, 3, 2),
        ("ConvTranspose1d", 1024, 512, 3, 2),
        ("ConvTranspose1d", 512, 256, 3, 2),
        ("ConvTranspose1d", 256, 2, 3, 2),
    ]
    assert sum(isinstance(m, torch.nn.Mish) for m in model.modules()) == 5  # none on the output
    assert model.config.sampling_rate == 16_000
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 2, 16_000))
    assert model.flops(16_000) == counter.get_total_flops()
    assert 18.5e9 < model.flops(16_000) < 19.5e9  # the "about 19 GFLOP per second of 16 kHz stereo"


def test_a_residual_model_adds_its_input():
    model = randomize_parameters(AudioDenoisingAE(block_out_channels=(4, 8), residual=True), 0.1)
    x = torch.randn(2, 2, 101)
    plain = AudioDenoisingAE.from_config({**model.config, "residual": False})
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(model(x).sample, x + plain(x).sample)


def test_the_si_sdr_loss_is_minus_the_metric_and_has_its_autograd_gradient():
    from hf_genzoo.metrics import si_sdr
    from hf_genzoo.training.audio_denoiser import waveform_loss

    clean = torch.from_numpy(speech_like(0.1, 16_000, seed=3)[None]).double()  # (1, 2, 1600)
    estimate = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0), dtype=clean.dtype)
    estimate.requires_grad_(True)
    loss = waveform_loss("si_sdr", estimate, clean)
    assert loss.item() == pytest.approx(-si_sdr(estimate.detach(), clean).mean().item())
    short = estimate[..., :64].detach().requires_grad_()
    torch.autograd.gradcheck(lambda e: waveform_loss("si_sdr", e, clean[..., :64]), (short,))
    loss.backward()
    assert estimate.grad.abs().sum() > 0


def test_bad_model_options_and_inputs_are_clear_errors():
    with pytest.raises(UserInputError, match="kernel_size must be odd"):
        AudioDenoisingAE(kernel_size=4)
    with pytest.raises(UserInputError, match="audio_channels must be 1"):
        AudioDenoisingAE(audio_channels=3)
    with pytest.raises(UserInputError, match=r"takes waveforms of shape \(B, 2, T\)"):
        AudioDenoisingAE(block_out_channels=(4,))(torch.randn(1, 1, 100))


# --- the pipeline


def test_chunked_denoising_equals_whole_file_denoising_away_from_chunk_edges():
    pipe, rate = small_pipe(), 16_000
    x = speech_like(3.0, rate)
    whole = pipe(x, chunk_seconds=10).audio  # one chunk
    chunked = pipe(x, chunk_seconds=0.5, overlap_seconds=0.0625, batch_size=3).audio
    assert chunked.shape == whole.shape == x.shape
    chunk, overlap = 8000, 1000  # samples
    inside = np.ones(x.shape[1], bool)
    for start in range(chunk - overlap, x.shape[1], chunk - overlap):  # where two chunks are cross-faded
        inside[start - 64 : start + overlap + 64] = False
    np.testing.assert_allclose(chunked[:, inside], whole[:, inside], atol=1e-5)
    edges = np.abs(chunked[:, ~inside] - whole[:, ~inside])
    assert 0 < edges.max() < 0.01 * np.abs(whole).max()  # the chunks differ there, a little


def test_layout_rate_and_type_are_preserved():
    pipe = small_pipe()
    stereo = speech_like(0.7, 44_100)  # (2, T) at another rate than the model's
    out = pipe(stereo, sampling_rate=44_100)
    assert out.sampling_rate == 44_100 and out.audio.shape == stereo.shape and out.audio.dtype == np.float32
    np.testing.assert_allclose(pipe(stereo.T, sampling_rate=44_100).audio, out.audio.T, atol=1e-6)  # (T, 2)
    mono = stereo[0]
    assert pipe(mono, sampling_rate=44_100).audio.shape == mono.shape  # mono in, mono out
    tensor = pipe(torch.from_numpy(stereo[None]), sampling_rate=44_100).audio  # a batch (B, C, T)
    assert isinstance(tensor, torch.Tensor) and tensor.shape == (1, *stereo.shape)
    assert pipe(stereo[:, :5]).audio.shape == (2, 5)  # shorter than one block of the model
    # at the model's own rate, a (B, C, T) batch is the model's output, clipped
    batch = torch.from_numpy(speech_like(0.25, 16_000)[None])
    expected = pipe.denoiser(batch).sample.clamp(-1, 1)
    torch.testing.assert_close(pipe(batch).audio, expected, atol=1e-6, rtol=0)


def test_other_rates_go_to_the_model_and_back_unchanged_by_an_identity_model():
    model = AudioDenoisingAE(block_out_channels=(4, 8, 8), residual=True)
    with torch.no_grad():
        for p in model.decoder[-1].parameters():
            p.zero_()  # the decoder adds nothing: the model is the identity
    pipe = AudioDenoisingPipeline(denoiser=model.eval())
    for rate, floor in ((44_100, 20), (22_050, 20), (8_000, 35)):
        x = speech_like(0.5, rate)
        out = pipe(x, sampling_rate=rate)
        assert out.sampling_rate == rate and out.audio.shape == x.shape
        # through the model's 8 kHz band and back: only the white noise above 8 kHz is lost (measured: 26, 29 and
        # 42 dB); a wrong resampling ratio would leave nothing of the signal in place
        assert snr(out.audio, x).min() > floor
    pcm = (speech_like(0.3, 16_000) * 32767).astype(np.int16)  # PCM samples, as scipy.io.wavfile reads them
    np.testing.assert_allclose(pipe(pcm).audio, pipe(pcm / 32767).audio, atol=1e-6)
    double = pipe(torch.from_numpy(speech_like(0.3, 16_000)).double()).audio
    assert double.dtype == torch.float64  # a tensor comes back in its own dtype (and on its device)
    for bad in (0, -16_000, 44_100.5):
        with pytest.raises(UserInputError, match="sampling_rate must be a positive whole number"):
            pipe(x, sampling_rate=bad)


def test_a_mono_model_denoises_each_side_of_a_stereo_clip():
    pipe = small_pipe(channels=1)
    stereo = speech_like(0.5, 16_000)
    out = pipe(stereo).audio
    np.testing.assert_allclose(out[1], pipe(stereo[1]).audio, atol=1e-6)
    assert out.shape == stereo.shape


def test_a_file_comes_back_at_its_rate_and_layout_and_bad_input_is_named(tmp_path):
    pipe = small_pipe()
    path = tmp_path / "clip.wav"
    sf.write(path, speech_like(0.6, 22_050).T, 22_050)
    out = pipe(str(path))
    assert out.sampling_rate == 22_050 and out.audio.shape == (round(0.6 * 22_050), 2)
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(UserInputError, match="empty.wav: cannot read it as audio"):
        pipe(str(tmp_path / "empty.wav"))
    sf.write(tmp_path / "no_frames.wav", np.zeros((0, 2)), 16_000)
    with pytest.raises(UserInputError, match=r"no_frames.wav: the file holds no audio \(0 frames\)"):
        pipe(str(tmp_path / "no_frames.wav"))
    sf.write(tmp_path / "surround.wav", speech_like(0.1, 16_000, channels=6).T, 16_000)
    with pytest.raises(UserInputError, match="surround.wav: it has 6 channels; mono and stereo"):
        pipe(str(tmp_path / "surround.wav"))
    with pytest.raises(UserInputError, match="leave sampling_rate out"):
        pipe(str(path), sampling_rate=16_000)
    with pytest.raises(UserInputError, match="NaN"):
        pipe(np.full(100, np.nan, dtype=np.float32))
    with pytest.raises(UserInputError, match=r"with C = 1 or 2 channels"):
        pipe(np.zeros((6, 1000), dtype=np.float32))


def test_spectrogram_images_put_a_tone_in_its_row():
    rate, f = 16_000, 2_000
    tone = torch.sin(2 * torch.pi * f * torch.arange(rate) / rate).expand(1, 2, rate)
    image = spectrogram_images(tone, rate, height=129)  # (1, 3, 129, frames)
    assert image.shape[:3] == (1, 3, 129) and 0 <= image.min() and image.max() <= 1
    brightest = image[0].sum(0).mean(1).argmax().item()  # row 0: the Nyquist frequency
    assert abs(brightest - round(128 * (1 - f / (rate / 2)))) <= 1


# --- data: bad files of every kind the issue names


def _folder_with_bad_files(root):
    (root / "speech").mkdir(parents=True)
    sf.write(root / "speech" / "good.wav", speech_like(1.2, 16_000).T, 16_000)
    (root / "speech" / "unreadable.wav").write_bytes(b"RIFF this is not a wave file")
    sf.write(root / "speech" / "empty.wav", np.zeros((0, 2)), 16_000)
    sf.write(root / "speech" / "surround.wav", speech_like(1.0, 16_000, channels=6).T, 16_000)
    sf.write(root / "speech" / "silent.wav", np.zeros((16_000, 2)), 16_000)


def test_each_bad_audio_file_is_named_or_skipped_and_counted(tmp_path):
    _folder_with_bad_files(tmp_path / "clips")
    name = f"audiofolder:{tmp_path / 'clips'}"
    with pytest.raises(BadFileError) as err:
        load_data("audio", name)
    message = str(err.value)
    assert "unreadable.wav" in message and "empty.wav: the file holds no audio (0 frames)" in message
    assert "surround.wav: it has 6 channels; mono and stereo clips are supported" in message
    assert "silent.wav: the clip is silent" in message and "4 unreadable audio file(s)" in message
    assert "--skip_bad_files" in message
    data = load_data("audio", name, skip_bad_files=True)
    assert data.n_skipped == 4 and data.arrays["audio_values"].shape == (1, 2, 16_000)
    assert data.labels.tolist() == [0]


def test_a_datasets_audio_column_is_decoded_and_resampled_once(tmp_path):
    """A Hub-style audio set: a parquet file whose `audio` column is datasets' `Audio` feature (bytes inside)."""
    import io

    import pyarrow as pa
    from datasets import Audio, ClassLabel, Dataset, DatasetInfo, Features

    clips, rows = [speech_like(1.5, 22_050, seed=i) for i in range(3)], []
    for clip in clips:
        buf = io.BytesIO()
        sf.write(buf, clip.T, 22_050, format="FLAC")
        rows.append({"bytes": buf.getvalue(), "path": None})
    features = Features({"audio": Audio(), "label": ClassLabel(names=["a", "b"])})
    # built in Arrow: datasets encodes an Audio column through torchcodec, which has no build for this torch
    table = pa.table({"audio": pa.array(rows, type=Audio().pa_type), "label": pa.array([0, 1, 1], pa.int64())})
    Dataset(table, info=DatasetInfo(features=features)).to_parquet(str(tmp_path / "set.parquet"))
    data = load_data("audio", str(tmp_path / "set.parquet"), segment_seconds=0.5)
    x = data.arrays["audio_values"]  # 1.5 s at 16 kHz: 3 segments per clip
    assert x.shape == (9, 2, 8000) and data.labels.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    from scipy.signal import resample_poly

    expected = resample_poly(clips[1], 320, 441, axis=1)[:, :24_000]  # 22.05 -> 16 kHz
    got = np.concatenate(list(x[3:6].astype(np.float32) / 32767), axis=1)
    np.testing.assert_allclose(got, expected, atol=2e-4)


# --- training, `genzoo denoise`, the Hub


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small STFT-mask denoiser trained for 150 steps on the embedded speech-mini, white noise at -5..0 dB."""
    out = tmp_path_factory.mktemp("denoiser") / "run"
    cfg = make_config(
        "audio_denoiser",
        dataset="speech-mini",
        output_dir=str(out),
        model_config="architecture='stft_mask',hidden_size=64,gru_layers=1",
        noise="white:-5:0",
        loss="snr",
        max_steps=150,
        batch_size=16,
        learning_rate=1e-3,
        mixed_precision="no",
        report_to="tensorboard",
        checkpointing_steps=0,
    )
    try:
        return train(cfg)
    except MissingPackage as err:  # the embedded speech set without espeak-ng
        pytest.skip(str(err))


def test_a_short_training_run_raises_si_sdr_on_held_out_speech(trained):
    m, first = trained.metrics, trained.history[0]
    assert m["si_sdr_noisy_input"] == pytest.approx(-2.5, abs=1.5)  # white noise at -5..0 dB
    assert m["si_sdr_improvement"] > first["si_sdr_improvement"] + 1 and m["si_sdr_improvement"] > 3.0
    assert m["snr_improvement"] > 3.0
    summary = json.loads((trained.output_dir / "metrics.json").read_text())
    assert summary["data_kind"] == "audio" and summary["sampling_rate"] == 16_000 and summary["channels"] == 2
    card = (trained.output_dir / "README.md").read_text()
    assert "pipeline_tag: audio-to-audio" in card and "si_sdr_improvement" in card
    assert "genzoo denoise noisy.wav clean.wav" in card


def test_training_pictures_are_spectrograms_and_tensorboard_gets_the_audio(trained):
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    grid = Image.open(trained.output_dir / "sample.png")
    assert grid.width > grid.height  # three rows of wide spectrograms (noisy, denoised, clean)
    events = EventAccumulator(str(next((trained.output_dir / "logs").rglob("events.out.tfevents.*")).parent))
    events.Reload()
    assert {"audio/noisy", "audio/denoised", "audio/clean"} <= set(events.Tags()["audio"])
    clip = events.Audio("audio/clean")[-1]
    assert clip.sample_rate == 16_000 and clip.length_frames == 16_000


def test_genzoo_denoise_writes_the_input_length_rate_and_channels(trained, tmp_path, capsys):
    noisy = speech_like(2.3, 44_100) + 0.05 * np.random.default_rng(1).standard_normal((2, round(2.3 * 44_100)))
    sf.write(tmp_path / "in.wav", noisy.T.astype(np.float32), 44_100, subtype="PCM_16")
    cli.main(["denoise", str(tmp_path / "in.wav"), str(tmp_path / "out.wav"), "--model", str(trained.output_dir)])
    assert "real-time factor" in capsys.readouterr().out
    info = sf.info(str(tmp_path / "out.wav"))
    assert (info.frames, info.samplerate, info.channels, info.subtype) == (noisy.shape[1], 44_100, 2, "PCM_16")
    with pytest.raises(SystemExit, match="needs an audio model"):
        cli.main(["denoise", str(tmp_path / "in.wav"), str(tmp_path / "o.wav"), "--model", _image_model(tmp_path)])
    with pytest.raises(SystemExit, match="no such file"):
        cli.main(["denoise", str(tmp_path / "missing.wav"), str(tmp_path / "o.wav"), "--model", "x"])
    with pytest.raises(SystemExit, match="give the output a suffix soundfile writes"):
        cli.main(["denoise", str(tmp_path / "in.wav"), str(tmp_path / "out"), "--model", str(trained.output_dir)])
    cli.main(["evaluate", "--model", str(trained.output_dir), "--noise", "white:0:0"])  # its training set by default
    scores = json.loads(capsys.readouterr().out)
    assert scores["dataset"] == "speech-mini" and "si_sdr_improvement" in scores
    # mixed at 0 dB over both channels; per panned channel, averaged in dB, a little below (Jensen)
    assert -3 < scores["snr_noisy_input"] < 0


def _image_model(tmp_path) -> str:
    from hf_genzoo.models import MLPAutoencoder
    from hf_genzoo.pipelines import AutoencoderPipeline

    AutoencoderPipeline(autoencoder=MLPAutoencoder(in_channels=1, sample_size=8, hidden_dim=16)).save_pretrained(
        tmp_path / "ae"
    )
    return str(tmp_path / "ae")


def test_push_and_load_by_repo_id_give_the_same_denoising(hub, trained):
    cli.main(["push", str(trained.output_dir), "tester/denoiser"])
    local, remote = load_pipeline(str(trained.output_dir)), AudioDenoisingPipeline.from_pretrained("tester/denoiser")
    clip = speech_like(0.5, 16_000)
    np.testing.assert_array_equal(local(clip).audio, remote(clip).audio)
    assert "denoiser/diffusion_pytorch_model.safetensors" in hub.stored_files("tester/denoiser")
