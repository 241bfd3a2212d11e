"""The embedded `speech` datasets (built here from the Debian packages, with espeak-ng and Festival; the tests build
`speech-mini`) and the noise of the audio denoising family (`NoiseMix`): held-out sentences and voices, real
stereo, the tape factor, the cache; exact SNRs and the spectra of each noise kind."""

import dataclasses
import json
import math
import shutil

import numpy as np
import pytest
import torch
from scipy.signal import correlate, correlation_lags

from hf_genzoo.data import cache_root, load_data, speech
from hf_genzoo.data.audio_noise import DEFAULT_NOISE, KINDS, NoiseMix, parse_noise_mix
from hf_genzoo.errors import UserInputError

sf = pytest.importorskip("soundfile")
RATE = 16_000

if shutil.which("espeak-ng") is None:
    pytest.skip("the speech dataset needs espeak-ng (apt-get install espeak-ng)", allow_module_level=True)


MINI = "speech-mini"  # the build of the tests: 20 sentences, 3 voices each (the full `speech` speaks 160 by 20)
FESTIVAL = pytest.mark.skipif(
    shutil.which("festival") is None,
    reason=f"Festival's voices need `apt-get install {speech.FESTIVAL_PACKAGES}`",
)


@pytest.fixture(scope="module")
def built():
    """The build folder of `speech-mini` and its manifest: one row per clip."""
    folder = speech.build(name=MINI)
    return folder, json.loads((folder / "manifest.json").read_text())


# --- the dataset


def test_splits_load_as_labelled_stereo_segments(built):
    for split in ("train", "test"):
        src = speech.load_speech_split(split, MINI)
        assert src.other_columns == {"audio": "audio"} and src.label_column == "label"
        assert src.label_names == ["alsa_speech", "espeak_speech", "festival_speech", "freedesktop_sound"]
        assert src.cache_token.startswith("speech-v2-") and src.cache_token.endswith(split)
        assert src.dataset.column_names == ["audio", "label", "utterance", "voice", "family", "pan", "delay_samples"]
        data = load_data("audio", MINI, split)
        x = data.arrays["audio_values"]
        assert x.dtype == np.int16 and x.ndim == 3 and x.shape[1:] == (2, RATE) and len(x) > 20
        assert data.label_names == src.label_names and {0, 1, 3} <= set(data.labels.tolist())
        assert 0.4 < np.abs(x).max() / 32767 <= 0.9  # peaks scaled into [0.5, 0.9] (panning lowers a side)
    with pytest.raises(UserInputError, match="splits \\['train', 'test'\\], not 'validation'"):
        speech.load_speech_split("validation", MINI)


def test_the_test_split_holds_out_sentences_and_voices(built):
    folder, rows = built
    train, test = ({r["utterance"] for r in rows if r["split"] == s} for s in ("train", "test"))
    assert train and test and not train & test
    texts = {s: {r["text"] for r in rows if r["split"] == s and r["text"]} for s in ("train", "test")}
    assert len(texts["train"]) == 16 and len(texts["test"]) == 4 and not texts["train"] & texts["test"]
    voices = {s: {r["voice"] for r in rows if r["split"] == s and r["voice"]} for s in ("train", "test")}
    assert voices["train"] and voices["test"] and not voices["train"] & voices["test"]  # no voice in both
    per_sentence = {}
    for r in rows:
        if r["text"]:
            per_sentence.setdefault(r["text"], set()).add((r["voice"], r["split"]))
    assert all(len(v) <= 3 and len({s for _, s in v}) == 1 for v in per_sentence.values())  # 3 voices, one split
    sources = [r["source"] for r in rows if r["source"]]
    assert len(set(sources)) == len(sources)  # symbolic links resolved: no file twice
    assert not any("audio-channel-" in s or "Noise" in s or "test-signal" in s for s in sources)  # no copies, no noise
    assert {r["split"] for r in rows if r["label"] == "alsa_speech"} == {"train", "test"}


@FESTIVAL
def test_a_whole_synthesizer_family_is_never_heard_in_training():
    plan = speech._plan()  # the full build: 160 sentences, 20 voices each
    families = {s: {c.family for c in plan if c.split == s and c.family} for s in ("train", "test")}
    assert "festival-hts" in families["test"] and "festival-hts" not in families["train"]
    assert {"espeak", "festival-diphone"} <= families["train"] & families["test"]
    sentences = [c for c in plan if c.text]
    assert len({c.text for c in sentences}) == 160 and len(sentences) == 128 * 20 + 32 * 7  # 7 held-out voices
    assert {c.tape for c in sentences} == set(range(23, 28))  # speed and pitch moved by 0.92..1.08
    assert min(c.speed for c in sentences if c.label == "festival_speech") >= speech.STRETCH[0]


def test_clips_are_panned_and_delayed(built):
    folder, rows = built
    clip = next(r for r in rows if r["text"] and r["delay_samples"] >= 4 and abs(r["pan"]) > 0.3)
    x, rate = sf.read(folder / f"{clip['name']}.wav")  # (T, 2)
    assert rate == RATE and x.shape[1] == 2 and not np.allclose(x[:, 0], x[:, 1])
    left, right = x[:, 0], x[:, 1]
    lags = correlation_lags(len(left), len(right))
    lag = lags[np.argmax(correlate(left, right))]  # > 0: the left channel is the later one
    assert lag == (clip["delay_samples"] if clip["pan"] > 0 else -clip["delay_samples"])
    assert 0 < abs(lag) <= 0.6e-3 * RATE
    theta = (clip["pan"] + 1) * math.pi / 4  # constant-power panning: right / left = tan(theta)
    assert np.sqrt((right**2).sum() / (left**2).sum()) == pytest.approx(math.tan(theta), rel=1e-2)
    stereo = next(r for r in rows if r["name"] == "freedesktop-complete")  # stereo already: kept as it is
    assert stereo["pan"] == 0 and stereo["delay_samples"] == 0


def test_the_tape_factor_changes_the_length_by_its_ratio(tmp_path):
    rate = 22_050
    x = np.sin(2 * np.pi * 200 * np.arange(rate) / rate)[None]  # (1, rate): one second at 200 Hz
    for tape in (23, 25, 27):
        stereo, _, delay = speech._prepare(x, rate, tape, np.random.default_rng(0))
        assert stereo.shape[1] - delay == pytest.approx(RATE * 25 / tape, abs=FRAME_SAMPLES)
        spectrum = np.abs(np.fft.rfft(stereo[0]))
        assert np.argmax(spectrum) / (stereo.shape[1] / RATE) == pytest.approx(200 * tape / 25, rel=0.02)


FRAME_SAMPLES = speech.FRAME  # the trim works in 10 ms frames


def test_building_again_is_cached(built, monkeypatch):
    folder, _ = built
    assert folder.parent == cache_root() / "speech-v2"
    token = speech.token("train", MINI)  # the synthesizers' versions asked once per process, here already
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def no_subprocess(*args, **kwargs):
        raise AssertionError("a synthesizer was called again")

    monkeypatch.setattr(speech.subprocess, "run", no_subprocess)
    assert speech.build(name=MINI) == folder and speech.load_speech_split("train", MINI).cache_token == token
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    assert not list(folder.parent.glob("*.tmp*"))  # the temporary folder was renamed into place
    monkeypatch.setattr(speech, "_espeak_version", lambda: "eSpeak NG text-to-speech: 9.99")
    assert speech.token("train", MINI) != token  # another espeak-ng: other material, another cache key


def test_a_missing_espeak_ng_names_the_package(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    speech._espeak_version.cache_clear()
    with pytest.raises(UserInputError, match="apt-get install espeak-ng"):
        speech.load_speech_split("train", MINI)
    monkeypatch.undo()
    speech._espeak_version.cache_clear()


def test_without_alsa_utils_or_festival_the_build_goes_on_with_what_is_there(monkeypatch, tmp_path, caplog):
    plan = {c.name: c for c in speech._plan()}
    monkeypatch.setattr(speech, "ALSA_DIR", tmp_path / "no-alsa")
    stand_in = {c.name: c for c in speech._plan()}
    assert stand_in.keys() == plan.keys()
    for name, clip in plan.items():  # the same utterances in the same splits, read from the Vorbis copies
        assert (stand_in[name].utterance, stand_in[name].split) == (clip.utterance, clip.split)
    assert all("audio-channel-" in c.source for c in stand_in.values() if c.label == "alsa_speech")
    monkeypatch.setattr(speech, "FREEDESKTOP_DIR", tmp_path / "no-freedesktop")
    monkeypatch.setattr(speech, "FESTIVAL_VOICE_DIR", tmp_path / "no-festival")
    alone = speech._plan()
    assert {c.label for c in alone} == {"espeak_speech"}
    held_out = {v.name for v in speech.VOICES if v.split == "test" and v.engine == "espeak"}
    assert {c.voice for c in alone if c.split == "test"} == held_out
    speech._warn_missing(alone)
    for package in ("alsa-utils", "sound-theme-freedesktop", "festival festvox-kallpc16k"):
        assert f"apt-get install {package}" in caplog.text


@FESTIVAL
def test_a_sentence_a_voice_cannot_say_is_left_out(monkeypatch, tmp_path):
    said = next(c for c in speech._plan() if c.voice == "kal_diphone")
    unsayable = dataclasses.replace(
        said, name="festival-odd", voice="lp_diphone", text="Where did you park the car this morning?"
    )
    monkeypatch.setattr(speech, "_plan", lambda size: [said, unsayable])
    folder = speech.build(tmp_path / "root", MINI)
    names = [r["name"] for r in json.loads((folder / "manifest.json").read_text())]
    assert names == [said.name]  # the Italian voice's front end fails on this English sentence: left unsaid


def test_a_build_that_loses_the_race_keeps_the_winners(monkeypatch, tmp_path):
    clips = [c for c in speech._plan(speech.SIZES[MINI]) if c.name == "alsa-front_left" or c.label == "espeak_speech"]
    clips = clips[:2]
    assert len(clips) == 2
    monkeypatch.setattr(speech, "_plan", lambda size: clips)
    replace = speech.os.replace

    def another_process_first(src, dst):
        winner = tmp_path / "winner"
        winner.mkdir()
        (winner / "manifest.json").write_text("[]")
        replace(winner, dst)
        replace(src, dst)  # raises: the folder is there, not empty

    monkeypatch.setattr(speech.os, "replace", another_process_first)
    folder = speech.build(tmp_path / "root", MINI)
    assert (folder / "manifest.json").read_text() == "[]" and list(folder.parent.iterdir()) == [folder]
    monkeypatch.undo()
    monkeypatch.setattr(speech, "_plan", lambda size: clips[1:])  # another plan: another folder, built for real
    other = speech.build(tmp_path / "root", MINI)
    assert other != folder and [r["name"] for r in json.loads((other / "manifest.json").read_text())] == [clips[1].name]


# --- the noise


def _tones(freqs, gains=None, t=RATE):
    """A batch of stereo pure tones `(B, 2, T)` of whole cycles; `gains` `(B, 2)` the left and right amplitudes."""
    gains = torch.full((len(freqs), 2), 0.5) if gains is None else torch.as_tensor(gains, dtype=torch.float32)
    wave = torch.sin(2 * math.pi * torch.tensor(freqs, dtype=torch.float64)[:, None] * torch.arange(t) / RATE)
    return (gains[:, :, None] * wave[:, None].float()).contiguous()


def _power_spectrum(x: torch.Tensor) -> np.ndarray:
    return (torch.fft.rfft(x.double()).abs() ** 2).numpy()  # (..., T // 2 + 1), bin k at k Hz for T = RATE


def _snr(clean, noisy):
    return 10 * torch.log10(clean.double().pow(2).mean((1, 2)) / (noisy.double() - clean).pow(2).mean((1, 2)))


def test_the_snr_is_the_drawn_one(built):
    clean = torch.from_numpy(load_data("audio", MINI, "train").arrays["audio_values"][:48] / 32767).float()
    mix = parse_noise_mix(DEFAULT_NOISE)
    noisy, snr = mix(clean, RATE, torch.Generator().manual_seed(0))
    assert noisy.shape == clean.shape and noisy.dtype == clean.dtype and snr.shape == (48,)
    torch.testing.assert_close(_snr(clean, noisy).float(), snr, atol=1e-3, rtol=0)
    assert snr.min() >= -5 and snr.max() <= 20 and snr.max() - snr.min() > 15
    noisy, snr = NoiseMix(KINDS, 10, 10)(clean, RATE, torch.Generator().manual_seed(1))
    torch.testing.assert_close(_snr(clean, noisy).float(), torch.full((48,), 10.0), atol=1e-3, rtol=0)


@pytest.mark.parametrize("kind, slope", [("white", 0.0), ("pink", -1.0), ("brown", -2.0)])
def test_colored_noise_has_its_spectral_slope(kind, slope):
    clean = _tones([440.0] * 16)
    noisy, _ = NoiseMix((kind,), 0, 0)(clean, RATE, torch.Generator().manual_seed(0))
    noise = noisy - clean  # (16, 2, T)
    power = _power_spectrum(noise).mean((0, 1))  # (T // 2 + 1,)
    edges = np.geomspace(50, 5000, 17).astype(int)
    bands = np.array([power[a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    centres = np.sqrt(edges[:-1] * edges[1:])
    fitted = np.polyfit(np.log10(centres), np.log10(bands), 1)[0]
    assert fitted == pytest.approx(slope, abs=0.1)
    if kind != "white":
        assert power[:20].sum() < 1e-9 * power.sum()  # high-passed at 20 Hz
    correlation = torch.corrcoef(noise.permute(1, 0, 2).reshape(2, -1))[0, 1]
    assert abs(correlation) < 0.1  # independent channels


def test_hum_is_at_mains_harmonics():
    clean = _tones([440.0] * 16)
    noisy, _ = NoiseMix(("hum",), 0, 0)(clean, RATE, torch.Generator().manual_seed(0))
    noise = noisy - clean
    torch.testing.assert_close(noise[:, 0], noise[:, 1])  # the same in both channels
    power = _power_spectrum(noise[:, 0])  # (16, T // 2 + 1)
    fundamentals = []
    for p in power:
        share = {f0: p[f0::f0].sum() / p.sum() for f0 in (50, 60)}
        f0 = max(share, key=share.get)
        assert share[f0] > 0.999 and p[f0] > 0.1 * p.sum()  # the fundamental carries the most power
        fundamentals.append(f0)
    assert set(fundamentals) == {50, 60}


def test_babble_is_made_of_the_other_examples():
    freqs = [300, 500, 700, 900, 1100, 1300, 1500, 1700]
    gains = [[0.5, 0.1 * (i + 1)] for i in range(8)]  # each tone its own stereo balance
    clean = _tones(freqs, gains)
    noisy, _ = NoiseMix(("babble",), 0, 0)(clean, RATE, torch.Generator().manual_seed(0))
    power = _power_spectrum(noisy - clean)  # (8, 2, T // 2 + 1)
    for i, f in enumerate(freqs):
        p = power[i].sum(0)
        assert p[f] < 1e-9 * p.sum()  # not the example itself
        present = [j for j, g in enumerate(freqs) if p[g] > 1e-3 * p.sum()]
        assert 3 <= len(present) <= 6 and i not in present
        assert p[freqs].sum() > 0.999 * p.sum()  # nothing but the other tones
        for j in present:  # the others' stereo is kept: right / left power as in their clean tones
            ratio = power[i, 1, freqs[j]] / power[i, 0, freqs[j]]
            assert ratio == pytest.approx((gains[j][1] / gains[j][0]) ** 2, rel=1e-3)
    alone = torch.randn((1, 2, 4000), generator=torch.Generator().manual_seed(3)) * torch.linspace(0, 1, 4000)
    noisy, _ = NoiseMix(("babble",), 0, 0)(alone, RATE, torch.Generator().manual_seed(0))
    magnitude, reference = torch.fft.rfft(noisy - alone).abs(), torch.fft.rfft(alone).abs()
    torch.testing.assert_close(magnitude, reference, rtol=1e-3, atol=1e-3)  # itself, reversed and shifted
    assert not torch.allclose(noisy - alone, alone, atol=1e-3)


def test_the_seed_decides_the_batch_and_dtypes_are_kept():
    clean = _tones([300, 500, 700, 900] * 4)
    mix = parse_noise_mix("all:-5:20")
    a = mix(clean, RATE, torch.Generator().manual_seed(7))
    b = mix(clean, RATE, torch.Generator().manual_seed(7))
    c = mix(clean, RATE, torch.Generator().manual_seed(8))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.allclose(a[0], c[0]) and not torch.allclose(a[1], c[1])
    half, snr = mix(clean.bfloat16(), RATE, torch.Generator().manual_seed(7))
    assert half.dtype == torch.bfloat16 and snr.dtype == torch.float32
    double, snr = mix(clean.double(), RATE, torch.Generator().manual_seed(7))
    assert double.dtype == torch.float64 and snr.dtype == torch.float64
    with pytest.raises(UserInputError, match=r"\(B, C, T\)"):
        mix(clean[0], RATE)


def test_noise_specs_parse_and_print_back():
    assert (
        parse_noise_mix(DEFAULT_NOISE) == NoiseMix(KINDS, -5.0, 20.0)
        and str(parse_noise_mix("all:-5:20")) == DEFAULT_NOISE
    )
    assert parse_noise_mix("white+hum:0:20.5") == NoiseMix(("white", "hum"), 0.0, 20.5)
    for spec in ("white:10:10", "pink+babble:-3:7.5", "brown:0:0"):
        assert str(parse_noise_mix(spec)) == spec
    for spec in ("white", "white:a:3", "white:1:2:3", "rain:0:10", "white+white:0:1", "white:10:0", "all:0:inf"):
        with pytest.raises(UserInputError, match=r"KINDS:LOW:HIGH(.|\n)*white, pink, brown, hum, babble"):
            parse_noise_mix(spec)
