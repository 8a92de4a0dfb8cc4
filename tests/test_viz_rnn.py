"""The temperature sampler, driven headless with a tiny untrained model."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course_lib.sequences import CharVocab  # noqa: E402
from course_lib.viz.rnn import TemperatureSampler  # noqa: E402


class Tiny(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.embed, self.rnn, self.head = nn.Embedding(v, 4), nn.RNN(4, 8), nn.Linear(8, v)

    def forward(self, ids, h=None):
        out, h = self.rnn(self.embed(ids), h)
        return self.head(out) * 3, h


def test_sampler_widget_reacts_to_temperature_and_reports_errors():
    torch.manual_seed(0)
    vocab = CharVocab("abcdef ghij():\n")
    ex = TemperatureSampler(Tiny(len(vocab)), vocab, prompt="abc", n_chars=30)
    assert ex.view.widget.value[:4] == b"\x89PNG" and ex.error is None
    assert ex.text.startswith("abc") and len(ex.text) == 33
    png, text, probs = ex.view.widget.value, ex.text, ex.probs.copy()
    np.testing.assert_allclose(probs.sum(), 1)
    ex.temperature_slider.value = 0.2
    assert ex.view.widget.value != png and ex.text != text
    assert ex.probs.max() > probs.max()                       # lower τ: sharper
    assert "entropy" in ex.info
    ex.prompt_text.value = "xyz€"
    assert ex.error is not None and "not in the vocabulary" in ex.info

    def broken(logits, temperature, rng):
        raise ValueError("oops")
    bad = TemperatureSampler(Tiny(len(vocab)), vocab, sampler=broken, prompt="a", n_chars=3)
    assert "sampler raised ValueError" in bad.info
