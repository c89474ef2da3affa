import numpy as np
import pytest
import torch

from padertorch_audio.ops import (
    compute_mask, masked_mean, masked_sum, overlap_add, pad_sequence, segment,
    unpad)


# --- compute_mask ----------------------------------------------------------

def test_compute_mask_equals_a_loop():
    lengths = [3, 0, 5]
    mask = compute_mask(torch.zeros(3, 2, 5), lengths, sequence_axis=-1)
    for b, n in enumerate(lengths):
        for t in range(5):
            assert mask[b, :, t].tolist() == [t < n] * 2


def test_compute_mask_rejects_lengths_beyond_the_axis():
    with pytest.raises(ValueError, match=r'\[0, 4\].*\(2, 4\)'):
        compute_mask(torch.zeros(2, 4), [5, 1])


# --- masked_sum / masked_mean ---------------------------------------------

@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_masked_mean_over_samples_equals_a_loop(dtype):
    x = torch.randn(3, 2, 7, dtype=dtype)
    lengths = [7, 1, 4]
    mean = masked_mean(x, lengths, axis=-1)
    total = masked_sum(x, lengths, axis=-1)
    assert mean.dtype == dtype and mean.shape == (3, 2)
    for b, n in enumerate(lengths):
        for c in range(2):
            values = x[b, c, :n].tolist()
            assert total[b, c].item() == pytest.approx(sum(values), rel=1e-5)
            assert mean[b, c].item() == pytest.approx(sum(values) / n, rel=1e-5)


def test_masked_mean_over_frames_and_all_axes_equals_a_loop():
    x = torch.randn(2, 6, 3, dtype=torch.float64)  # (batch, frames, bins)
    lengths = [2, 6]
    per_bin = masked_mean(x, lengths, axis=1, sequence_axis=-2)
    overall = masked_mean(x, lengths, sequence_axis=-2)
    valid = [x[b, :n].numpy() for b, n in enumerate(lengths)]
    np.testing.assert_allclose(per_bin.numpy(), [v.mean(0) for v in valid])
    np.testing.assert_allclose(
        overall.item(), np.concatenate([v.ravel() for v in valid]).mean())
    kept = masked_mean(x, lengths, axis=(1, 2), sequence_axis=-2, keepdim=True)
    assert kept.shape == (2, 1, 1)
    np.testing.assert_allclose(kept[:, 0, 0].numpy(), [v.mean() for v in valid])


def test_masked_mean_ignores_nan_padding_but_not_nan_data():
    x = torch.tensor([[1., float('nan')], [float('nan'), 2.]], requires_grad=True)
    mean = masked_mean(x, [1, 2], axis=-1)
    assert mean[0].item() == 1. and torch.isnan(mean[1])
    mean[0].backward()
    assert x.grad.tolist() == [[1., 0.], [0., 0.]]


def test_masked_mean_of_an_empty_example_is_nan_and_int_input_gives_float():
    mean = masked_mean(torch.tensor([[1, 2], [3, 4]]), [0, 2], axis=-1)
    assert mean.dtype == torch.get_default_dtype()
    assert torch.isnan(mean[0]) and mean[1].item() == 3.5


# --- pad_sequence / unpad --------------------------------------------------

def test_pad_sequence_equals_torch_and_unpad_inverts_it():
    items = [torch.randn(n, 3) for n in (4, 1, 6)]  # (frames, bins)
    batch = pad_sequence(items, axis=-2, pad_value=-1.)
    expected = torch.nn.utils.rnn.pad_sequence(
        items, batch_first=True, padding_value=-1.)
    assert torch.equal(batch, expected)
    assert torch.equal(pad_sequence(items, axis=1, pad_value=-1.), expected)
    back = unpad(batch, [4, 1, 6], axis=-2)
    assert all(torch.equal(a, b) for a, b in zip(back, items))


def test_pad_sequence_along_samples():
    batch = pad_sequence([torch.ones(2, 3), torch.ones(2, 1)])
    assert batch.tolist() == [[[1, 1, 1], [1, 1, 1]], [[1, 0, 0], [1, 0, 0]]]
    assert [t.shape for t in unpad(batch, [3, 1])] == [(2, 3), (2, 1)]


def test_pad_sequence_rejects_shapes_that_differ_elsewhere():
    with pytest.raises(ValueError, match=r'\(2, 3\), \(4, 1\)'):
        pad_sequence([torch.ones(2, 3), torch.ones(4, 1)], axis=-1)
    with pytest.raises(ValueError, match='at least one'):
        pad_sequence([])


def test_unpad_checks_the_lengths():
    with pytest.raises(ValueError, match=r'one entry per example.*\(2, 3\)'):
        unpad(torch.zeros(2, 3), [1, 2, 3])


# --- segment / overlap_add -------------------------------------------------

def segment_loop(x, length, shift):
    """Reference: the segments as a list of lists, zero-padded at the end."""
    x = list(x)
    segments, start = [], 0
    while True:
        chunk = x[start:start + length]
        segments.append(chunk + [0.] * (length - len(chunk)))
        if start + length >= len(x):
            return segments
        start += shift


@pytest.mark.parametrize('num_samples', [1, 5, 8, 9, 16, 17, 30])
@pytest.mark.parametrize('length, shift', [(8, 4), (8, 8), (8, 3), (6, 1)])
def test_segment_equals_a_loop(num_samples, length, shift):
    x = torch.randn(num_samples, dtype=torch.float64)
    expected = segment_loop(x.tolist(), length, shift)
    assert segment(x, length, shift).tolist() == expected


@pytest.mark.parametrize('num_samples', [1, 7, 8, 9, 100, 101, 1003])
def test_overlap_add_averaged_is_the_exact_inverse_for_half_overlap(num_samples):
    x = torch.randn(2, 3, num_samples)
    segments = segment(x, 100, 50)
    assert segments.shape[:2] == (2, 3) and segments.shape[-1] == 100
    assert torch.equal(overlap_add(segments, 50, num_samples, average=True), x)


@pytest.mark.parametrize('length, shift', [(8, 3), (6, 1), (7, 7), (16, 5)])
def test_overlap_add_averaged_inverts_other_shifts(length, shift):
    for num_samples in (3, 40, 41):
        x = torch.randn(num_samples, dtype=torch.float64)
        y = overlap_add(segment(x, length, shift), shift, num_samples, average=True)
        torch.testing.assert_close(y, x, rtol=1e-15, atol=1e-15)


def test_overlap_add_sums_the_segments_as_a_loop_does():
    segments = torch.randn(4, 3, 10, 6)
    y = overlap_add(segments, 4, 40)
    expected = torch.zeros(4, 3, 42)
    for m in range(10):
        expected[..., 4 * m:4 * m + 6] += segments[..., m, :]
    torch.testing.assert_close(y, expected[..., :40])


def test_segment_and_overlap_add_pass_gradients():
    x = torch.randn(2, 23, requires_grad=True)
    y = overlap_add(segment(x, 6, 3) * 2, 3, 23)
    y.sum().backward()
    # segments start at 0, 3, ..., 18: samples 0-2 and 21-22 lie in one
    expected = torch.full((2, 23), 4.)
    expected[:, :3] = expected[:, 21:] = 2.
    assert torch.equal(x.grad, expected)


def test_segment_and_overlap_add_reject_bad_arguments():
    with pytest.raises(ValueError, match='shift <= segment_length'):
        segment(torch.zeros(10), 4, 5)
    with pytest.raises(ValueError, match='shift <= segment_length'):
        segment(torch.zeros(10), 4, 0)
    with pytest.raises(ValueError, match=r'\[0, 10\].*\(3, 4\).*found 11'):
        overlap_add(torch.zeros(3, 4), 3, 11)
