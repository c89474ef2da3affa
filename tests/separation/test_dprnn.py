import pytest
import torch

from padertorch_audio.modules import GlobalLayerNorm
from padertorch_audio.separation import (
    DPRNN, DPRNN_PAPER, DPRNN_PAPER_WINDOW2, TasNet)
from padertorch_audio.separation._norm import GlobalNorm
from padertorch_audio.separation.dprnn import DualPathBlock


def num_parameters(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize('config', [DPRNN_PAPER, DPRNN_PAPER_WINDOW2])
def test_paper_parameter_count(config):
    # Luo et al. 2020: 2.6M parameters.
    count = num_parameters(TasNet.from_config(config))
    assert count == pytest.approx(2.6e6, rel=0.03)


@pytest.mark.parametrize('shape', [(2, 5, 7, 4), (3, 11, 4)])
def test_global_norm_channels_last_equals_module(shape):
    torch.manual_seed(0)
    norm = GlobalNorm(shape[-1]).double()
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    reference = GlobalLayerNorm(shape[-1], layout='btc').double()
    reference.load_state_dict(norm.state_dict())
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    actual = norm(x)
    expected = reference(x.reshape(shape[0], -1, shape[-1])).reshape(shape)
    torch.testing.assert_close(actual, expected)
    gradient = torch.randn(shape, dtype=torch.float64)
    actual_grad = torch.autograd.grad(actual, x, gradient)[0]
    expected_grad = torch.autograd.grad(expected, x, gradient)[0]
    torch.testing.assert_close(actual_grad, expected_grad)


def test_global_norm_channels_first_equals_module():
    norm = GlobalNorm(4, channels_last=False).double()
    reference = GlobalLayerNorm(4).double()
    x = torch.randn(2, 4, 9, dtype=torch.float64) * 3 + 1
    torch.testing.assert_close(norm(x), reference(x))


def reference_block(block, x):
    """The dual-path block with a Python loop over chunks and positions,
    one LSTM call per sequence, and the module gLN."""
    batch, chunks, chunk, size = x.shape

    def norm_of(module):
        reference = GlobalLayerNorm(size, layout='btc').double()
        reference.load_state_dict(module.state_dict())
        return lambda y: reference(y.reshape(batch, -1, size)).reshape(
            y.shape)

    intra = torch.empty_like(x)
    for b in range(batch):
        for s in range(chunks):
            output, _ = block.intra_lstm(x[b, s][:, None])  # (time, 1, .)
            intra[b, s] = block.intra_linear(output[:, 0])
    x = x + norm_of(block.intra_norm)(intra)
    inter = torch.empty_like(x)
    for b in range(batch):
        for k in range(chunk):
            output, _ = block.inter_lstm(x[b, :, k][:, None])
            inter[b, :, k] = block.inter_linear(output[:, 0])
    return x + norm_of(block.inter_norm)(inter)


def test_dual_path_block_equals_loop_reference():
    torch.manual_seed(1)
    block = DualPathBlock(size=6, hidden_size=5).double()
    with torch.no_grad():
        for norm in (block.intra_norm, block.inter_norm):
            norm.weight.normal_()
            norm.bias.normal_()
    x = torch.randn(2, 4, 7, 6, dtype=torch.float64)
    actual = block(x)
    assert actual.is_contiguous()
    torch.testing.assert_close(actual, reference_block(block, x))


@pytest.mark.parametrize('frames', [7, 10, 23])
def test_dprnn_equals_loop_reference(frames):
    """Segmentation into half-overlapping chunks, the blocks, and the
    overlap-add of the chunk outputs, written out with loops."""
    torch.manual_seed(2)
    dprnn = DPRNN(input_size=5, bottleneck_size=6, hidden_size=3,
                  num_blocks=2, chunk_size=6, num_speakers=3,
                  mask_activation='relu').double()
    features = torch.randn(2, 5, frames, dtype=torch.float64)
    x = GlobalLayerNorm(5).double()(features)
    x = dprnn.bottleneck(x).transpose(1, 2)  # (batch, frames, 6)
    chunk, hop = 6, 3
    starts = range(0, max(frames - chunk, 0) + hop, hop)
    starts = [s for s in starts if s == 0 or s + chunk - hop < frames]
    padded = torch.nn.functional.pad(x, (0, 0, 0, starts[-1] + chunk - frames))
    chunks = torch.stack([padded[:, s:s + chunk] for s in starts], dim=1)
    for block in dprnn.blocks:
        chunks = reference_block(block, chunks)
    chunks = dprnn.output(dprnn.output_activation(chunks))  # (b, S, K, 3*5)
    summed = torch.zeros(2, starts[-1] + chunk, 15, dtype=torch.float64)
    for index, s in enumerate(starts):
        summed[:, s:s + chunk] += chunks[:, index]
    masks = summed[:, :frames].transpose(1, 2).reshape(2, 3, 5, frames)
    torch.testing.assert_close(dprnn(features), torch.relu(masks))


def test_layer_norm_variant_runs():
    dprnn = DPRNN(input_size=4, bottleneck_size=4, hidden_size=3,
                  num_blocks=1, chunk_size=4, norm='ln')
    assert dprnn(torch.randn(1, 4, 9)).shape == (1, 2, 4, 9)
    with pytest.raises(ValueError, match="Unknown normalisation 'cln'"):
        DPRNN(norm='cln')
