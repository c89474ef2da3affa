import pytest
import torch

from padertorch_audio.classification import BasicBlock, ResNet
from padertorch_audio.classification.resnet import (
    FrameBatchNorm, strided_lengths)


def randomise_batch_norms(module, seed=0):
    """Non-trivial running statistics and affine parameters (a fresh
    BatchNorm in eval mode is the identity and would hide a missing mask)."""
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, (torch.nn.modules.batchnorm._BatchNorm,
                             FrameBatchNorm)):
            size = norm.weight.shape[0]
            norm.running_mean.copy_(torch.randn(size, generator=generator))
            norm.running_var.copy_(
                torch.rand(size, generator=generator) + 0.5)
            with torch.no_grad():
                norm.weight.copy_(torch.randn(size, generator=generator))
                norm.bias.copy_(torch.randn(size, generator=generator))
    return module


@pytest.mark.parametrize('length', [1, 2, 7, 8, 13])
def test_strided_lengths_are_the_frames_of_a_convolution(length):
    conv = torch.nn.Conv2d(1, 1, 3, stride=2, padding=1)
    assert conv(torch.zeros(1, 1, length, 4)).shape[2] \
        == strided_lengths(length, 2)
    assert strided_lengths(torch.tensor([length]), 1).item() == length


def test_padded_batch_equals_each_unpadded_item_in_eval_mode():
    torch.manual_seed(0)
    resnet = randomise_batch_norms(ResNet(
        channels=(3, 4, 5), num_blocks=(1, 2, 1), strides=(1, 2, 2))).eval()
    lengths = [23, 9, 16, 1, 10]  # odd and even at every stride
    features = torch.randn(5, 23, 12, dtype=torch.float64)
    resnet.double()
    with torch.no_grad():
        output, output_lengths = resnet(features, torch.tensor(lengths))
        assert output.shape == (5, 5 * 3, 6)
        assert output_lengths.tolist() == [
            resnet.output_lengths(length) for length in lengths]
        for b, length in enumerate(lengths):
            item, item_lengths = resnet(features[b:b + 1, :length])
            frames = item.shape[-1]
            assert frames == output_lengths[b]
            torch.testing.assert_close(output[b, :, :frames], item[0],
                                       rtol=1e-5, atol=1e-5)
            assert (output[b, :, frames:] == 0).all()


def test_output_size_and_layout():
    resnet = ResNet(channels=(2, 6), num_blocks=(1, 1), strides=(2, 2),
                    stem_channels=3).eval()
    images = []
    resnet.blocks[-1].register_forward_hook(
        lambda module, inputs, output: images.append(output[0]))
    output, lengths = resnet(torch.randn(2, 11, 13))
    assert lengths is None
    # mels 13 -> 7 -> 4, frames 11 -> 6 -> 3
    assert output.shape == (2, resnet.output_size(13), 3) == (2, 24, 3)
    assert resnet.stride == 4
    image = images[0]  # (batch, channels, frames, mels)
    assert image.shape == (2, 6, 3, 4)
    for channel in range(6):
        for mel in range(4):  # the features of a frame: channel-major
            torch.testing.assert_close(output[:, channel * 4 + mel],
                                       image[:, channel, :, mel])


def test_block_shortcut_only_where_the_shape_changes():
    assert BasicBlock(4, 4).shortcut_conv is None
    assert BasicBlock(4, 4, stride=2).shortcut_conv is not None
    assert BasicBlock(4, 8).shortcut_conv is not None


@pytest.mark.parametrize('call, message', [
    (lambda: ResNet(channels=(2, 3), num_blocks=(1,), strides=(1, 2)),
     'one entry per stage'),
    (lambda: ResNet(channels=(2,), num_blocks=(0,), strides=(1,)),
     'num_blocks must be positive'),
    (lambda: BasicBlock(2, 2, stride=3), 'stride must be 1 or 2'),
    (lambda: ResNet()(torch.zeros(2, 10)), r'found shape \(2, 10\)'),
    (lambda: ResNet()(torch.zeros(2, 10, 8), [10]),
     r'sequence_lengths of shape \(1,\)'),
])
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_frame_batch_norm_is_batch_norm_2d_of_the_valid_frames():
    torch.manual_seed(0)
    lengths = torch.tensor([7, 4, 9])
    x = torch.randn(3, 5, 9, 6, dtype=torch.float64) * 3 + 1
    x[1, :, 4:] = float('nan')  # padding may hold anything
    x[0, :, 7:] = 1e6
    norm = FrameBatchNorm(5).double()
    reference = torch.nn.BatchNorm2d(5).double()
    with torch.no_grad():
        for module in (norm, reference):
            module.weight.copy_(torch.linspace(0.5, 2, 5))
            module.bias.copy_(torch.linspace(-1, 1, 5))
    for step in range(3):  # training: batch statistics, running statistics
        x = x.detach().requires_grad_()
        y = norm(x, lengths)
        # the reference: the valid frames of all examples as one image
        valid = torch.cat([x[b, :, :length] for b, length
                           in enumerate(lengths)], dim=1)[None]
        expected = reference(valid)[0]
        pieces = torch.split(expected, lengths.tolist(), dim=1)
        for b, length in enumerate(lengths):
            torch.testing.assert_close(y[b, :, :length], pieces[b])
            assert (y[b, :, length:] == 0).all()
        weights = torch.randn_like(expected)
        (y_grad,) = torch.autograd.grad(
            (torch.cat([y[b, :, :length] for b, length
                        in enumerate(lengths)], dim=1) * weights).sum(), x)
        (reference_grad,) = torch.autograd.grad(
            (expected * weights).sum(), x)
        torch.testing.assert_close(y_grad, reference_grad)
    torch.testing.assert_close(norm.running_mean, reference.running_mean)
    torch.testing.assert_close(norm.running_var, reference.running_var)
    assert norm.num_batches_tracked == reference.num_batches_tracked == 3
    norm.eval(), reference.eval()
    torch.testing.assert_close(norm(x[:1, :, :7]), reference(x[:1, :, :7]))
