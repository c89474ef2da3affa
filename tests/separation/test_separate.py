import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from padertorch_audio.separation import separate

RATE = 1000  # Hz: chunk and overlap lengths below are in ms = samples


class FilterModel(torch.nn.Module):
    """An "oracle" separator: source k is the mixture through a fixed
    causal FIR filter. With ``rotate``, the output order is rotated by one
    more source at every call (as a model whose order changes between
    chunks)."""

    def __init__(self, num_sources=2, taps=5, rotate=False):
        super().__init__()
        generator = torch.Generator().manual_seed(num_sources)
        self.register_buffer('filters', torch.randn(
            num_sources, 1, taps, generator=generator))
        self.rotate, self.calls = rotate, 0

    def forward(self, example):
        x = example['observation'][:, None]
        x = torch.nn.functional.pad(x, (self.filters.shape[-1] - 1, 0))
        y = torch.nn.functional.conv1d(x, self.filters.flip(-1))
        if self.rotate:
            y = y.roll(self.calls, dims=1)
            self.calls += 1
        return y


def mixture(seconds=10.3, seed=0):
    generator = np.random.default_rng(seed)
    return (0.3 * generator.standard_normal(round(seconds * RATE))).astype(
        np.float32)


def whole(model, signal, **kwargs):
    return separate(model, signal, RATE, chunk_seconds=100, normalize=None,
                    **kwargs)


@pytest.mark.parametrize('num_sources', [2, 3])
def test_chunked_equals_whole_signal(num_sources):
    signal = mixture()
    model = FilterModel(num_sources)
    expected = whole(model, signal)
    chunked = separate(model, signal, RATE, chunk_seconds=1.,
                       overlap_seconds=0.2, normalize=None)
    assert chunked.shape == (num_sources, len(signal))
    # The FIR filter lacks 4 samples of history at a chunk start, where the
    # new chunk's fade-in weight is below 1e-3.
    np.testing.assert_allclose(chunked, expected, atol=1e-3)
    # a direct reference for the whole signal
    x = torch.from_numpy(signal).double()
    for k in range(num_sources):
        h = model.filters[k, 0].double()
        y = sum(h[j] * torch.nn.functional.pad(x, (j, 0))[:len(x)]
                for j in range(len(h)))
        np.testing.assert_allclose(expected[k], y.numpy(), atol=1e-5)


@pytest.mark.parametrize('num_sources', [2, 3])
def test_changing_source_order_is_realigned(num_sources):
    signal = mixture()
    expected = whole(FilterModel(num_sources), signal)
    rotating = FilterModel(num_sources, rotate=True)
    chunked = separate(rotating, signal, RATE, chunk_seconds=1.,
                       overlap_seconds=0.2, normalize=None)
    assert rotating.calls == 13  # chunks at 0, 0.8, ..., 9.6 s
    np.testing.assert_allclose(chunked, expected, atol=1e-3)


def test_batches_of_chunks_give_the_same_result():
    signal = mixture()
    model = FilterModel(2)
    one = separate(model, signal, RATE, chunk_seconds=1., overlap_seconds=0.3)
    four = separate(model, signal, RATE, chunk_seconds=1.,
                    overlap_seconds=0.3, batch_size=4)
    np.testing.assert_allclose(four, one, atol=1e-6)


@pytest.mark.parametrize('length', [1, 299, 1000, 1001, 1300])
def test_lengths_around_the_chunk_size(length):
    signal = mixture(length / RATE)
    model = FilterModel(2)
    chunked = separate(model, signal, RATE, chunk_seconds=1.,
                       overlap_seconds=0.3, normalize=None)
    np.testing.assert_allclose(chunked, whole(model, signal), atol=1e-3)


def test_levels_never_clip():
    signal = 5 * mixture()  # peak far above 1
    model = FilterModel(3)
    raw = whole(model, signal)
    common = separate(model, signal, RATE, chunk_seconds=100)
    assert np.abs(common).max() == pytest.approx(0.99)
    # one common factor: the relative levels are kept
    np.testing.assert_allclose(common, raw * (0.99 / np.abs(raw).max()),
                               rtol=1e-5, atol=1e-7)
    per_source = separate(model, signal, RATE, chunk_seconds=100,
                          normalize='per_source')
    np.testing.assert_allclose(np.abs(per_source).max(-1), [0.99] * 3,
                               rtol=1e-6)
    # a quiet mixture: the loudest source gets the mixture's peak
    quiet = separate(model, signal / 50, RATE, chunk_seconds=100)
    assert np.abs(quiet).max() == pytest.approx(np.abs(signal / 50).max(),
                                                rel=1e-5)
    silent = separate(model, np.zeros(100), RATE)
    assert not silent.any()


def test_types_devices_and_modes():
    model = FilterModel(2)
    model.filters.requires_grad_(True)
    model.train()
    signal = mixture(2.)
    for x in (signal, signal.astype(np.float64)):
        y = separate(model, x, RATE)
        assert isinstance(y, np.ndarray) and y.dtype == x.dtype
    y = separate(model, torch.from_numpy(signal).double(), RATE)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float64
    assert not y.requires_grad
    assert model.training  # restored

    class Recorder(FilterModel):
        def forward(self, example):
            self.seen = (self.training, torch.is_inference_mode_enabled())
            return super().forward(example)

    recorder = Recorder()
    separate(recorder, signal, RATE)
    assert recorder.seen == (False, True)


def test_sample_rate_and_argument_errors():
    model = FilterModel(2)
    with pytest.raises(ValueError, match='pass sample_rate'):
        separate(model, mixture(1.))
    model.sample_rate = 8000
    assert separate(model, mixture(1.)).shape == (2, 1000)
    with pytest.raises(ValueError, match='resample'):
        separate(model, mixture(1.), sample_rate=16000)
    with pytest.raises(ValueError, match='overlap <= chunk / 2'):
        separate(model, mixture(1.), chunk_seconds=1., overlap_seconds=0.6)
    with pytest.raises(ValueError, match=r'\(samples,\)'):
        separate(model, np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match='float signal'):
        separate(model, np.zeros(100, np.int16))


def test_ten_minutes_in_bounded_memory():
    """10 min at 8 kHz with a tiny DPRNN-TasNet; peak RSS of a fresh
    process (torch included) below 2 GB."""
    script = textwrap.dedent('''
        import json, resource, torch
        from padertorch_audio.separation import TasNet, TINY_DPRNN, separate
        torch.set_num_threads(1)  # memory is measured; robust on busy hosts
        torch.manual_seed(0)
        config = TasNet.get_config(TINY_DPRNN)
        config['separator'].update(chunk_size=100, hop_size=50)
        model = TasNet.from_config(config)
        signal = 0.1 * torch.randn(10 * 60 * 8000)
        output = separate(model, signal, sample_rate=8000)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
        print(json.dumps({'shape': list(output.shape),
                          'finite': bool(output.isfinite().all()),
                          'max': output.abs().max().item(),
                          'peak_mib': peak / 1024}))
    ''')
    # Started through a shell that forks it: a direct (vforked) child would
    # inherit pytest's peak RSS in its ru_maxrss (Linux keeps the peak of
    # the process image it replaces).
    result = subprocess.run(
        ['/bin/sh', '-c', '"$0" -c "$1"; exit $?', sys.executable, script],
        capture_output=True, text=True, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report['shape'] == [2, 4_800_000]
    assert report['finite'] and report['max'] <= 0.99 + 1e-6
    assert report['peak_mib'] < 2048, report
