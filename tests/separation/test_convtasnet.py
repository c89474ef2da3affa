import copy

import pytest
import torch

from padertorch_audio.modules import CumulativeLayerNorm, GlobalLayerNorm
from padertorch_audio.separation import (
    CONVTASNET_PAPER, TCN, TINY_CONVTASNET, TasNet)
from padertorch_audio.separation.convtasnet import ConvBlock


def test_paper_parameter_count():
    # Luo & Mesgarani 2019: 5.1M parameters.
    model = TasNet.from_config(CONVTASNET_PAPER)
    count = sum(p.numel() for p in model.parameters())
    assert count == pytest.approx(5.1e6, rel=0.03)
    assert len(model.separator.blocks) == 24


@pytest.mark.parametrize('causal', [False, True])
@pytest.mark.parametrize('dilation', [1, 4])
def test_conv_block_equals_loop_reference(causal, dilation):
    torch.manual_seed(0)
    block = ConvBlock(3, 4, 2, kernel_size=3, dilation=dilation,
                      norm='cln' if causal else 'gln', causal=causal).double()
    x = torch.randn(2, 3, 11, dtype=torch.float64)
    norm = (CumulativeLayerNorm if causal else GlobalLayerNorm)(4).double()
    y = norm(block.activation1(block.input_conv(x)))
    # depthwise conv, one tap at a time
    weight, bias = block.depthwise_conv.weight[:, 0], block.depthwise_conv.bias
    offsets = [(p - 2) * dilation if causal else (p - 1) * dilation
               for p in range(3)]
    z = torch.zeros_like(y) + bias[:, None]
    for t in range(11):
        for p, offset in enumerate(offsets):
            if 0 <= t + offset < 11:
                z[:, :, t] += weight[:, p] * y[:, :, t + offset]
    z = norm(block.activation2(z))
    residual, skip = block(x)
    torch.testing.assert_close(residual, x + block.residual_conv(z))
    torch.testing.assert_close(skip, block.skip_conv(z))


def test_causal_masks_do_not_see_the_future():
    torch.manual_seed(1)
    config = copy.deepcopy(TINY_CONVTASNET['separator'])
    tcn = TCN.from_config({**config, 'causal': True}).double()
    features = torch.randn(1, 16, 30, dtype=torch.float64)
    changed = features.clone()
    changed[..., 20:] = torch.randn(1, 16, 10, dtype=torch.float64)
    torch.testing.assert_close(tcn(features)[..., :20],
                               tcn(changed)[..., :20])
    # The non-causal one does.
    tcn = TCN.from_config(config).double()
    assert not torch.allclose(tcn(features)[..., :20], tcn(changed)[..., :20])


def test_skip_connections_are_summed():
    torch.manual_seed(2)
    tcn = TCN(input_size=4, bottleneck_size=3, hidden_size=5, skip_size=2,
              num_layers=2, num_stacks=2, num_speakers=3).double()
    features = torch.randn(2, 4, 9, dtype=torch.float64)
    x = tcn.bottleneck(GlobalLayerNorm(4).double()(features))
    skips = []
    for block in tcn.blocks:
        residual, skip = block(x)
        skips.append(skip)
        x = residual
    assert x is None  # the last block has no residual output
    masks = tcn.output(tcn.output_activation(sum(skips)))
    expected = torch.sigmoid(masks.view(2, 3, 4, 9))
    torch.testing.assert_close(tcn(features), expected)
