"""A temperature explorer for a character language model: move τ, watch the text and the distribution."""

from __future__ import annotations

import html

import numpy as np

from course_lib.viz._common import ControlPanel, FigureView, format_error, int_slider

__all__ = ["TemperatureSampler"]


def _softmax(z):
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


class TemperatureSampler(ControlPanel):
    """Generate text from a character model at a chosen temperature.

    Args:
        model: a torch module called as ``model(ids (T, 1) int64 tensor, h) -> (logits (T, 1, V), h)``.
        vocab: a :class:`course_lib.sequences.CharVocab`.
        sampler: ``sampler(logits (V,), temperature, rng) -> int`` (your ``sample_with_temperature``);
            None uses the course's reference.
        prompt: the text fed in first. n_chars: characters to generate. top: bars in the chart.
    """

    def __init__(self, model, vocab, sampler=None, prompt="def ", n_chars=200, temperature=1.0, top=15):
        import ipywidgets as widgets

        super().__init__()
        if sampler is None:
            from course_lib.reference.rnn import sample_with_temperature as sampler
        self.model, self.vocab, self.sampler = model, vocab, sampler
        self.n_chars, self.top = int(n_chars), int(top)
        self.temperature_slider = widgets.FloatSlider(
            value=temperature, min=0.1, max=2.5, step=0.1, description="temperature τ", continuous_update=False,
            style={"description_width": "90px"}, layout=widgets.Layout(width="320px"))
        self.seed_slider = int_slider("seed", 0, 20, 0)
        self.prompt_text = widgets.Text(value=prompt, description="prompt", style={"description_width": "90px"},
                                        layout=widgets.Layout(width="320px"))
        self.text_widget = widgets.HTML(layout=widgets.Layout(width="560px", min_height="12em"))
        self.view = FigureView((5.5, 2.4))
        self.ax = self.view.figure.add_subplot(1, 1, 1)
        self.text, self.probs = "", None
        self._watch(self.temperature_slider, self.seed_slider, self.prompt_text)
        controls = widgets.VBox([self.temperature_slider, self.seed_slider, self.prompt_text])
        self.widget = widgets.VBox([widgets.HBox([controls, self.view.widget]), self.info_widget, self.text_widget])
        self.update()

    def _next_logits(self, ids, h=None):
        import torch

        with torch.no_grad():
            logits, h = self.model(torch.as_tensor(np.asarray(ids, dtype=np.int64))[:, None], h)
        return logits[-1, 0].double().numpy(), h

    def update(self):
        tau, prompt = float(self.temperature_slider.value), self.prompt_text.value or " "
        self.error = None
        try:
            ids = self.vocab.encode(prompt)
        except ValueError as err:
            self.error = err
            self.info_widget.value = f"<span style='color:#b00020'>{html.escape(str(err))}</span>"
            return
        self.model.eval()
        logits, h = self._next_logits(ids)
        self.probs = _softmax(logits / tau)
        rng = np.random.default_rng(int(self.seed_slider.value))
        out = []
        try:
            for _ in range(self.n_chars):
                nxt = int(self.sampler(logits, tau, rng))
                out.append(nxt)
                logits, h = self._next_logits([nxt], h)
        except Exception as err:  # the student's sampler
            self.error = err
            self.info_widget.value = format_error(err, "sampler")
            return
        self.text = prompt + self.vocab.decode(out)
        entropy = float(-(self.probs * np.log(self.probs + 1e-300)).sum())
        self.info_widget.value = (f"τ = {tau:.1f}: entropy of the next character {entropy:.2f} nats "
                                  f"(uniform: ln V = {np.log(len(self.probs)):.2f})")
        self.text_widget.value = f"<pre style='font-size:11px'>{html.escape(self.text)}</pre>"
        self._draw(prompt)

    def _draw(self, prompt):
        order = np.argsort(self.probs)[::-1][:self.top]
        labels = [repr(self.vocab.chars[i])[1:-1] for i in order]
        self.ax.clear()
        self.ax.bar(range(len(order)), self.probs[order], color="C0")
        self.ax.set_xticks(range(len(order)), labels, fontsize=8)
        self.ax.set_ylim(0, 1)
        self.ax.set_title(f"p(next char | {prompt[-12:]!r}) at τ = {self.temperature_slider.value:.1f}", fontsize=9)
        self.view.figure.tight_layout()
        self.view.refresh()
