"""ipywidgets explorers for the course notebooks (display one as the last line of a cell)."""

from course_lib.viz._common import show_images
from course_lib.viz.features import FeatureMapExplorer
from course_lib.viz.kernels import KernelPlayground
from course_lib.viz.pooling import PoolingExplorer

__all__ = ["FeatureMapExplorer", "KernelPlayground", "PoolingExplorer", "show_images"]
