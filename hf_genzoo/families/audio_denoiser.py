"""The audio denoiser family: objective `AudioDenoiserObjective`, pipeline `AudioDenoisingPipeline`."""

from ..family import Family, Tiny
from ..models.audio_denoiser import AudioDenoisingAE, SpectralMaskNet, WaveUNet
from ..pipelines.audio_denoiser import AudioDenoisingPipeline
from ..registry import register_family
from ..training.audio_denoiser import AudioDenoiserObjective, denoise, evaluate_pipeline, example_waves


def app_panels() -> tuple:
    from ..app.panels import AudioDenoise  # lazy: loading a denoiser does not import the app

    return (AudioDenoise(),)


register_family(
    Family(
        "audio_denoiser",
        AudioDenoiserObjective,
        AudioDenoisingPipeline,
        Tiny("hidden_size=16,gru_layers=1", steps=30, dataset="speech-mini"),
        models=(WaveUNet, SpectralMaskNet, AudioDenoisingAE),
        data_kind="audio",
        data_options=lambda pipe: {
            "sampling_rate": pipe.denoiser.config.sampling_rate,
            "channels": pipe.denoiser.config.audio_channels,
        },
        pipeline_tag="audio-to-audio",
        transform=denoise,
        evaluate=evaluate_pipeline,
        inputs=example_waves,
        app=app_panels,
    )
)
