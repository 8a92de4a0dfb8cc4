"""The course glossary: key terms in English with the Chinese used by the original lecture notes.

Chapters point here instead of scattering Chinese terms through the code:

    >>> from course_lib.glossary import lookup
    >>> lookup("stride").chinese
    '步长'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Term", "GLOSSARY", "lookup", "terms_for", "show_glossary"]


@dataclass(frozen=True)
class Term:
    english: str
    chinese: str
    chapters: tuple[str, ...]
    meaning: str


GLOSSARY: tuple[Term, ...] = (
    Term("convolution", "卷积", ("ch02",), "dot product of a kernel with every window of the input"),
    Term("kernel / filter", "卷积核 / 滤波器", ("ch02",), "the small learnable weight array slid over the input"),
    Term("feature map", "特征图", ("ch02", "ch03"), "one output channel of a convolution or pooling layer"),
    Term("stride", "步长", ("ch02", "ch03"), "how many pixels the window moves per step"),
    Term("zero padding", "补零 / 填充 (pad)", ("ch02",), "zeros added around the input to control the output size"),
    Term("receptive field", "感受野", ("ch02",), "the input region one output unit depends on"),
    Term("weight sharing", "权值共享", ("ch02",), "the same kernel is used at every position"),
    Term("local connectivity", "局部连接", ("ch02",), "each output looks only at a small window"),
    Term("number of parameters", "参数量", ("ch02",), "(KH·KW·C_in + 1)·C_out for a conv layer"),
    Term("computation (FLOPs / MACs)", "计算量", ("ch02",), "multiply-accumulates of a forward pass"),
    Term("fully-connected layer", "全连接层", ("ch02",), "every input connected to every output"),
    Term("cross-correlation", "互相关", ("ch02",), "convolution without flipping the kernel (what CNNs compute)"),
    Term("backpropagation", "反向传播", ("ch02", "ch03"), "the chain rule applied layer by layer"),
    Term("gradient checking", "梯度检验", ("ch02",), "comparing analytic gradients with finite differences"),
    Term("pooling", "池化", ("ch03",), "summarising each window by one number; no parameters"),
    Term("max pooling", "最大池化", ("ch03",), "keep the largest value of each window"),
    Term("average pooling", "平均池化", ("ch03",), "keep the mean of each window"),
    Term("overlapping pooling", "重叠池化", ("ch03",), "windows larger than the stride (AlexNet: 3×3, stride 2)"),
    Term("global average pooling", "全局平均池化", ("ch03",),
         "one mean per channel; replaces FC layers (NiN, GoogLeNet)"),
    Term("spatial pyramid pooling", "空间金字塔池化", ("ch03",),
         "pooling into fixed grids (1+4+16 = 21 bins): fixed-length output"),
    Term("translation invariance", "平移不变性", ("ch03",), "the output changes little when the input shifts"),
    Term("downsampling", "下采样", ("ch03",), "reducing the spatial size of feature maps"),
)


def lookup(english: str) -> Term:
    """The term whose English name contains ``english`` (case-insensitive)."""
    key = english.lower()
    for term in GLOSSARY:
        if key == term.english.lower() or key in term.english.lower().split(" / "):
            return term
    for term in GLOSSARY:
        if key in term.english.lower():
            return term
    raise KeyError(f"{english!r} is not in the glossary")


def terms_for(chapter: str) -> list[Term]:
    """Terms introduced in ``chapter`` (e.g. "ch02")."""
    return [t for t in GLOSSARY if chapter[:4] in t.chapters]


def show_glossary(chapter: str | None = None):
    """Display the glossary (or one chapter's part of it) as an HTML table in a notebook."""
    from IPython.display import HTML

    terms = terms_for(chapter) if chapter else list(GLOSSARY)
    rows = "".join(f"<tr><td>{t.english}</td><td>{t.chinese}</td><td>{t.meaning}</td></tr>" for t in terms)
    return HTML(f"<table><tr><th>English</th><th>中文</th><th>meaning</th></tr>{rows}</table>")
