"""The style-transfer explorer, driven headless with a tiny random extractor."""

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402

from course_lib.reference import style  # noqa: E402
from course_lib.viz.style import StyleTransferExplorer  # noqa: E402


def test_explorer_reruns_on_every_control_and_reports_errors():
    torch.manual_seed(0)
    extractor = style.random_features(widths=(8, 16))
    ex = StyleTransferExplorer(extractor, size=24, steps=5)
    assert ex.view.widget.value[:4] == b"\x89PNG" and ex.error is None and "5 Adam steps at 24×24" in ex.info
    png, result = ex.view.widget.value, ex.result.clone()
    ex.beta_slider.value = 1e2
    assert ex.view.widget.value != png and not torch.equal(ex.result, result)
    ex.style_dropdown.value = "flower"
    ex.layers_select.value = ("pixels",)
    assert ex.error is None and ex.history["style"][-1] < ex.history["style"][0]
    ex.layers_select.value = ()
    assert "at least one style layer" in ex.info

    def broken(*args):
        raise ValueError("oops")
    bad = StyleTransferExplorer(extractor, objective=broken, size=16, steps=2)
    assert bad.error is not None and "transfer_objective raised ValueError" in bad.info
