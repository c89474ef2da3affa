import numpy as np
import paderbox as pb
import pytest
import scipy.signal
import torch

from padertorch_audio.features import (
    ISTFT, STFT, istft, samples_to_frames, stft,
)

# paderbox imports a deprecated numpy module
pytestmark = pytest.mark.filterwarnings('ignore::DeprecationWarning')

RNG = np.random.default_rng(0)


def brute_force_stft(x, size, shift, window, fading, pad):
    """Frame by frame with a Python loop: (samples,) -> (frames, bins)."""
    length = len(window)
    if fading:
        x = np.concatenate([np.zeros(length - shift), x,
                            np.zeros(length - shift)])
    frames = []
    start = 0
    while start + length <= len(x) or (pad and start < len(x)) \
            or (pad and not frames):
        frame = np.zeros(size)
        chunk = x[start:start + length]
        frame[:len(chunk)] = chunk * window[:len(chunk)]
        frames.append(np.fft.rfft(frame))
        if start + length >= len(x):
            break
        start += shift
    return np.array(frames)


def periodic(name, length):
    return scipy.signal.get_window(name, length, fftbins=True)


# size, shift, window, window_length: pairs that allow perfect reconstruction
VALID = [
    (512, 128, 'hann', None),
    (512, 256, 'hann', None),
    (512, 256, 'sqrt_hann', None),
    (512, 128, 'blackman', None),
    (512, 160, 'hamming', 400),
    (64, 16, 'hann', 48),
    (16, 5, 'hann', None),  # shift not dividing the window
    (16, 16, 'boxcar', None),
]


@pytest.mark.parametrize('fading', [True, False])
@pytest.mark.parametrize('pad', [True, False])
@pytest.mark.parametrize('samples', [1000, 333, 64, 3])
@pytest.mark.parametrize('size, shift, window, window_length', [
    (64, 16, 'hann', None), (64, 24, 'blackman', 48), (32, 10, 'hamming', 30),
])
def test_stft_equals_brute_force_and_paderbox(
        size, shift, window, window_length, samples, fading, pad):
    x = RNG.standard_normal(samples)
    length = window_length or size
    if not pad and samples + fading * 2 * (length - shift) < length:
        with pytest.raises(ValueError, match=f'shape \\({samples},\\)'):
            stft(x, size, shift, window, window_length, fading, pad)
        return
    expected = brute_force_stft(x, size, shift, periodic(window, length),
                                fading, pad)
    reference = pb.transform.stft(x, size, shift, window=window,
                                  window_length=window_length,
                                  fading=fading, pad=pad)
    np.testing.assert_allclose(reference, expected, atol=1e-12)
    found = stft(x, size, shift, window, window_length, fading, pad)
    assert isinstance(found, np.ndarray) and found.dtype == np.complex128
    np.testing.assert_allclose(found, expected, atol=1e-12)
    found = stft(torch.from_numpy(x), size, shift, window, window_length,
                 fading, pad)
    assert found.dtype == torch.complex128
    np.testing.assert_allclose(found.numpy(), expected, atol=1e-12)
    assert found.shape[-2] == samples_to_frames(
        samples, size, shift, window_length, fading, pad)


@pytest.mark.parametrize('size, shift, window, window_length', VALID)
@pytest.mark.parametrize('samples', [4001, 1000, 129, 7, 1])
def test_perfect_reconstruction_for_any_length(
        size, shift, window, window_length, samples):
    x = RNG.standard_normal((2, samples))
    spectrum = stft(x, size, shift, window, window_length)
    y = istft(spectrum, size, shift, window, window_length,
              num_samples=samples)
    assert y.shape == x.shape and y.dtype == np.float64
    assert np.abs(y - x).max() < 1e-6
    tensor = torch.from_numpy(x)
    y = istft(stft(tensor, size, shift, window, window_length), size, shift,
              window, window_length, num_samples=samples)
    assert y.shape == x.shape and y.dtype == torch.float64
    assert (y - tensor).abs().max() < 1e-6


@pytest.mark.parametrize('size, shift, window, window_length',
                         [v for v in VALID if v[2] != 'sqrt_hann'])
def test_istft_of_any_spectrum_equals_paderbox(
        size, shift, window, window_length):
    # paderbox divides by the steady-state window sum; with fading every
    # kept sample is covered by all its frames, so the two agree also for a
    # spectrum that is no STFT (least-squares estimate).
    frames = 9
    spectrum = (RNG.standard_normal((2, frames, size // 2 + 1))
                + 1j * RNG.standard_normal((2, frames, size // 2 + 1)))
    expected = pb.transform.istft(spectrum, size, shift, window=window,
                                  window_length=window_length)
    np.testing.assert_allclose(
        istft(spectrum, size, shift, window, window_length), expected,
        atol=1e-10)
    np.testing.assert_allclose(
        istft(torch.from_numpy(spectrum), size, shift, window,
              window_length).numpy(), expected, atol=1e-10)


def test_without_fading_the_interior_is_reconstructed():
    x = RNG.standard_normal(1000)
    spectrum = stft(x, 64, 16, fading=False)
    y = istft(spectrum, 64, 16, fading=False)
    # sample 0 lies only under the zero of the periodic hann window
    assert y[0] == 0
    assert len(y) == 1008  # padded to complete frames
    np.testing.assert_allclose(y[1:1000], x[1:], atol=1e-9)


def test_batched_equals_item_wise():
    x = torch.randn(2, 3, 777, dtype=torch.float64)
    spectrum = stft(x, 128, 32, window_length=100)
    assert spectrum.shape == (2, 3, 27, 65)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(
                spectrum[i, j], stft(x[i, j], 128, 32, window_length=100),
                rtol=0, atol=1e-12)
            torch.testing.assert_close(
                istft(spectrum, 128, 32, window_length=100)[i, j],
                istft(spectrum[i, j], 128, 32, window_length=100),
                rtol=0, atol=1e-12)


def test_float32_is_close_to_float64():
    x = torch.randn(2, 1000, dtype=torch.float64)
    spectrum = stft(x, 256, 64)
    spectrum32 = stft(x.float(), 256, 64)
    assert spectrum32.dtype == torch.complex64
    torch.testing.assert_close(spectrum32, spectrum.to(torch.complex64),
                               rtol=1e-5, atol=1e-4)
    y32 = istft(spectrum32, 256, 64, num_samples=1000)
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32, x.float(), rtol=0, atol=1e-5)
    numpy32 = stft(x.float().numpy(), 256, 64)
    assert numpy32.dtype == np.complex64
    np.testing.assert_allclose(numpy32, spectrum32.numpy(), atol=1e-4)
    assert istft(numpy32, 256, 64).dtype == np.float32


def test_integer_signals_are_converted_to_float():
    x = np.arange(100) % 7
    np.testing.assert_allclose(stft(x, 32, 8), stft(x.astype(float), 32, 8))
    torch.testing.assert_close(
        stft(torch.from_numpy(x), 32, 8),
        stft(torch.from_numpy(x).float(), 32, 8))


def test_gradients_flow():
    x = torch.randn(2, 23, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: torch.view_as_real(stft(x, 8, 3)), (x,))
    spectrum = stft(x.detach(), 8, 3).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda s: istft(s, 8, 3, num_samples=23), (spectrum,))
    window = torch.hann_window(6, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(
        lambda w: torch.view_as_real(stft(x, 8, 2, window=w)), (window,))


def test_window_arrays_equal_names():
    x = torch.randn(300, dtype=torch.float64)
    expected = stft(x, 64, 16, 'hann', 48)
    window = periodic('hann', 48)
    torch.testing.assert_close(stft(x, 64, 16, window), expected)
    torch.testing.assert_close(stft(x, 64, 16, list(window)), expected)
    torch.testing.assert_close(
        stft(x, 64, 16, torch.from_numpy(window)), expected)
    torch.testing.assert_close(
        istft(expected, 64, 16, torch.from_numpy(window)),
        istft(expected, 64, 16, 'hann', 48))


def test_modules_equal_functions():
    x = torch.randn(2, 1234)
    module = STFT(256, 64, 'sqrt_hann', 200)
    assert module.state_dict() == {}
    spectrum = module(x)
    torch.testing.assert_close(spectrum, stft(x, 256, 64, 'sqrt_hann', 200))
    y = ISTFT(256, 64, 'sqrt_hann', 200)(spectrum, num_samples=1234)
    torch.testing.assert_close(y, istft(spectrum, 256, 64, 'sqrt_hann', 200,
                                        num_samples=1234))
    x64 = x.double()
    y64 = ISTFT(256, 64, 'sqrt_hann', 200)(module(x64), num_samples=1234)
    assert (y64 - x64).abs().max() < 1e-12
    config = STFT.get_config({'size': 128, 'shift': 32})
    assert STFT.from_config(config).window.shape == (128,)


def test_nan_stays_nan():
    x = torch.randn(1000)
    x[500] = float('nan')
    spectrum = stft(x, 128, 32)
    nan_frames = spectrum.isnan().any(-1)
    assert nan_frames.sum() == 4 and spectrum[nan_frames].isnan().all()
    y = istft(spectrum, 128, 32, num_samples=1000)
    assert y[500].isnan() and not y[:300].isnan().any()
    assert np.isnan(stft(x.numpy(), 128, 32)).any(-1).sum() == 4


def test_short_and_invalid_inputs_fail_with_shapes():
    assert stft(torch.ones(1), 64, 16).shape == (4, 33)
    assert stft(torch.ones(10), 64, 16, fading=False).shape == (1, 33)
    with pytest.raises(ValueError, match=r'\(2, 10\).*10 samples < '
                                         r'window_length=64'):
        stft(torch.ones(2, 10), 64, 16, fading=False, pad=False)
    with pytest.raises(ValueError, match='window_length=80, size=64'):
        stft(torch.ones(100), 64, 16, window_length=80)
    with pytest.raises(ValueError, match='window_length=80, size=64'):
        STFT(64, 16, window=np.ones(80))
    with pytest.raises(ValueError, match='shift=80, window_length=64'):
        stft(torch.ones(100), 64, 80)
    with pytest.raises(ValueError, match=r'at least one sample.*\(3, 0\)'):
        stft(np.ones((3, 0)), 64, 16)
    with pytest.raises(ValueError, match='complex'):
        stft(torch.ones(100, dtype=torch.complex64), 64, 16)
    with pytest.raises(ValueError, match=r'size // 2 \+ 1 = 33.*\(5, 32\)'):
        istft(torch.ones(5, 32, dtype=torch.complex64), 64, 16)
    with pytest.raises(ValueError, match='num_samples=1000 does not fit'):
        istft(stft(torch.ones(100), 64, 16), 64, 16, num_samples=1000)
    with pytest.raises(ValueError, match='Unknown window'):
        stft(torch.ones(100), 64, 16, window='hanning')


def test_window_shift_pairs_that_cannot_be_inverted_are_rejected():
    # the periodic hann window is 0 at n = 0: with shift = size, the samples
    # at multiples of the shift get no weight
    with pytest.raises(ValueError, match='shift=64 cannot be inverted'):
        istft(torch.ones(3, 33, dtype=torch.complex64), 64, 64)
    with pytest.raises(ValueError, match='cannot be inverted'):
        ISTFT(64, 64)


@pytest.mark.parametrize('fading', [True, False])
@pytest.mark.parametrize('pad', [True, False])
def test_samples_to_frames_counts_the_frames(fading, pad):
    lengths = np.arange(48 if not fading and not pad else 1, 300)
    expected = [stft(np.zeros(n), 64, 20, window_length=48, fading=fading,
                     pad=pad).shape[0] for n in lengths]
    np.testing.assert_array_equal(
        samples_to_frames(lengths, 64, 20, 48, fading, pad), expected)
    torch.testing.assert_close(
        samples_to_frames(torch.from_numpy(lengths), 64, 20, 48, fading,
                          pad), torch.tensor(expected))
    assert samples_to_frames(int(lengths[5]), 64, 20, 48, fading, pad) \
        == expected[5]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_equals_cpu():
    x = torch.randn(2, 1000)
    module, inverse = STFT(256, 64).cuda(), ISTFT(256, 64).cuda()
    spectrum = module(x.cuda())
    assert spectrum.device.type == 'cuda'
    torch.testing.assert_close(spectrum.cpu(), stft(x, 256, 64), rtol=1e-4,
                               atol=1e-4)
    torch.testing.assert_close(stft(x.cuda(), 256, 64).cpu(),
                               stft(x, 256, 64), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(inverse(spectrum, num_samples=1000).cpu(), x,
                               rtol=1e-4, atol=1e-4)
