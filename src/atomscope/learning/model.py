"""The FusionNet-style fully convolutional network of seed Fig 6.6 (network only).

Four levels (feature maps ``width`` × 1, 2, 4, 8; lowest resolution 1/8). Each level is
conv → residual block (three 3×3 convs plus the input) → conv, every conv followed by ReLU and
then batch normalisation (seed §6.3.4, Eq 6.12). Down: 2× max pooling. Up: a 2× transposed conv
initialised as bilinear interpolation, added to the same level's encoder output (long skip).
Scoring: 1×1 conv and a softmax over the classes and the background (Eq 6.13); output channel 0
is the background. Optional (not the seed's): a `GlobalContext` branch at the lowest level.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from atomscope.core.memory import check_memory
from atomscope.core.validate import check_positive_int


def read_weights(path, name: str):
    """``torch.load(path, weights_only=True)`` on the CPU (no code runs from the file); a
    ``ValueError`` naming ``name`` with the first line of the reason if the file is missing or
    cannot be read.

    Examples
    --------
    >>> read_weights("/no/such/model.pt", "model file 'x'")
    Traceback (most recent call last):
    ...
    ValueError: model file 'x' does not exist
    """
    if not Path(path).is_file():
        raise ValueError(f"{name} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for damaged files
        lines = str(error).strip().splitlines()
        reason = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        raise ValueError(f"{name} could not be read: {reason}") from None


LEVELS = 4
"""Resolution levels of `FusionNet` (feature maps ``width`` × 1, 2, 4, 8)."""


def _conv(in_channels: int, out_channels: int) -> nn.Sequential:
    # seed §6.3.4: 3×3 conv, ReLU (Eq 6.12), then batch normalisation
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(out_channels),
    )


class ResidualBlock(nn.Module):
    """Three 3×3 conv layers whose output is added to the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*(_conv(channels, channels) for _ in range(3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Level(nn.Sequential):
    """conv → residual block → conv."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            _conv(in_channels, out_channels),
            ResidualBlock(out_channels),
            _conv(out_channels, out_channels),
        )


class GlobalContext(nn.Module):
    """Image-level features added back at every position (ParseNet's global context, Liu,
    Rabinovich & Berg 2015, arXiv:1506.04579): x + W₂·mean_xy ReLU(W₁·x), W₁ and W₂ 1×1 convs.

    The mean is taken after a per-pixel layer and its ReLU because the maps it reads end in a
    normalisation, whose per-image mean is a constant when each image is normalised by its own
    statistics. W₂ starts at zero, so a network given the branch first computes what it
    computed without it (weights of a network without it load as they are).

    Examples
    --------
    >>> x = torch.randn(2, 4, 8, 8)
    >>> bool(torch.equal(GlobalContext(4)(x), x))
    True
    """

    def __init__(self, channels: int):
        super().__init__()
        self.features = nn.Conv2d(channels, channels, 1)
        self.broadcast = nn.Conv2d(channels, channels, 1)
        with torch.no_grad():
            self.broadcast.weight.zero_()
            self.broadcast.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.relu(self.features(x)).mean(dim=(2, 3), keepdim=True)
        return x + self.broadcast(pooled)


def bilinear_upsampling(in_channels: int, out_channels: int) -> nn.ConvTranspose2d:
    """2× transposed conv (kernel 4, stride 2, padding 1) initialised as bilinear interpolation.

    Output channel j interpolates the mean of input channels j·r … j·r + r − 1 with
    r = in_channels / out_channels, so with equal input channels it reproduces
    ``F.interpolate(scale_factor=2, mode="bilinear")`` away from the border. Bias starts at 0.

    Examples
    --------
    >>> layer = bilinear_upsampling(4, 2)
    >>> tuple(layer(torch.ones(1, 4, 8, 8)).shape)
    (1, 2, 16, 16)
    """
    ratio, remainder = divmod(in_channels, out_channels)
    if remainder:
        raise ValueError(
            f"in_channels ({in_channels}) must be a multiple of out_channels ({out_channels})"
        )
    layer = nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1)
    # 1D bilinear kernel for a factor 2 (pixel-centre aligned): [1, 3, 3, 1] / 4
    kernel1d = torch.tensor([0.25, 0.75, 0.75, 0.25])
    kernel = kernel1d[:, None] * kernel1d[None, :]
    with torch.no_grad():
        layer.weight.zero_()
        for j in range(out_channels):
            layer.weight[j * ratio : (j + 1) * ratio, j] = kernel / ratio
        layer.bias.zero_()
    return layer


def parameter_count(
    width: int, in_channels: int = 1, num_classes: int = 1, global_context: bool = False
) -> int:
    """Numbers a `FusionNet` stores: its parameters and batch-norm running statistics.

    Examples
    --------
    >>> parameter_count(4) == sum(t.numel() for t in FusionNet(width=4).state_dict().values())
    True
    >>> net = FusionNet(width=4, global_context=True)
    >>> parameter_count(4, global_context=True) == sum(t.numel() for t in net.state_dict().values())
    True
    """
    channels = [width * 2**level for level in range(LEVELS)]

    def conv(c_in: int, c_out: int) -> int:
        # 3×3 weights and bias; batch norm: weight, bias, running mean and variance, a counter
        return 9 * c_in * c_out + c_out + 4 * c_out + 1

    def level(c_in: int, c_out: int) -> int:
        return conv(c_in, c_out) + 4 * conv(c_out, c_out)  # conv, residual block of 3, conv

    encoder = sum(
        level(c_in, c_out)
        for c_in, c_out in zip([in_channels, *channels[:-2]], channels[:-1], strict=True)
    )
    # up: 4×4 transposed conv (weights, bias) and a decoder level per skip
    decoder = sum(16 * 2 * c * c + c + level(c, c) for c in channels[:-1])
    score = (channels[0] + 1) * (num_classes + 1)  # 1×1 conv with bias
    context = 2 * (channels[-1] + 1) * channels[-1] if global_context else 0  # two 1×1 convs
    return encoder + level(channels[-2], channels[-1]) + decoder + score + context


#: What torch allocates on a first pass besides the maps (thread pools, oneDNN kernels, for
#: training the autograd engine) [B]: measured 19 MiB (inference) and 96 MiB (training).
_TORCH_FIRST_PASS = {False: 24 * 2**20, True: 100 * 2**20}


def memory_estimate(
    width: int,
    tile_size: int,
    in_channels: int = 1,
    num_classes: int = 1,
    batch_size: int = 1,
    training: bool = False,
) -> int:
    """Peak bytes [B] of a `FusionNet` (float32) on ``batch_size`` tiles of ``tile_size`` px.

    The numbers of the network (`parameter_count`; with ``training`` also their gradients and
    Adam's two moments), the feature maps and what torch allocates on a first pass. Maps in
    inference: the encoder outputs kept for the skips and seven maps of the first level (its
    input, the upsampled map, conv and norm outputs, the residual input and sum, the
    convolution's workspace). In training: every map the backward pass keeps (per level five
    convolutions with their batch norms and the residual sum; pooled maps with their int64
    indices, upsampled maps and skip sums; the scores), × 1.5 for the gradients being
    propagated and the allocator's slack (measured 1.0–1.6). Measured/estimated: 0.6–1.2.
    The network has `LEVELS` levels.

    Parameters
    ----------
    width
        Feature maps at the first level.
    tile_size
        Side of the (square) input tiles [px], a multiple of 8.
    in_channels, num_classes
        As for `FusionNet`.
    batch_size
        Tiles per forward pass.
    training
        Count what a training step holds instead of an inference pass.

    Returns
    -------
    int
        Bytes [B].

    Examples
    --------
    >>> round(memory_estimate(32, 256, batch_size=16) / 2**20)
    1168
    """
    width = check_positive_int("width", width)
    tile_size = check_positive_int("tile_size", tile_size)
    batch_size = check_positive_int("batch_size", batch_size)
    # feature maps (elements) of level l: width·2^l channels on (tile / 2^l)² pixels per tile
    maps = [batch_size * width * 2**level * (tile_size / 2**level) ** 2 for level in range(LEVELS)]
    numbers = parameter_count(width, in_channels, num_classes)
    if training:
        numbers *= 4  # weights, gradients and Adam's two moments
        levels = 11 * (2 * sum(maps[:-1]) + maps[-1])  # 10 conv/norm outputs + residual per level
        links = 3 * sum(maps[1:]) / 2 + 2 * sum(maps[:-1])  # pooled + indices; up and skip sums
        scores = 2 * batch_size * (num_classes + 1) * tile_size**2  # conv and softmax
        activations = 1.5 * (levels + links + scores)
    else:
        activations = sum(maps[:-1]) + 7 * maps[0]  # the skips, and the first level at work
    inputs = batch_size * in_channels * tile_size**2
    return int(4 * (numbers + activations + inputs) + _TORCH_FIRST_PASS[bool(training)])


class FusionNet(nn.Module):
    """Seed Fig 6.6: encoder–decoder with residual blocks and additive long skips.

    Parameters
    ----------
    in_channels
        Number of input images (1, or the length of a focal series).
    num_classes
        Number of classes without the background; the output has ``num_classes + 1`` maps.
    width
        Feature maps at the first level (the seed: 32); doubled at each of the 4 levels.
    global_context
        Add a `GlobalContext` branch after the lowest level (not in the seed): what the whole
        input shows, e.g. which sign of phase contrast the lens gave, reaches every pixel.

    Notes
    -----
    Input height and width must be multiples of 8.

    Examples
    --------
    >>> net = FusionNet(in_channels=1, num_classes=1, width=4).eval()
    >>> maps = net(torch.zeros(2, 1, 32, 32))
    >>> tuple(maps.shape), bool(torch.allclose(maps.sum(1), torch.ones(2, 32, 32)))
    ((2, 2, 32, 32), True)
    """

    levels = LEVELS

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 1,
        width: int = 32,
        global_context: bool = False,
    ):
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.width = check_positive_int("width", width)
        if not isinstance(global_context, bool):
            raise ValueError(f"global_context must be true or false, got {global_context!r}")
        self.global_context = global_context
        # the network itself, before any layer is allocated (the smallest tile: 8 × 8 px)
        check_memory(
            memory_estimate(width, 8, in_channels, num_classes),
            f"a FusionNet of width={width} ({parameter_count(width, in_channels, num_classes):.3g} "
            f"numbers; in_channels={in_channels}, num_classes={num_classes})",
            "use a smaller width (or fewer in_channels or num_classes)",
        )
        channels = [width * 2**level for level in range(self.levels)]
        self.encoder = nn.ModuleList(
            Level(c_in, c_out)
            for c_in, c_out in zip([in_channels, *channels[:-2]], channels[:-1], strict=True)
        )
        self.pool = nn.MaxPool2d(2)
        self.bottom = Level(channels[-2], channels[-1])
        if global_context:
            self.context = GlobalContext(channels[-1])
        self.upsample = nn.ModuleList(
            bilinear_upsampling(channels[i + 1], channels[i]) for i in reversed(range(3))
        )
        self.decoder = nn.ModuleList(Level(channels[i], channels[i]) for i in reversed(range(3)))
        self.score = nn.Conv2d(channels[0], num_classes + 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        if self.global_context:
            x = self.context(x)
        for upsample, level, skip in zip(self.upsample, self.decoder, reversed(skips), strict=True):
            x = level(upsample(x) + skip)
        # Eq 6.13: softmax over the class maps
        return torch.softmax(self.score(x), dim=1)


class _FoldedConv(nn.Module):
    """conv → ReLU → batch norm (eval) as one conv and one clamp: with the batch-norm scale
    a > 0 and shift b, BN(ReLU(z)) = a·max(z, 0) + b = max(a·z + b, b)."""

    def __init__(self, conv: nn.Conv2d, norm: nn.BatchNorm2d):
        super().__init__()
        scale, shift = _affine(norm)
        self.conv = conv  # scaled in place: `fold_batch_norm` hands over its own copy
        with torch.no_grad():
            conv.weight.mul_(scale[:, None, None, None])
            conv.bias.mul_(scale).add_(shift)
        self.register_buffer("floor", shift.detach().view(1, -1, 1, 1).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).clamp_(min=self.floor)


def _affine(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale a and shift b of an eval-mode batch norm: y = a·x + b."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return scale, norm.bias - scale * norm.running_mean


def per_image_statistics(model: nn.Module) -> nn.Module:
    """An inference copy of ``model`` whose batch norms normalise each image by the mean and
    variance of its own feature maps (an instance norm with the batch norm's scale and shift)
    instead of the running statistics of training.

    A batch norm in training mode on the crops of one image does this; with a network trained so
    (``TrainConfig(batch_statistics="image")``), training and inference agree for images whose
    statistics are far from the training set's average, as those of a lens never trained on.

    Examples
    --------
    >>> net = FusionNet(width=2)
    >>> x = torch.randn(1, 1, 16, 16)
    >>> with torch.no_grad():
    ...     bool(torch.allclose(per_image_statistics(net)(x), net.train()(x), atol=1e-6))
    True
    """
    import copy

    adapted = copy.deepcopy(model).eval()

    def replace(module: nn.Module) -> None:
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d):
                norm = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=True)
                with torch.no_grad():
                    norm.weight.copy_(child.weight)
                    norm.bias.copy_(child.bias)
                setattr(module, name, norm)
            else:
                replace(child)

    replace(adapted)
    return adapted


def fold_batch_norm(model: nn.Module) -> nn.Module:
    """An inference-only copy of ``model`` with each conv → ReLU → batch norm whose batch-norm
    scales are all positive replaced by one conv and a clamp (equal up to rounding; the other
    blocks are kept as they are). About 1.2–1.4× faster on CPU.

    Examples
    --------
    >>> net = FusionNet(width=2).eval()
    >>> x = torch.randn(1, 1, 16, 16)
    >>> bool(torch.allclose(fold_batch_norm(net)(x), net(x), atol=1e-6))
    True
    """
    import copy

    folded = copy.deepcopy(model).eval()

    def replace(module: nn.Module) -> None:
        for name, child in module.named_children():
            if (
                isinstance(child, nn.Sequential)
                and len(child) == 3
                and isinstance(child[0], nn.Conv2d)
                and isinstance(child[1], nn.ReLU)
                and isinstance(child[2], nn.BatchNorm2d)
                and bool((_affine(child[2])[0] > 0).all())
            ):
                setattr(module, name, _FoldedConv(child[0], child[2]))
            else:
                replace(child)

    with torch.no_grad():
        replace(folded)
    return folded
