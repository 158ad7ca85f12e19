"""FusionNet of seed Fig 6.6 (atomscope.learning.model)."""

import pytest
import torch
import torch.nn.functional as F

from atomscope.learning.model import FusionNet, bilinear_upsampling

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_transposed_conv_starts_as_bilinear_upsampling():
    layer = bilinear_upsampling(6, 3)
    x = torch.rand(2, 3, 10, 12)
    pairs = x.repeat_interleave(2, dim=1)  # input channels 2j and 2j+1 equal
    with torch.no_grad():
        up = layer(pairs)
    reference = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    assert up.shape == reference.shape == (2, 3, 20, 24)
    torch.testing.assert_close(up[..., 1:-1, 1:-1], reference[..., 1:-1, 1:-1])


def test_architecture_follows_fig_6_6():
    net = FusionNet(in_channels=3, num_classes=2, width=8)
    assert [level[0][0].out_channels for level in net.encoder] == [8, 16, 32]
    assert net.bottom[0][0].out_channels == 64  # lowest resolution 1/8 with 8 × width maps
    block = net.encoder[0][1]
    assert [m.kernel_size for m in block.modules() if isinstance(m, torch.nn.Conv2d)] == [
        (3, 3)
    ] * 3
    first = net.encoder[0][0]
    assert isinstance(first[1], torch.nn.ReLU) and isinstance(first[2], torch.nn.BatchNorm2d)
    assert net.score.kernel_size == (1, 1) and net.score.out_channels == 3
    with torch.no_grad():
        maps = net.eval()(torch.randn(2, 3, 24, 40))
    assert maps.shape == (2, 3, 24, 40)
    torch.testing.assert_close(maps.sum(dim=1), torch.ones(2, 24, 40))
    assert float(maps.min()) >= 0


def test_residual_block_is_identity_plus_body():
    block = FusionNet(width=4).encoder[0][1].eval()
    x = torch.randn(1, 4, 8, 8)
    torch.testing.assert_close(block(x), x + block.body(x))


def test_bad_arguments():
    with pytest.raises(ValueError, match="width"):
        FusionNet(width=0)
    with pytest.raises(TypeError, match="num_classes"):
        FusionNet(num_classes=1.5)
    with pytest.raises(ValueError, match="multiple"):
        bilinear_upsampling(5, 2)


def test_folded_batch_norm_equals_the_network_and_keeps_negative_scales():
    from atomscope.learning.model import _FoldedConv, fold_batch_norm

    torch.manual_seed(1)
    net = FusionNet(width=4)
    with torch.no_grad():  # trained-looking statistics, one negative scale
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.3, 0.3)
        net.encoder[0][0][2].weight[0] = -1.0
    net.eval()
    folded = fold_batch_norm(net)
    kinds = [type(m) for m in folded.modules()]
    norms = sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert kinds.count(_FoldedConv) == norms - 1  # the block with a negative scale stays
    x = torch.randn(2, 1, 48, 40)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), atol=2e-6, rtol=0)
    assert any(p.requires_grad for p in net.parameters())  # the original is untouched
