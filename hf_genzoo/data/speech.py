"""`speech` and `speech-mini`: embedded sets of stereo speech and sounds at 16 kHz, built on this machine from
Debian packages.

What is in them (label names in brackets):

- [`alsa_speech`] real human speech: the eight voice prompts of ALSA's `speaker-test` ("Front Center", "Front
  Left", ..., "Side Right") shipped by the Debian package `alsa-utils` (`/usr/share/sounds/alsa/*.wav`;
  `Noise.wav` is noise and left out). Where `alsa-utils` is missing, the same recordings as shipped (Vorbis) by
  `sound-theme-freedesktop` (`audio-channel-*.oga`) stand in for them; both copies are never used together.
- [`freedesktop_sound`] the event sounds of `sound-theme-freedesktop` (`/usr/share/sounds/freedesktop/stereo/*.oga`:
  bells, alarms, shutter, log-in chimes, phone tones), each file once (eight of them are symbolic links to others),
  without `audio-channel-*` (the ALSA prompts again) and `audio-test-signal` (ALSA's `Noise.wav` again).
- [`espeak_speech`] formant-synthesized speech: the English sentences of `speech_sentences.txt` (written for this
  set) spoken by `espeak-ng` voices and variants (`VOICES`: regional accents, male, female and Klatt-synthesizer
  variants, English read by mbrola-less foreign-accent voices), at 120-210 words per minute and pitch 25-75.
- [`festival_speech`] the same sentences spoken by Festival's voices (`festival` and `festvox-*` packages): its
  diphone voices (residual-excited LPC concatenation: `kal_diphone`, `ked_diphone`, Italian `lp_diphone` and
  `pc_diphone` reading English) and its HTS voices (statistical parametric synthesis: `cmu_us_slt_arctic_hts`,
  Catalan `upc_ca_ona_hts`), at a drawn duration stretch.

Every synthesized clip is also sped up or slowed down by a "tape" factor in 0.92-1.08 (resampling, so speed and
pitch move together). Splits hold out sentences AND voices: a sentence goes to one split (a seeded permutation,
80/20), and the test split's sentences are spoken only by voices the training split never hears (`Voice.split`):
four espeak-ng voices, `ked_diphone`, and the whole HTS family (a synthesizer family absent from training). The
ALSA prompts and freedesktop sounds are split by recording (2 of 8 and 4 of 18 to test). `speech-mini` is the same
build on the first 20 sentences with 3 voices each, for tests and quick runs.

`espeak-ng` is required (`apt-get install espeak-ng`); Festival and the two other packages are used when installed,
and a missing one is logged with the package that brings it (`apt-get install festival festvox-kallpc16k
festvox-kdlpc16k festvox-us-slt-hts festvox-italp16k festvox-itapc16k festvox-ca-ona-hts`).

Each clip is read with `soundfile`, resampled to 16 kHz (`scipy.signal.resample_poly`), trimmed of leading and
trailing silence (10 ms frames whose peak is below -40 dB of the clip's peak), scaled to a peak drawn in [0.5, 0.9],
and made stereo, unless it is stereo already (most freedesktop sounds): constant-power panning (a pan p drawn in
[-0.8, 0.8] gives the gains cos(theta), sin(theta) with theta = (p + 1) pi / 4) and an interaural delay of 0-9
samples (0-0.56 ms) on the channel away from the source. Every draw comes from a generator seeded by the clip's
name, so a build is the same on every machine with the same packages. The clips are written once as 16-bit stereo
WAV files under `cache_root() / "speech-v2"`, in a folder named by a hash of the material (the source files' names
and sizes, the synthesizers' versions and voices, this build's settings), built in a temporary folder and renamed
into place; the audio data kind then cuts them into segments. `python -m hf_genzoo.data.speech` builds `speech`
and prints its table of hours per split and label.

Licences: the ALSA prompts are part of alsa-utils (GPL-2); the freedesktop sounds are under GPL-2, GPL-2+,
CC-BY-3.0 or CC-BY-SA-3.0 by file, with attribution to their authors (`/usr/share/doc/sound-theme-freedesktop/
copyright`); the synthesized clips are speech synthesized from our own sentences, ours (the synthesizers' and
voices' licences cover the programs and voice data, not what they say).
"""

import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import numpy as np
from datasets import ClassLabel, Dataset, Features, Value

from ..errors import MissingPackage, UserInputError
from ..sound import resample
from .sources import BUILTIN, Builtin, Source
from .tensorize import cache_root

logger = logging.getLogger(__name__)

VERSION = "speech-v2"  # bump when the build changes
RATE = 16_000
ALSA_DIR = Path("/usr/share/sounds/alsa")
FREEDESKTOP_DIR = Path("/usr/share/sounds/freedesktop/stereo")
FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")
LABELS = ["alsa_speech", "espeak_speech", "festival_speech", "freedesktop_sound"]
SPLITS = ("train", "test")
TEST_SHARE = 0.2
SEED = 0
ALSA_PROMPTS = (
    "Front_Center",
    "Front_Left",
    "Front_Right",
    "Rear_Center",
    "Rear_Left",
    "Rear_Right",
    "Side_Left",
    "Side_Right",
)
FREEDESKTOP_COPIES = ("audio-channel-", "audio-test-signal")  # the ALSA prompts and ALSA's Noise.wav again
SENTENCES = tuple(Path(__file__).with_name("speech_sentences.txt").read_text().splitlines())


@dataclass(frozen=True)
class Voice:
    """A voice of a synthesizer: `espeak-ng -v NAME`, or Festival's `(voice_NAME)`; the split that hears it."""

    engine: str  # "espeak" or "festival"
    name: str
    family: str  # the kind of synthesis: "espeak" (formant), "festival-diphone", "festival-hts"
    split: str


def _espeak(names: str, split: str) -> list[Voice]:
    return [Voice("espeak", n, "espeak", split) for n in names.split()]


# `espeak-ng --voices=en` and `--voices=variant` (none needs mbrola): accents x variants, Klatt-synthesizer variants
VOICES = (
    *_espeak(
        "en en-us en-gb-x-rp en-gb-scotland en-029 en-us-nyc en-gb-x-gbclan en-gb-x-gbcwmd en+f3 en+m3 en+f5 en-us+f2 "
        "en-gb-x-rp+f4 en+m7 en-us+m2 en-us+f4 en+Annie en-us+Andy en+klatt en-us+klatt3 en-gb-scotland+f1 en+Alicia "
        "en-029+m5 en+Michael en-us+Linda en+klatt4 en-gb-x-rp+m6 en+Steph fr+m1 de+f2 es+m3 nl+f3",
        "train",
    ),
    *_espeak("en-gb-x-rp+f2 en-us+klatt2 en-us-nyc+m4 en+Denis", "test"),
    Voice("festival", "kal_diphone", "festival-diphone", "train"),
    Voice("festival", "lp_diphone", "festival-diphone", "train"),
    Voice("festival", "pc_diphone", "festival-diphone", "train"),
    Voice("festival", "ked_diphone", "festival-diphone", "test"),
    Voice("festival", "cmu_us_slt_arctic_hts", "festival-hts", "test"),  # HTS: never heard in training
    Voice("festival", "upc_ca_ona_hts", "festival-hts", "test"),
)
FESTIVAL_PACKAGES = (
    "festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts festvox-italp16k festvox-itapc16k "
    "festvox-ca-ona-hts"
)


@dataclass(frozen=True)
class Size:
    """How much of the material a build speaks: the first `sentences`, each by `voices` voices of its split."""

    sentences: int
    voices: int


SIZES = {"speech": Size(len(SENTENCES), 20), "speech-mini": Size(20, 3)}
SPEED_WPM = (120, 210)  # espeak-ng
PITCH = (25, 75)  # espeak-ng's 0-99 scale, 50 is the voice's own
STRETCH = (0.85, 1.2)  # Festival's Duration_Stretch
TAPE = (23, 27)  # every synthesized clip resampled by 25 / k, k drawn in 23..27: speed and pitch x 0.92..1.08
PEAK = (0.5, 0.9)
MAX_PAN = 0.8
MAX_DELAY = int(0.6e-3 * RATE)  # 9 samples = 0.56 ms, below the ~0.65 ms of a human head
SILENCE_DB = -40.0
FRAME = RATE // 100  # 10 ms


@dataclass(frozen=True)
class Clip:
    """One clip of the set: where it comes from, its label and utterance, and its split."""

    name: str  # the file stem in the build folder
    label: str
    utterance: str  # the source utterance: a split holds all of an utterance's clips or none
    split: str
    source: str = ""  # the file it is read from, or "" for synthesized speech
    text: str = ""  # what the synthesizer says
    voice: str = ""
    family: str = ""  # the voice's kind of synthesis
    speed: float = 0.0  # espeak-ng's words per minute, or Festival's duration stretch
    pitch: int = 0  # espeak-ng's pitch
    tape: int = 25  # resampled by 25 / tape after synthesis


def _test_set(keys: list[str], group: str) -> set[str]:
    """The `TEST_SHARE` of `keys` that goes to the test split: a permutation seeded by the group's name."""
    rng = np.random.default_rng([SEED, *group.encode()])
    order = rng.permutation(sorted(keys))
    return set(order[: round(TEST_SHARE * len(keys))].tolist())


def _split(key: str, test: set[str]) -> str:
    return "test" if key in test else "train"


def _festival_voices() -> set[str]:
    """The Festival voices installed (`/usr/share/festival/voices/<language>/<name>`), if `festival` is."""
    if shutil.which("festival") is None:
        return set()
    return {p.name for p in FESTIVAL_VOICE_DIR.glob("*/*") if p.is_dir()}


def _plan(size: Size = SIZES["speech"]) -> list[Clip]:
    """Every clip of a build with its split, from the files installed (nothing is read or synthesized)."""
    clips = []
    # 1. the ALSA prompts, from alsa-utils or else from sound-theme-freedesktop's copies of them
    prompts = {}
    for prompt in ALSA_PROMPTS:
        candidates = (
            ALSA_DIR / f"{prompt}.wav",
            FREEDESKTOP_DIR / f"audio-channel-{prompt.lower().replace('_', '-')}.oga",
        )
        found = next((p for p in candidates if p.is_file()), None)
        if found is not None:
            prompts[prompt.lower()] = found
    test = _test_set(list(prompts), "alsa")
    for key, path in prompts.items():
        clips.append(Clip(f"alsa-{key}", "alsa_speech", f"alsa:{key}", _split(key, test), str(path)))
    # 2. the freedesktop event sounds, each file once (symbolic links resolved)
    sounds = {}
    for path in sorted(FREEDESKTOP_DIR.glob("*.oga")):  # none when the folder is missing
        real = path.resolve()
        if real.is_file() and not real.name.startswith(FREEDESKTOP_COPIES):
            sounds.setdefault(real.stem, real)
    test = _test_set(list(sounds), "freedesktop")
    for key, path in sounds.items():
        clips.append(
            Clip(f"freedesktop-{key}", "freedesktop_sound", f"freedesktop:{key}", _split(key, test), str(path))
        )
    # 3. the sentences, each by `size.voices` voices of its split (those installed), speeds and pitches drawn
    festival = _festival_voices()
    voices = [v for v in VOICES if v.engine == "espeak" or v.name in festival]
    keys = [f"sentence-{i:03d}" for i in range(size.sentences)]
    test = _test_set(keys, "sentences")
    for key, text in zip(keys, SENTENCES, strict=False):
        split = _split(key, test)
        rng = np.random.default_rng([SEED, *key.encode()])
        heard = [v for v in voices if v.split == split]
        for i in rng.permutation(len(heard))[: size.voices].tolist():
            v = heard[i]
            if v.engine == "espeak":
                speed, pitch = float(rng.integers(*SPEED_WPM, endpoint=True)), int(rng.integers(*PITCH, endpoint=True))
            else:
                speed, pitch = round(float(rng.uniform(*STRETCH)), 3), 0
            tape = int(rng.integers(*TAPE, endpoint=True))
            label = f"{v.engine}_speech"
            name = f"{v.engine}-{key}-{v.name.replace('+', '_')}"
            clips.append(Clip(name, label, key, split, "", text, v.name, v.family, speed, pitch, tape))
    return clips


@cache
def _espeak_version() -> str:
    """`espeak-ng --version`, once per process; a `MissingPackage` error naming the package when it is missing."""
    binary = shutil.which("espeak-ng")
    if binary is None:
        raise MissingPackage(
            "the built-in datasets 'speech' and 'speech-mini' synthesize speech with espeak-ng, which is not "
            "installed: `apt-get install espeak-ng` (Debian/Ubuntu), or train on another audio dataset "
            "(audiofolder:<path>)"
        )
    return subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout.strip()


@cache
def _festival_version() -> str:
    if shutil.which("festival") is None:
        return ""
    return subprocess.run(["festival", "--version"], capture_output=True, text=True, check=True).stdout.strip()


def _material(clips: list[Clip]) -> str:
    """A hash of what the build depends on: the plan, the source files' names and sizes, the synthesizers."""
    sizes = sorted({(c.source, os.path.getsize(c.source)) for c in clips if c.source})
    settings = [VERSION, RATE, PEAK, MAX_PAN, MAX_DELAY, SILENCE_DB, FRAME]
    stamp = [settings, _espeak_version(), _festival_version(), sizes, [asdict(c) for c in clips]]
    return hashlib.sha1(json.dumps(stamp).encode()).hexdigest()[:16]


def _seed(name: str) -> np.random.Generator:
    return np.random.default_rng([SEED, int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "little")])


def _trim(x: np.ndarray) -> np.ndarray:
    """`x` `(c, T)` without its leading and trailing 10 ms frames that are SILENCE_DB below the clip's peak."""
    envelope = np.abs(x).max(0)  # (T,)
    frames = np.pad(envelope, (0, -len(envelope) % FRAME)).reshape(-1, FRAME).max(1)  # (ceil(T / FRAME),)
    loud = np.flatnonzero(frames >= envelope.max() * 10 ** (SILENCE_DB / 20))
    return x[:, loud[0] * FRAME : (loud[-1] + 1) * FRAME]


def _prepare(x: np.ndarray, rate: int, tape: int, rng: np.random.Generator) -> tuple[np.ndarray, float, int]:
    """A clip `(c, T)` at `rate` -> `(2, T')` at RATE, tape-resampled, trimmed, peak-scaled and (if mono) panned
    and delayed; returns it with the pan and delay drawn (0 and 0 for a stereo clip)."""
    # 1. resample (by 25 / tape too: played at RATE, tape / 25 times as fast and as high), trim, scale the peak
    x = resample(resample(x, rate, RATE), tape, 25).astype(np.float64)  # (c, T')
    x = _trim(x)
    x = x * (rng.uniform(*PEAK) / np.abs(x).max())
    pan, delay = rng.uniform(-MAX_PAN, MAX_PAN), int(rng.integers(0, MAX_DELAY, endpoint=True))
    if x.shape[0] == 2:
        return x, 0.0, 0
    # 2. constant-power panning: gains cos(theta), sin(theta), theta in [0, pi/2]; (1, T') -> (2, T' + delay)
    theta = (pan + 1) * math.pi / 4
    # 3. the channel away from the source (left for a source on the right) hears it `delay` samples later
    late_left = delay if pan > 0 else 0
    left = np.pad(math.cos(theta) * x[0], (late_left, delay - late_left))
    right = np.pad(math.sin(theta) * x[0], (delay - late_left, late_left))
    stereo = np.stack([left, right])
    return stereo, pan, delay


def _speak_espeak(clip: Clip, folder: Path) -> None:
    """espeak-ng says `clip.text` into `folder / name.raw.wav`."""
    out = folder / f"{clip.name}.raw.wav"
    command = ["espeak-ng", "-w", str(out), "-v", clip.voice, "-s", str(int(clip.speed)), "-p", str(clip.pitch)]
    subprocess.run([*command, clip.text], check=True, capture_output=True)


def _speak_festival(voice: str, clips: list[Clip], folder: Path) -> None:
    """One Festival process says every clip of `voice` into `folder / name.raw.wav` (a Scheme script); a sentence
    that the voice's text front end cannot take (the Italian voices trip on some English words) is left unsaid
    (`unwind-protect`), and the build goes on without it."""
    lines = [f"(voice_{voice})"]
    for c in clips:
        text = c.text.replace("\\", " ").replace('"', " ")
        lines += [
            f"(Parameter.set 'Duration_Stretch {c.speed})",
            f'(unwind-protect (utt.save.wave (utt.synth (Utterance Text "{text}")) "{folder / c.name}.raw.wav" '
            "'riff) nil)",
        ]
    script = folder / f"festival-{voice}.scm"
    script.write_text("\n".join(lines) + "\n")
    subprocess.run(["festival", "-b", str(script)], check=True, capture_output=True)


def _synthesize(clips: list[Clip], folder: Path) -> None:
    """Every synthesized clip as `folder / name.raw.wav`, two processes at a time."""
    by_voice = {}
    for c in clips:
        if c.label == "festival_speech":
            by_voice.setdefault(c.voice, []).append(c)
    with ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(_speak_festival, v, group, folder) for v, group in by_voice.items()]
        jobs += [pool.submit(_speak_espeak, c, folder) for c in clips if c.label == "espeak_speech"]
        for job in jobs:
            job.result()


def _warn_missing(clips: list[Clip]) -> None:
    """Log the package to install for each source that is not on this machine."""
    labels = {c.label for c in clips}
    for label, package in (
        ("alsa_speech", "alsa-utils"),
        ("freedesktop_sound", "sound-theme-freedesktop"),
        ("festival_speech", FESTIVAL_PACKAGES),
    ):
        if label not in labels:
            logger.warning("the speech dataset has no %s clips: `apt-get install %s` adds them", label, package)


def _write(clip: Clip, tmp: Path) -> dict:
    """Read (or take the synthesized) clip, prepare it, write it as 16-bit stereo; its manifest row."""
    import soundfile as sf

    raw = tmp / f"{clip.name}.raw.wav"
    data, rate = sf.read(clip.source or raw, always_2d=True)  # (T, c)
    raw.unlink(missing_ok=True)
    stereo, pan, delay = _prepare(data.T, rate, clip.tape, _seed(clip.name))  # (2, T')
    sf.write(tmp / f"{clip.name}.wav", stereo.T, RATE, subtype="PCM_16")
    return {**asdict(clip), "seconds": stereo.shape[1] / RATE, "pan": pan, "delay_samples": delay}


def build(root: Path | None = None, name: str = "speech") -> Path:
    """Build the clips of `name` once (or find them built) and return the folder that holds them and
    `manifest.json`.

    Args:
        root (`Path`, *optional*, defaults to `cache_root() / "speech-v2"`): where the build folders live.
        name (`str`, *optional*, defaults to `"speech"`): `"speech"` or `"speech-mini"`.
    """
    clips = _plan(SIZES[name])
    _warn_missing(clips)
    folder = (root or cache_root() / VERSION) / _material(clips)
    if (folder / "manifest.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp", dir=folder.parent))
    try:
        # 1. synthesize (subprocesses); 2. resample, trim, pan and write (numpy and libsndfile, in two threads)
        _synthesize(clips, tmp)
        said = [c for c in clips if c.source or (tmp / f"{c.name}.raw.wav").exists()]
        if len(said) < len(clips):
            logger.info("%d of %d clips were left unsaid by their voices", len(clips) - len(said), len(clips))
        with ThreadPoolExecutor(2) as pool:
            manifest = list(pool.map(lambda c: _write(c, tmp), said))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, folder)
    except OSError:
        if not (folder / "manifest.json").exists():  # not another process finishing first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def token(split: str, name: str = "speech") -> str:
    """The cache key of a split: changes with the material (the source files, the synthesizers, the build)."""
    return f"{VERSION}-{_material(_plan(SIZES[name]))}-{split}"


def load_speech_split(split: str, name: str = "speech") -> Source:
    """The clips of `split` ("train" or "test") of `name` as a dataset of file paths (`audio`), labels (`label`),
    source utterances (`utterance`), voices and their kind of synthesis (`voice`, `family`; "" for recordings),
    and the pan and delay (in samples) each clip was made stereo with."""
    if split not in SPLITS:
        raise UserInputError(f"{name} has the splits {list(SPLITS)}, not {split!r}")
    folder = build(name=name)
    rows = [r for r in json.loads((folder / "manifest.json").read_text()) if r["split"] == split]
    features = Features(
        {
            "audio": Value("string"),
            "label": ClassLabel(names=LABELS),
            "utterance": Value("string"),
            "voice": Value("string"),
            "family": Value("string"),
            "pan": Value("float32"),
            "delay_samples": Value("int32"),
        }
    )
    columns = {
        "audio": [str(folder / f"{r['name']}.wav") for r in rows],
        "label": [LABELS.index(r["label"]) for r in rows],
        **{key: [r[key] for r in rows] for key in ("utterance", "voice", "family", "pan", "delay_samples")},
    }
    dataset = Dataset.from_dict(columns, features=features)
    return Source(dataset, None, "label", token(split, name), list(LABELS), {"audio": "audio"})


def describe(name: str = "speech") -> str:
    """A markdown table of the build: clips and minutes per split and label, voices per split."""
    rows = json.loads((build(name=name) / "manifest.json").read_text())
    lines = ["| split | label | clips | voices | minutes |", "|---|---|---|---|---|"]
    for split in SPLITS:
        for label in LABELS:
            these = [r for r in rows if r["split"] == split and r["label"] == label]
            voices = len({r["voice"] for r in these if r["voice"]})
            minutes = sum(r["seconds"] for r in these) / 60
            lines.append(f"| {split} | {label} | {len(these)} | {voices or '-'} | {minutes:.1f} |")
        total = sum(r["seconds"] for r in rows if r["split"] == split) / 60
        lines.append(f"| {split} | all | {sum(r['split'] == split for r in rows)} | | **{total:.1f}** |")
    return "\n".join(lines)


for _name, _what in (("speech", "over 2 hours"), ("speech-mini", "a few minutes, for tests")):
    BUILTIN[_name] = Builtin(
        lambda split, n=_name: load_speech_split(split, n),
        f"stereo 16 kHz speech (ALSA prompts, espeak-ng and Festival voices) and freedesktop sounds, {_what}, built "
        "locally; the test split's sentences and voices are never heard in training",
        lambda split, n=_name: token(split, n),
    )


if __name__ == "__main__":
    print(describe())  # noqa: T201
