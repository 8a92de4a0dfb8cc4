"""How fast the FeatureMapExplorer redraws: median and p90 of its callbacks for LeNet-5.

Run: ``.venv/bin/python benchmarks/bench_widgets.py``. Each callback (a layer change, a channel change,
an image change — the image change includes the forward pass of an image not seen before) is timed
``EVENTS`` times from setting the control's value until the new PNG is in ``.picture``. Exits 1 if the
median of all callbacks misses the target (100 ms).
"""

import os
import statistics
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from course_lib.models import LeNet5  # noqa: E402
from course_lib.viz.features import FeatureMapExplorer  # noqa: E402

EVENTS = 30            # per kind of callback
TARGET_MEDIAN_MS = 100.0


def _time(set_value) -> float:
    start = time.perf_counter()
    set_value()
    return (time.perf_counter() - start) * 1e3


def main() -> int:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    explorer = FeatureMapExplorer(LeNet5())
    rng = np.random.default_rng(0)
    layers, images = explorer.layer_names, list(explorer.image.options)
    extra = [f"noise {i}" for i in range(EVENTS)]  # unseen images: every image change runs the model
    for name in extra:
        explorer.add_image(name, rng.random((1, 32, 32)), select=False)
    times: dict[str, list[float]] = {"layer change": [], "channel change": [], "image change": []}
    before = explorer.redraws
    for i in range(EVENTS):
        layer = layers[(layers.index(explorer.layer.value) + 1) % len(layers)]
        times["layer change"].append(_time(lambda layer=layer: setattr(explorer.layer, "value", layer)))
        channel = (explorer.channel.value + 1) % (explorer.channel.max + 1)
        if channel != explorer.channel.value:          # (a one-channel layer would fire nothing)
            times["channel change"].append(_time(lambda c=channel: setattr(explorer.channel, "value", c)))
        name = extra[i] if i % 2 == 0 else images[i % len(images)]
        if name == explorer.image.value:
            name = extra[i]
        times["image change"].append(_time(lambda n=name: setattr(explorer.image, "value", n)))
    fired = explorer.redraws - before
    all_ms = [t for ts in times.values() for t in ts]
    if fired != len(all_ms):
        print(f"expected one redraw per event, got {fired} redraws for {len(all_ms)} events")
        return 1
    print(f"FeatureMapExplorer on LeNet-5, {EVENTS} events per callback, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load {os.getloadavg()[0]:.1f}")
    print(f"{'callback':<16}{'median ms':>10}{'p90 ms':>9}")
    for kind, ts in times.items():
        print(f"{kind:<16}{statistics.median(ts):>10.1f}{np.percentile(ts, 90):>9.1f}")
    median = statistics.median(all_ms)
    ok = median <= TARGET_MEDIAN_MS
    print(f"{'all':<16}{median:>10.1f}{np.percentile(all_ms, 90):>9.1f}   target: median <= "
          f"{TARGET_MEDIAN_MS:.0f} ms -> {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
