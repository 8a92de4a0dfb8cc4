"""The course glossary: key terms in English with the Chinese used by the original lecture notes.

Chapters point here instead of scattering Chinese terms through the code:

    >>> from course_lib.glossary import lookup
    >>> lookup("stride").chinese
    '步长'

To add terms, add lines to ``_TABLE``: ``chapters | english | 中文 | one-line meaning``, then run
``python -m course_lib.glossary --write`` to refresh ``docs/glossary.md`` (a test checks it is current).

Each chapter's introduction marks its key terms on one line, which a test checks against this table:

    **Key terms** ([glossary](../../docs/glossary.md)): convolution 卷积 · stride 步长
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Term", "GLOSSARY", "lookup", "find_term", "terms_for", "show_glossary", "key_terms", "render_markdown"]


@dataclass(frozen=True)
class Term:
    english: str
    chinese: str
    chapters: tuple[str, ...]
    meaning: str


_TABLE = """
ch02 | convolution | 卷积 | dot product of a kernel with every window of the input
ch02 | kernel / filter | 卷积核 / 滤波器 | the small learnable weight array slid over the input
ch02,ch03,ch09,ch14 | feature map | 特征图 | one output channel of a convolution or pooling layer
ch02,ch03 | stride | 步长 | how many pixels the window moves per step
ch02 | zero padding | 补零 / 填充 (pad) | zeros added around the input to control the output size
ch02,ch09 | receptive field | 感受野 | the input region one output unit depends on
ch02 | weight sharing | 权值共享 | the same kernel is used at every position
ch02 | local connectivity | 局部连接 | each output looks only at a small window
ch02 | number of parameters | 参数量 | (KH·KW·C_in + 1)·C_out for a conv layer
ch02,ch08 | computation (FLOPs / MACs) | 计算量 | cost of a forward pass in multiply-accumulates (MACs: one multiply + one add); FLOPs count both, so FLOPs ≈ 2 × MACs
ch01,ch02 | fully-connected layer | 全连接层 | every input connected to every output
ch02 | cross-correlation | 互相关 | convolution without flipping the kernel (what CNNs compute)
ch01,ch02,ch03 | backpropagation | 反向传播 | the chain rule applied layer by layer
ch01,ch02 | gradient checking | 梯度检验 | comparing analytic gradients with finite differences
ch03 | pooling | 池化 | summarising each window by one number; no parameters
ch03 | max pooling | 最大池化 | keep the largest value of each window
ch03 | average pooling | 平均池化 | keep the mean of each window
ch03,ch08 | overlapping pooling | 重叠池化 | windows larger than the stride (AlexNet: 3×3, stride 2)
ch03,ch08,ch09 | global average pooling | 全局平均池化 | one mean per channel; replaces FC layers (NiN, GoogLeNet)
ch03,ch10 | spatial pyramid pooling | 空间金字塔池化 | pooling into n×n grids at several levels: a fixed-length output for any input size (SPP-net's experiments 6,3,2,1 = 50 bins, windows ⌈a/n⌉ with stride ⌊a/n⌋; the notes' 4,2,1 = 21 bins)
ch03 | L2 pooling | L2池化 | √(Σ x²) over each window: Lp pooling with p = 2 (PyTorch's lp_pool2d sums, it does not average)
ch03 | stochastic pooling | 随机池化 | training: pick one activation of each window with probability aᵢ/Σa; test: Σ a²/Σ a (Zeiler & Fergus, 2013)
ch03 | translation invariance | 平移不变性 | the output changes little when the input shifts
ch03 | downsampling | 下采样 | reducing the spatial size of feature maps
ch01,ch04 | activation function | 激活函数 | non-linear function after each layer; without it a deep network is one linear map
ch04 | nonlinearity | 非线性 | what activations add to raise a network's expressive power (表达能力)
ch01,ch04 | step function | 阶跃函数 | the perceptron's original activation: 0/1, no useful derivative
ch04 | sigmoid | Sigmoid 函数 (S 型函数) | 1/(1+e^{-x}): output in (0, 1), slope at most 1/4
ch04 | hyperbolic tangent | 双曲正切 (tanh) | 2σ(2x) − 1: zero-centred output in (−1, 1), common in RNNs
ch04 | zero-centred output | 以 0 为中心的输出 | sigmoid's outputs are all positive (输出不是以0为中心), tanh's are not
ch04 | saturation | 饱和 | region where an activation is flat, so its gradient is ≈ 0
ch04,ch13,ch11 | vanishing gradient | 梯度消失 / 梯度离散 / 梯度弥散 | gradients shrink layer by layer on the way back (σ′ ≤ 1/4 → (1/4)^10 ≈ 1e-6)
ch04,ch11 | exploding gradient | 梯度爆炸 | gradients grow layer by layer on the way back
ch04 | ReLU (rectified linear unit) | 修正线性单元 | max(x, 0): slope 1 for x > 0, 0 otherwise
ch04 | dead ReLU | 神经元死亡 (死亡 ReLU) | a unit ≤ 0 for every input: it never gets a gradient again
ch04 | leaky ReLU | 带泄露的 ReLU (Leaky ReLU) | slope α (0.01; YOLO 0.1) for x ≤ 0 keeps gradients alive
ch04 | ELU (exponential linear unit) | 指数线性单元 | α(eˣ − 1) for x ≤ 0: smooth, saturates at −α
ch04 | GELU (Gaussian error linear unit) | 高斯误差线性单元 | x·Φ(x): the activation of BERT/GPT
ch04 | softmax | Softmax (归一化指数函数) | turns K logits into probabilities that sum to 1
ch04 | log-sum-exp trick | 对数-求和-指数技巧 | subtract the max before exp so nothing overflows
ch04 | Xavier / He initialisation | Xavier / He 初始化 | Glorot: Var(w) = 2/(fan_in + fan_out), = 1/D for D × D layers (tanh, sigmoid); He: 2/fan_in (ReLU); keeps signals steady. 1/fan_in alone is LeCun's
ch01 | perceptron | 感知机 | a thresholded weighted sum w·x + b; one straight decision boundary (Rosenblatt 1957/58)
ch01 | error-driven learning | 错误驱动 | the perceptron rule: change the weights only when a sample is misclassified
ch01 | feed-forward neural network | 前馈神经网络 | layers where each layer's output is the next one's input, nothing flows back
ch01 | multi-layer perceptron (MLP) | 多层感知机 | a feed-forward net of fully-connected layers with non-linear activations
ch01 | hidden layer | 隐藏层 | a layer between input and output; it has no target of its own
ch01 | credit assignment problem | 贡献度分配问题 | which weight is responsible for how much of the output's error
ch01 | gradient descent | 梯度下降 | step every parameter against its gradient: p ← p − η ∂L/∂p
ch01 | cross-entropy loss | 交叉熵损失 | −log of the softmax probability of the correct class, averaged over the batch
ch01 | AI winter | 冰河期 | the 1970s lull after Minsky & Papert (1969) showed one perceptron cannot do XOR
ch06 | loss function | 损失函数 | one number for how wrong a prediction is; its gradient trains the network
ch06 | loss layer | loss层 / 损失层 | last layer: computes the loss forward and its gradient backward
ch06 | cross-entropy | 交叉熵 | −Σ q·log p; with a one-hot target −log p_y, the negative log-likelihood
ch06 | entropy | 熵 | −Σ q·log q: how uncertain a distribution is (0 for one-hot, log K for uniform)
ch06 | likelihood | 似然 | probability of the observed labels under the model; cross-entropy is its negative log
ch06 | softmax loss | softmax loss | softmax followed by cross-entropy, computed from logits
ch06 | binary cross-entropy | 二分类交叉熵 | −[t·log σ(x) + (1−t)·log(1−σ(x))] for a yes/no logit
ch06 | one-hot encoding | one-hot 编码 | a class index as a vector with a single 1
ch06 | L2 loss | L2损失 | (prediction − target)²; gradient grows with the error
ch06 | class imbalance | 类别不平衡 | very few positives among many negatives (1 : 1000 anchors)
ch06,ch10 | focal loss | focal loss (焦点损失) | −α_t(1−p_t)^γ·log p_t: down-weights easy examples (RetinaNet)
ch06,ch10 | one-stage / two-stage detector | one stage系 / two stage系 (单阶段 / 双阶段) | detect in one pass vs. propose regions first, then classify
ch06 | classification / regression loss | 分类任务损失 / 回归任务损失 | cross-entropy for classes; L1/L2/Smooth L1 for boxes
ch06 | L1 loss | L1损失 | abs(prediction − target); constant gradient, kink at 0
ch06 | Smooth L1 loss | Smooth L1 损失 | quadratic inside abs(d) < β, linear outside; box regression in Fast/Faster R-CNN, SSD
ch05 | batch normalization | 批归一化 (BN) | normalise each channel with the mini-batch mean/variance, then scale by γ and shift by β
ch05 | running statistics | 滑动平均 (移动平均) 统计量 | per-channel mean/variance averaged over training batches, used in evaluation mode
ch05 | momentum (in BN) | 动量 | weight of the new batch statistic in the running average (torch 0.1 = Keras 0.9)
ch05 | internal covariate shift | 内部协变量偏移 | change of a layer's input distribution during training; BN's original motivation
ch05,ch16 | layer normalization | 层归一化 | normalise each sample over its last dimensions; no batch statistics, same in training and evaluation
ch05 | dropout | 丢弃法 (Dropout) | zero each unit with probability p during training (the notes: Dropout 层, 随机的丢掉一部分输入)
ch05 | inverted dropout | 反向丢弃法 | scale kept units by 1/(1−p) during training so evaluation is the identity
ch05 | local response normalization | 局部响应归一化 (LRN) | divide by a power of the summed squares of neighbouring channels (AlexNet)
ch05 | lateral inhibition | 侧抑制 | strong responses suppress their neighbours; LRN's inspiration
ch05 | overfitting | 过拟合 | fitting the training set's noise: training loss keeps falling while test loss rises
ch05 | regularization | 正则化 | anything that reduces overfitting: dropout, L2 / weight decay, BN's batch noise
ch05 | weight decay / L2 regularization | 权重衰减 / L2 正则 | penalty on the squared weights
ch05 | generalization | 泛化 | performance on data not seen in training
ch05 | mini-batch | 小批量 | the samples used for one gradient step; BN's statistics come from it
ch05 | training mode / evaluation mode | 训练模式 / 测试(推理)模式 | batch statistics vs running statistics (model.train() / model.eval())
ch07 | learning rate | 学习率 (学习速率) | size of each step against the gradient
ch07 | momentum | 动量 | running sum of past gradients; speeds up along valleys, damps zig-zags
ch07 | Nesterov momentum | Nesterov 动量 | momentum that steps along g + μ·buffer (a look-ahead)
ch07 | RMSProp | RMSProp | divides each coordinate by the root-mean-square of its recent gradients
ch07 | Adam | Adam | momentum + RMSProp, with bias correction of both averages
ch07 | bias correction | 偏差修正 | divide by 1 − βᵗ so averages started at zero are not biased
ch07 | learning-rate schedule | 学习率调度 | the learning rate as a function of the epoch
ch07 | step decay | 阶梯衰减 | multiply the rate by γ every s epochs
ch07 | cosine annealing | 余弦退火 | rate follows half a cosine from η₀ to η_min
ch07 | warm-up | 预热 | grow the rate linearly over the first epochs
ch07 | reduce on plateau | 平台期学习率衰减 | cut the rate (e.g. ÷10) when the monitored loss stops improving (ReduceLROnPlateau); the notes' tip: 学习速率除以10
ch07 | weight initialization | 权重初始化 | how the starting weights are drawn
ch07 | Gaussian initialization | 高斯分布初始权重 | N(0, σ²) with a fixed small σ such as 0.01
ch07 | uniform initialization | 均匀分布初始权重 | U(a, b) with a fixed range
ch07 | Xavier / Glorot initialization | Glorot 初始权重 | Var(w) = 2/(fan_in + fan_out); for tanh and linear units
ch07 | He initialization | He 初始化 | std = gain/√fan_in (√2 for ReLU); keeps ReLU activations' scale
ch07 | fan-in / fan-out | 输入/输出扇数 | inputs / outputs per unit (C·KH·KW / F·KH·KW for a conv)
ch07 | epoch | 轮 (epoch) | one pass over the whole training set
ch07 | shuffling | 样本随机化 | a new random order of examples every epoch
ch07 | input normalization | 归一化 | standardise each feature with the training mean and std
ch07 | early stopping | 早停 (early stop) | stop when validation loss has not improved for `patience` epochs; keep the best weights
ch07 | condition number | 条件数 | ratio of largest to smallest curvature; makes gradient descent slow
ch15 | model compression | 模型压缩 | making a trained model smaller and/or faster at (almost) the same accuracy
ch15 | quantization | 量化 | storing numbers on a grid of few integer levels: x ≈ scale·(q − zero_point)
ch15 | linear (uniform) quantization | 线性量化 | evenly spaced levels; one scale/zero point per tensor or per channel
ch15 | weight quantization | 权重量化 | quantizing the weights (e.g. int8) while activations may stay float
ch15 | half precision (fp16) | 半精度 (fp16) | 16-bit float: 10-bit mantissa, max 65,504, 2× smaller than float32
ch15 | pruning | 剪枝 | removing the weights, neurons or channels that matter least
ch15 | channel pruning | 通道剪枝 | structured pruning: drop whole filters by L1 norm → a smaller dense network
ch15 | weight sparsification | 权重稀疏化 | unstructured pruning: zero individual small weights, store as sparse
ch15 | network (knowledge) distillation | 网络蒸馏 / 知识蒸馏 | train a small student on a large teacher's softened outputs
ch15 | soft targets / temperature | 软目标 / 温度 | softmax(z/T), T > 1: flatter distributions reveal class similarities
ch15 | FFT convolution | FFT卷积 | convolution as a product of Fourier transforms; cost independent of kernel size
ch15 | Winograd convolution | Winograd卷积 | minimal filtering F(2×2,3×3): 16 instead of 36 multiplies per output tile
ch17 | autoencoder | 自编码器 | a network trained to reproduce its input through a narrow code, learning a compressed representation
ch17 | encoder | 编码器 | the part of an autoencoder that maps an input to its code
ch17 | decoder | 解码器 | the part of an autoencoder that maps a code back to an input-shaped output
ch17 | bottleneck | 瓶颈层 | the narrowest layer of an autoencoder, whose activations are the code
ch17 | lossy compression | 有损压缩 | compression whose decoding only approximates the original, trading bits for error
ch17 | upsampling | 上采样 | any operation that raises the resolution of a feature map (unpooling, transposed convolution, interpolation)
ch17 | transposed convolution | 转置卷积 | the notes say 反卷积 (deconvolution), a misnomer: it does not invert a convolution. The adjoint of a convolution: each input pixel stamps the kernel onto the output S pixels apart; the convolution's backward pass for its input
ch17 | unpooling | 上池化 | the partial inverse of max pooling: each pooled value goes back to its recorded position, zeros elsewhere
ch17 | interpolation | 插值 | filling in new pixels from their neighbours by a fixed rule such as nearest or bilinear
ch17 | denoising autoencoder | 去噪自编码器 | an autoencoder trained to map corrupted inputs to the clean originals
ch17 | variational autoencoder | 变分自编码器 | an autoencoder whose encoder outputs a distribution over codes, trained on the ELBO so that decoding prior samples generates data
ch17 | latent space | 隐空间 | the space of the codes z between encoder and decoder
ch17 | reparameterization trick | 重参数化技巧 | writing z = mu + sigma * eps with eps ~ N(0, I) so that sampling is differentiable in mu and sigma
ch17 | KL divergence | KL 散度 | how much a distribution q differs from p, the expectation under q of log q − log p; zero only when they are equal
ch17 | evidence lower bound (ELBO) | 证据下界 | the VAE objective E_q[log p(x given z)] − KL(q(z given x) ‖ p(z)), a lower bound on log p(x)
ch08 | ILSVRC / ImageNet | 大规模视觉识别挑战赛 | the yearly ImageNet classification contest (1.2 M images, 1000 classes) where AlexNet, VGG, GoogLeNet and ResNet won or placed
ch08 | top-5 error rate | top-5 错误率 | fraction of images whose true class is not among the model's five highest scores
ch08 | 1×1 convolution | 1×1 卷积 | a per-pixel fully-connected layer across channels; mixes channels and reduces or raises their number cheaply
ch08 | Inception module | Inception 模块 | parallel 1×1, 3×3, 5×5 convolutions and 3×3 pooling (with 1×1 reductions) concatenated along channels
ch08 | auxiliary classifier | 辅助分类器 (辅助分类节点) | a small classifier on an intermediate layer whose loss is added with weight 0.3 in training and dropped at test time
ch08 | factorization into small convolutions | 小卷积分解 | replacing 5×5 by two 3×3 or n×n by 1×n + n×1 convolutions: fewer weights, more non-linearity
ch08 | residual learning | 残差学习 | a block learns F(x) = H(x) − x and outputs F(x) + x
ch08 | shortcut connection | 跳跃连接 | a path that adds a block's input to its output, skipping its layers
ch08 | degradation problem | 退化问题 | deeper plain networks reach a higher training error than shallower ones; not overfitting
ch08 | bottleneck block | 瓶颈结构 (瓶颈层) | 1×1 reduce, 3×3, 1×1 expand residual block of ResNet-50/101/152
ch08 | identity mapping | 恒等映射 (全等映射) | a shortcut that passes x unchanged; pre-activation blocks keep the whole shortcut path an identity
ch08 | Highway network | 高速公路网络 | layers y = H(x)·T(x) + x·(1 − T(x)) whose learned gate decides how much input to carry through
ch08 | gating unit | 门控单元 | a sigmoid unit that scales how much of a signal passes, as in LSTM and Highway networks
ch09 | forward hook | 前向钩子 | a function PyTorch calls after a module's forward pass, used to read or replace its output
ch09 | heatmap | 热力图 | a map over the input (or a feature map) colouring how much each position matters
ch09 | saliency map | 显著图 | the largest absolute gradient of the class score over each pixel's channels: one backward pass (Simonyan et al., 2014)
ch09 | input gradient | 输入梯度 | the gradient of an output with respect to the input pixels instead of the weights
ch09 | class activation map (CAM) | 类激活图 | Σ_k w_ck·A_k: the linear classifier after global average pooling applied at every position (Zhou et al., 2016)
ch09 | Grad-CAM | 梯度加权类激活图 | ReLU(Σ_k α_k·A_k) with α_k the spatially averaged gradient of the class score: CAM for any conv layer
ch09 | occlusion sensitivity | 遮挡敏感度 | how much the class probability drops when a patch of the image is hidden, for every patch position
ch09 | interpretability | 可解释性 | how far a model's decisions can be explained in terms a person understands
ch09 | sanity check | 合理性检验 | a test that an explanation changes when the model's weights are randomised (Adebayo et al., 2018)
ch10 | object detection | 目标检测 | find every object in an image: its class and its bounding box
ch10 | bounding box | 边界框 | axis-aligned box (x1, y1, x2, y2) around an object
ch10 | intersection over union (IoU) | 交并比 | area of overlap divided by area of union of two boxes; above 0.5 usually counts as a hit
ch10 | non-maximum suppression (NMS) | 非极大值抑制 | keep the highest-scoring box, drop the boxes that overlap it above an IoU threshold, repeat
ch10 | region proposal | 区域提议 | a candidate box that may contain an object (Selective Search gives about 2,000 per image)
ch10 | anchor | 锚框 | a reference box of fixed size and aspect ratio at every feature-map location from which boxes are regressed
ch10 | region proposal network (RPN) | 区域提议网络 | Faster R-CNN's conv head that scores 9 anchors per location as object or background and regresses their offsets
ch10 | RoI pooling | 感兴趣区域池化 | max-pool each region of interest of the shared feature map into a fixed grid (7×7), as in Fast R-CNN
ch10 | bounding-box regression | 边界框回归 | predicting offsets (t_x, t_y, t_w, t_h) that move an anchor or proposal onto the object
ch10 | precision | 查准率 | TP / (TP + FP): the share of detections that are correct
ch10 | recall | 查全率 | TP / (TP + FN): the share of objects that are found
ch10 | mean average precision (mAP) | 平均精度均值 | mean over classes (for COCO also over IoU 0.50…0.95) of the area under the precision-recall curve
ch10 | anchor-free | 无锚框 | detectors that regress boxes from points or centres instead of anchors (FCOS, CenterNet)
ch13 | generative adversarial network | 生成对抗网络 | a generator and a discriminator trained against each other until the generator's samples look like the data
ch13 | generator | 生成器 | the network that maps random noise z to samples G(z)
ch13 | discriminator | 判别器 | the network that outputs the probability D(x) that x is real rather than generated
ch13 | minimax game | 极小极大博弈 | min over G, max over D of one value V(D, G); at the equilibrium its value is −log 4
ch13 | zero-sum game | 零和博弈 | one player's gain is the other's loss, so one objective serves both networks
ch13 | mode collapse | 模式崩溃 | the generator produces only a few kinds of samples (a few modes of the data)
ch13 | Wasserstein distance | Wasserstein 距离 | the earth mover's cost of moving one distribution onto another; the WGAN critic estimates it
ch13 | gradient penalty | 梯度惩罚 | WGAN-GP's term λ·E(‖∇f(x̂)‖₂ − 1)² that keeps the critic close to 1-Lipschitz
ch13 | weight clipping | 权重裁剪 | the original WGAN's Lipschitz constraint: clamp every critic weight to [−c, c] after each step
ch13 | convolutional GAN (DCGAN) | 卷积GAN | a GAN with a transposed-convolution generator and a strided-convolution discriminator, with batch norm (Radford et al., 2015)
ch13 | unsupervised learning | 无监督学习 | learning from unlabelled data, e.g. its distribution
ch16 | attention | 注意力 | a weighted mean of value vectors whose weights come from how well a query matches each key
ch16 | self-attention | 自注意力机制 | attention in which queries, keys and values are all projections of the same sequence
ch16 | query, key, value | 查询、键、值 | the three projections of attention: queries are matched against keys to weight the values
ch16 | scaled dot-product attention | 缩放点积注意力 | softmax(QKᵀ/√E)V; the √E keeps the softmax from saturating
ch16 | attention mask | 注意力掩码 | a boolean or additive array that stops some queries from attending to some keys
ch16 | causal mask | 因果掩码 | a lower-triangular mask so that position i attends only to positions up to i
ch16 | multi-head attention | 多头注意力 | several attentions on slices of the features in parallel, their outputs concatenated and projected
ch16 | positional encoding | 位置编码 | a vector added to each token to say where it is, fixed (sinusoidal) or learned
ch16 | patch embedding | 图像块嵌入 | a linear map of non-overlapping image patches to tokens, written as a convolution with stride = kernel
ch16 | class token | 分类标记 | a learned extra token whose final state a ViT uses to classify the image
ch16 | encoder block | 编码器块 | a Transformer layer: attention and an MLP, each with layer normalization and a residual connection
ch16 | Vision Transformer (ViT) | 视觉 Transformer | a Transformer encoder applied to a sequence of image patches
ch16 | object query | 目标查询 | a learned input of the DETR decoder that becomes one predicted object or no object
ch16 | bipartite matching | 二分图匹配 | a one-to-one assignment of predictions to ground-truth objects at minimum total cost (Hungarian algorithm)
ch11 | recurrent neural network (RNN) | 循环神经网络 | one cell with shared weights applied at every time step, carrying a hidden state forward
ch11 | hidden state | 隐藏状态 | the vector an RNN passes from one time step to the next, summarising the sequence so far
ch11 | backpropagation through time (BPTT) | 通过时间反向传播 | backpropagation on the RNN unrolled in time; weight gradients are summed over the steps
ch11 | bidirectional RNN | 双向循环神经网络 | a forward and a reversed RNN whose states are concatenated, so every output sees the whole sequence
ch11 | gradient clipping | 梯度裁剪 | rescale all gradients so their global L2 norm is at most a threshold, against exploding gradients
ch11 | spectral radius | 谱半径 | the largest absolute eigenvalue of a matrix; above 1 repeated products grow, below 1 they shrink
ch11 | language model | 语言模型 | a model of the probability of the next token given the previous ones
ch11 | sampling temperature | 采样温度 | dividing logits by τ before softmax: τ < 1 sharpens, τ > 1 flattens the distribution
ch11 | sequence data | 序列数据 | ordered data whose elements depend on each other, such as text, speech or video
ch11 | encoder–decoder | 编码器–解码器 | one RNN reads the input sequence, its last state starts another that writes an output of another length (seq2seq: translation)
ch12 | long short-term memory (LSTM) | 长短期记忆网络 | a gated RNN with a cell state that is changed only by element-wise forgetting and adding, so memories and gradients survive many steps
ch12 | cell state | 单元状态 | the LSTM's memory c_t = f ⊙ c_{t−1} + i ⊙ g, the "conveyor belt" that runs through time without matrix products
ch12 | forget gate | 遗忘门 | the sigmoid gate f that decides how much of the previous cell state to keep
ch12 | input gate | 输入门 | the sigmoid gate i that decides how much of the candidate g to write into the cell state
ch12 | output gate | 输出门 | the sigmoid gate o that decides how much of tanh(c_t) to show as the hidden state h_t
ch12 | gated recurrent unit (GRU) | 门控循环单元 | a gated RNN with two gates (reset and update) and no separate cell state; 3/4 of an LSTM's parameters
ch12 | update gate | 更新门 | the GRU's gate z: h' = (1 − z) ⊙ n + z ⊙ h, so z = 1 keeps the old state
ch12 | reset gate | 重置门 | the GRU's gate r that decides how much of the old state the candidate n may look at
ch12 | peephole connection | 窥孔连接 | an LSTM variant whose gates also read the cell state
ch12 | coupled input and forget gate | 耦合输入门和遗忘门 | an LSTM variant (CIFG) with one gate for both: i = 1 − f, so the cell state is a convex mix of old and new
ch12 | long-range dependency | 长程依赖 | an output that depends on inputs many time steps earlier
ch12 | adding problem | 加法问题 | a benchmark sequence task: output the sum of the two marked values of a long random sequence
ch14 | neural style transfer | 神经风格迁移 | optimising an image so that its deep features match a content image and its feature correlations match a style image
ch14 | content image | 内容图像 | the photo whose layout the result keeps
ch14 | style image | 风格图像 | the picture whose textures and colours the result takes on
ch14 | content loss | 内容损失 | ½ Σ (F − P)² between the features of the result and of the content image at one deep layer
ch14 | style loss | 风格损失 | the weighted sum over layers of the squared differences of Gram matrices, Σ_l w_l E_l
ch14 | Gram matrix | 格拉姆矩阵 / 相关矩阵 | G = F Fᵀ / (H·W): the correlations between the feature maps of a layer, with the positions averaged out
ch14 | total variation loss | 全变分损失 | the sum of squared differences of neighbouring pixels; penalises speckle
ch14 | random features | 随机特征 | features of a network with random, untrained weights; they already capture texture
ch14 | pre-trained weights | 预训练权重 | weights learned on another task (e.g. ImageNet), loaded instead of trained
"""


def _parse(table: str) -> tuple[Term, ...]:
    terms = []
    for line in filter(None, (ln.strip() for ln in table.splitlines())):
        chapters, english, chinese, meaning = (part.strip() for part in line.split("|"))
        terms.append(Term(english, chinese, tuple(c.strip() for c in chapters.split(",")), meaning))
    return tuple(terms)


GLOSSARY: tuple[Term, ...] = _parse(_TABLE)


def lookup(english: str) -> Term:
    """The term whose English name contains ``english`` (case-insensitive)."""
    if (term := find_term(english)) is not None:
        return term
    key = english.lower()
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


#: The marker line of a chapter introduction (see the module docstring).
KEY_TERMS = re.compile(r"\*\*Key terms\*\*\s*\(\[glossary\]\([^)]*\)\):\s*(?P<terms>.+(?:\n[ \t]*\S.*)*)")
_CJK = re.compile(r"[\u3400-\u9fff]")


def key_terms(markdown: str) -> list[tuple[str, str]]:
    """The ``(english, chinese)`` pairs marked on a chapter's "**Key terms**" line (empty if none).

    >>> key_terms("**Key terms** ([glossary](g.md)): stride 步长 · max pooling 最大池化")
    [('stride', '步长'), ('max pooling', '最大池化')]
    """
    found = KEY_TERMS.search(markdown)
    if not found:
        return []
    pairs = []
    for item in " ".join(found["terms"].split()).split(" · "):  # the line may wrap
        item = item.strip()
        cjk = _CJK.search(item)
        if not cjk:
            raise ValueError(f"key term {item!r} has no Chinese: write it as 'english 中文'")
        # The Chinese starts at the first CJK character, unless it opens with Latin letters of its own
        # ("Nesterov momentum Nesterov 动量"): then the longest English prefix that is a term wins.
        words = item[:cjk.start()].split()
        english = " ".join(words)
        for n in range(len(words) - 1, 0, -1):
            if find_term(" ".join(words[:n])) is not None and find_term(english) is None:
                english = " ".join(words[:n])
                break
        pairs.append((english, item.removeprefix(english).strip()))
    return pairs


def find_term(english: str) -> Term | None:
    """The term named exactly ``english`` (or one of its ``a / b`` alternatives), case-insensitive."""
    key = english.lower()
    for term in GLOSSARY:
        if key == term.english.lower() or key in term.english.lower().split(" / "):
            return term
    return None


def render_markdown() -> str:
    """``docs/glossary.md``: every term, alphabetically, with the chapters that use it."""
    lines = ["# Glossary — 术语表", "",
             "Key terms of the course in English and in the Chinese of the original lecture notes.",
             "Generated from `course_lib/glossary.py` by `python -m course_lib.glossary --write`;",
             "in a notebook: `from course_lib.glossary import show_glossary; show_glossary(\"ch02\")`.", "",
             "| English | 中文 | meaning | chapters |", "|---|---|---|---|"]
    for t in sorted(GLOSSARY, key=lambda t: t.english.lower()):
        chapters = ", ".join(c[2:] for c in t.chapters)
        lines.append(f"| {t.english} | {t.chinese} | {t.meaning} | {chapters} |")
    return "\n".join(lines) + "\n"


DOC = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"

if __name__ == "__main__":  # python -m course_lib.glossary [--write]
    if "--write" in sys.argv:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(render_markdown(), encoding="utf-8")
        print(f"wrote {DOC} ({len(GLOSSARY)} terms)")
    else:
        print(render_markdown(), end="")
