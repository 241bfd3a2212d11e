"""The classifier whose features the generative benchmarks measure in: model, objective, pipeline."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hf_genzoo.data import load_images
from hf_genzoo.models import ImageClassifier
from hf_genzoo.pipelines import ClassifierPipeline
from hf_genzoo.training import make_config, train

from .conftest import randomize_parameters

TINY = dict(sample_size=8, num_classes=3, block_out_channels=(8, 16))


def tiny_classifier(**kw) -> ImageClassifier:
    torch.manual_seed(0)
    model = ImageClassifier(in_channels=1, mean=[0.3], std=[0.2], class_names=["a", "b", "c"], **{**TINY, **kw})
    return randomize_parameters(model, scale=0.3).eval()


def test_shapes_and_the_standardization_inside():
    model = tiny_classifier()
    x = torch.rand(5, 1, 8, 8)
    out = model(x)
    assert out.logits.shape == (5, 3) and out.features.shape == (5, 16) and model.feature_dim == 16
    # the first conv sees (x - mean) / std: the same as feeding standardized images to a model with mean 0, std 1
    plain = ImageClassifier(in_channels=1, mean=[0.0], std=[1.0], **TINY).eval()
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(plain((x - 0.3) / 0.2).logits, out.logits)


def test_a_side_the_pooling_cannot_take_says_what_works():
    with pytest.raises(ValueError, match=r"need a side of at least 16; got 8\. Pass fewer block_out_channels"):
        ImageClassifier(sample_size=8, block_out_channels=(8, 16, 32, 64))
    assert ImageClassifier(sample_size=28)(torch.rand(2, 1, 28, 28)).features.shape == (2, 128)  # 28 -> 14 -> 7 -> 3
    with pytest.raises(ValueError, match="at least 2 classes"):
        ImageClassifier(num_classes=1)


class TestClassifierPipeline:
    def get_pipeline(self):
        return ClassifierPipeline(classifier=tiny_classifier())

    def run(self, pipe, generator):
        x = torch.rand(4, 1, 8, 8, generator=generator)
        return torch.cat([pipe(x).probs, pipe.features(x)], dim=1)

    def test_labels_are_the_argmax_with_names(self):
        pipe = self.get_pipeline()
        x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1))
        out = pipe(x, max_batch_size=4)  # two chunks
        probs = F.softmax(pipe.classifier(x).logits, -1)
        torch.testing.assert_close(out.probs, probs)
        assert out.labels.tolist() == probs.argmax(-1).tolist()
        assert out.names == [["a", "b", "c"][i] for i in out.labels.tolist()]
        # PIL and numpy inputs go through the same conversion
        pil = pipe.numpy_to_pil(x.permute(0, 2, 3, 1).numpy())
        torch.testing.assert_close(pipe.features(pil), pipe.features(x), atol=1e-2, rtol=2e-2)  # 8-bit rounding


def test_training_on_digits_classifies_held_out_digits(tiny_train_kwargs):
    cfg = make_config("classifier", **tiny_train_kwargs, epochs=4, model_config="block_out_channels=(16, 32)")
    result = train(cfg)
    assert result.metrics["accuracy"] > 0.9 and result.metrics["worst_class_accuracy"] > 0.7
    assert result.history[0]["cross_entropy"] > result.history[-1]["cross_entropy"]
    pipe = ClassifierPipeline.from_pretrained(result.output_dir)
    test = load_images("digits", "test")
    out = pipe(torch.from_numpy(np.array(test.images)))
    accuracy = (out.labels.numpy() == test.labels).mean()
    assert accuracy == pytest.approx(result.metrics["accuracy"], abs=1e-9)  # the pipeline is what was evaluated
    assert pipe.classifier.config.class_names == test.label_names
    assert "image-classification" in (result.output_dir / "README.md").read_text()


def test_a_dataset_without_labels_is_refused(tmp_path, tiny_train_kwargs):
    import PIL.Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(4):
        PIL.Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    cfg = make_config("classifier", **{**tiny_train_kwargs, "dataset": f"imagefolder:{folder}", "eval_split": "train"})
    with pytest.raises(ValueError, match="no labels; a classifier needs a label column"):
        train(cfg)
