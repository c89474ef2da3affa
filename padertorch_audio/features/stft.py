"""Short-time Fourier transform and its least-squares inverse.

Conventions (those of ``paderbox.transform.stft``):

- A time signal ``(..., samples)`` becomes a complex spectrum
  ``(..., frames, size // 2 + 1)``; any number of leading axes.
- Frame ``m`` holds the samples ``m * shift ... m * shift + window_length - 1``
  of the (padded) signal, multiplied by the window and zero padded *at the
  end* to ``size`` before the FFT. (``torch.stft`` with ``win_length < n_fft``
  centres the window inside the frame instead, which changes the phase.)
- ``fading=True`` pads ``window_length - shift`` zeros on both sides, so that
  every sample of the signal lies in equally many frames;
  ``pad=True`` pads the end so that the last frame is complete
  (``pad=False`` drops the incomplete last samples instead).
- Windows are periodic ("DFT-even"), as needed for perfect reconstruction.

The default window is ``'hann'`` (paderbox's default is ``blackman``); with
the same window the two agree to rounding (see ``tests/features``).

:func:`istft` is the least-squares inverse (Griffin & Lim 1984): the frames
are windowed again, overlap-added and divided by the overlap-added squared
window of the frames that exist. With ``fading=True`` and a window/shift
pair whose squared windows overlap everywhere (``hann``, ``sqrt_hann``,
``hamming``, ``blackman`` with any ``shift < window_length``; ``boxcar``
also with ``shift = window_length``; see :func:`check_nola`),
``istft(stft(x), num_samples=len(x))`` reconstructs ``x`` for every length
(the usual choices, e.g. ``hann`` with ``shift = size / 4``, are also the
best conditioned).

NumPy arrays in give NumPy arrays out (for the data pipeline); tensors in
give tensors out (differentiable, on the tensor's device). Both paths compute
the same thing.
"""
import numpy as np
import scipy.signal
import torch

from padertorch_audio.base import Module

__all__ = [
    'stft',
    'istft',
    'STFT',
    'ISTFT',
    'get_window',
    'samples_to_frames',
]

WINDOWS = ('hann', 'sqrt_hann', 'hamming', 'blackman', 'boxcar')


def get_window(window='hann', window_length=1024):
    """The periodic analysis window as a float64 array ``(window_length,)``.

    Args:
        window: A name, one of ``'hann'``, ``'sqrt_hann'``, ``'hamming'``,
            ``'blackman'``, ``'boxcar'`` (periodic, i.e. ``N + 1`` points of
            the symmetric window without the last one), or the window itself
            as a 1-D array/tensor (returned as float64 numpy array; a tensor
            keeps its values but loses its gradient, see :func:`stft`).
        window_length: Length in samples when ``window`` is a name; must
            match the length of an array.

    >>> get_window('hann', 4)
    array([0. , 0.5, 1. , 0.5])
    >>> get_window('sqrt_hann', 4) ** 2
    array([0. , 0.5, 1. , 0.5])
    """
    if isinstance(window, str):
        if window not in WINDOWS:
            raise ValueError(
                f'Unknown window {window!r}; expected one of {WINDOWS} or a '
                f'1-D array.')
        if window == 'sqrt_hann':
            return np.sqrt(get_window('hann', window_length))
        return scipy.signal.get_window(window, window_length, fftbins=True)
    if isinstance(window, torch.Tensor):
        window = window.detach().cpu().numpy()
    window = np.asarray(window, dtype=np.float64)
    if window.ndim != 1 or (window_length is not None
                            and window.shape[0] != window_length):
        raise ValueError(
            f'A window array must be 1-D with window_length '
            f'({window_length}) entries, found shape {window.shape}.')
    return window


def _check_parameters(size, shift, window, window_length):
    """Validate the parameters; return ``window_length``."""
    if not isinstance(window, str):
        if window.ndim != 1:
            raise ValueError(
                f'The window must be a name or a 1-D array, found shape '
                f'{tuple(window.shape)}.')
        length = window.shape[0]
        if window_length is not None and window_length != length:
            raise ValueError(
                f'window_length={window_length} does not match the window '
                f'array of shape {tuple(window.shape)}.')
        window_length = length
    elif window_length is None:
        window_length = size
    if not 1 <= window_length <= size:
        raise ValueError(
            f'Expected 1 <= window_length <= size, found window_length='
            f'{window_length}, size={size} (the window is zero padded to '
            f'size, it cannot be longer).')
    if not 1 <= shift <= window_length:
        raise ValueError(
            f'Expected 1 <= shift <= window_length, found shift={shift}, '
            f'window_length={window_length}.')
    return window_length


def samples_to_frames(num_samples, size=1024, shift=256, window_length=None,
                      fading=True, pad=True):
    """Number of STFT frames of a signal with ``num_samples`` samples.

    ``num_samples`` may be an int, a numpy array or a tensor of lengths (e.g.
    the ``sequence_lengths`` of a batch); the result has the same type.
    The parameters mean the same as in :func:`stft`.

    >>> samples_to_frames(16000, size=512, shift=160, window_length=400)
    102
    >>> samples_to_frames(np.array([100, 400, 401]), 400, 160, fading=False)
    array([1, 1, 2])
    """
    window_length = size if window_length is None else window_length
    if fading:
        num_samples = num_samples + 2 * (window_length - shift)
    if pad:
        # ceil((n - L) / shift) + 1, at least one frame
        frames = -((window_length - num_samples) // shift) + 1
        if isinstance(frames, torch.Tensor):
            return frames.clamp(min=1)
        return np.maximum(frames, 1) if isinstance(frames, np.ndarray) \
            else max(frames, 1)
    return (num_samples - window_length) // shift + 1


def _check_signal(signal, size, shift, window_length, fading, pad):
    if fading not in (True, False):
        raise ValueError(f'fading must be True or False, found {fading!r}.')
    if signal.ndim == 0:
        raise ValueError('Expected a signal of shape (..., samples), found a '
                         'scalar.')
    samples = signal.shape[-1]
    padded = samples + (2 * (window_length - shift) if fading else 0)
    if samples == 0:
        raise ValueError(
            f'Expected at least one sample, found a signal of shape '
            f'{tuple(signal.shape)}.')
    if not pad and padded < window_length:
        fading_note = f' ({padded} with fading)' if fading else ''
        raise ValueError(
            f'The signal of shape {tuple(signal.shape)} is shorter than one '
            f'window: {samples} samples{fading_note} < window_length='
            f'{window_length}, and pad=False cannot pad it. Use pad=True or '
            f'a longer signal.')
    frames = samples_to_frames(samples, size, shift, window_length, fading,
                               pad)
    front = window_length - shift if fading else 0
    back = (frames - 1) * shift + window_length - samples - front
    return front, back


def stft(signal, size=1024, shift=256, window='hann', window_length=None,
         fading=True, pad=True):
    """Short-time Fourier transform.

    Args:
        signal: Real time signal ``(..., samples)``, tensor or numpy array.
        size: FFT size in samples; the output has ``size // 2 + 1`` bins.
        shift: Hop between frames in samples.
        window: Window name (see :func:`get_window`) or a 1-D array/tensor
            of length ``window_length``. A tensor window is used as is (it
            may require grad).
        window_length: Window length in samples, ``<= size`` (the frame
            is zero padded at its end to ``size``). Default: ``size``, or
            the length of a window array.
        fading: Pad ``window_length - shift`` zeros on both sides, so that
            every sample is covered by equally many frames (needed for
            perfect reconstruction at the edges).
        pad: Zero pad the end so that the last frame is complete; else
            the samples after the last complete frame are dropped.

    Returns:
        Complex spectrum ``(..., frames, size // 2 + 1)``, same type (and
        for tensors device) as ``signal``, complex128 for float64 input,
        complex64 otherwise. ``frames`` is given by :func:`samples_to_frames`.

    Raises:
        ValueError: ``window_length > size``, ``shift > window_length``, an
            empty signal, or (with ``pad=False``) a signal shorter than one
            window.

    >>> x = torch.ones(2, 3, 1000)
    >>> stft(x, size=512, shift=128).shape
    torch.Size([2, 3, 11, 257])
    >>> stft(np.ones(1000), size=512, shift=128, fading=False).shape
    (5, 257)
    """
    if not isinstance(window, (str, torch.Tensor)):
        window = np.asarray(window)
    window_length = _check_parameters(size, shift, window, window_length)
    if isinstance(signal, torch.Tensor):
        if signal.is_complex():
            raise ValueError(
                f'Expected a real signal (..., samples), found '
                f'{signal.dtype} of shape {tuple(signal.shape)}.')
        if not signal.is_floating_point():
            signal = signal.to(torch.get_default_dtype())
        front, back = _check_signal(signal, size, shift, window_length,
                                    fading, pad)
        window = _window_tensor(window, window_length, signal)
        return _stft_torch(signal, size, shift, window, front, back)
    signal = np.asarray(signal)
    if np.iscomplexobj(signal):
        raise ValueError(
            f'Expected a real signal (..., samples), found {signal.dtype} '
            f'of shape {signal.shape}.')
    if signal.dtype not in (np.float32, np.float64):
        signal = signal.astype(np.float64)
    front, back = _check_signal(signal, size, shift, window_length, fading,
                                pad)
    window = get_window(window, window_length).astype(signal.dtype)
    return _stft_numpy(signal, size, shift, window, front, back)


def _window_tensor(window, window_length, like):
    if isinstance(window, torch.Tensor):
        return window.to(device=like.device, dtype=like.dtype)
    return torch.as_tensor(get_window(window, window_length),
                           device=like.device, dtype=like.dtype)


def _stft_torch(signal, size, shift, window, front, back):
    # Negative ``back`` (pad=False) crops the incomplete end.
    signal = torch.nn.functional.pad(signal, (front, back))
    frames = signal.unfold(-1, window.shape[-1], shift)
    return torch.fft.rfft(frames * window, n=size)


def _stft_numpy(signal, size, shift, window, front, back):
    width = [(0, 0)] * (signal.ndim - 1)
    if back >= 0:
        signal = np.pad(signal, width + [(front, back)])
    else:
        signal = np.pad(signal[..., :back], width + [(front, 0)])
    frames = np.lib.stride_tricks.sliding_window_view(
        signal, window.shape[-1], axis=-1)[..., ::shift, :]
    spectrum = np.fft.rfft(frames * window, n=size)
    return spectrum.astype(np.complex64 if signal.dtype == np.float32
                           else np.complex128, copy=False)


def _check_spectrum(spectrum, size):
    if spectrum.ndim < 2 or spectrum.shape[-1] != size // 2 + 1:
        raise ValueError(
            f'Expected a spectrum (..., frames, size // 2 + 1 = '
            f'{size // 2 + 1}) for size={size}, found shape '
            f'{tuple(spectrum.shape)}.')
    if spectrum.shape[-2] == 0:
        raise ValueError(
            f'Expected at least one frame, found a spectrum of shape '
            f'{tuple(spectrum.shape)}.')


def check_nola(window, shift, tolerance=1e-10):
    """Raise a ValueError unless the shifted squared windows overlap.

    The least-squares inverse divides by ``sum_m window[n - m * shift] ** 2``
    (steady state); it must not vanish anywhere ("nonzero overlap-add").

    Args:
        window: Analysis window ``(window_length,)``, array or tensor.
        shift: Hop in samples.
        tolerance: Smallest allowed value relative to the largest.
    """
    window = get_window(window, None)
    squared = np.pad(window ** 2, (0, -len(window) % shift))
    overlap = squared.reshape(-1, shift).sum(axis=0)
    if not overlap.min() > tolerance * max(overlap.max(), 1e-300):
        raise ValueError(
            f'The window (length {len(window)}) with shift={shift} cannot be '
            f'inverted: the overlap-added squared window has a minimum of '
            f'{overlap.min():.3g} (maximum {overlap.max():.3g}). Use a '
            f'smaller shift or another window.')


def _overlap_add(frames, shift):
    """``(..., frames, length)`` -> ``(..., (frames - 1) * shift + length)``.

    Frame ``m`` is added at offset ``m * shift``. The frames are cut into
    ``ceil(length / shift)`` chunks of ``shift`` samples, and chunk ``k`` of
    every frame is added to the output blocks ``k, k + 1, ...`` at once.
    """
    num_frames, length = frames.shape[-2:]
    chunks = -(-length // shift)
    lead = frames.shape[:-2]
    if isinstance(frames, torch.Tensor):
        frames = torch.nn.functional.pad(frames, (0, chunks * shift - length))
        output = frames.new_zeros(*lead, num_frames + chunks - 1, shift)
    else:
        frames = np.pad(frames, [(0, 0)] * (frames.ndim - 1)
                        + [(0, chunks * shift - length)])
        output = np.zeros((*lead, num_frames + chunks - 1, shift),
                          frames.dtype)
    frames = frames.reshape(*lead, num_frames, chunks, shift)
    for k in range(chunks):
        output[..., k:k + num_frames, :] += frames[..., k, :]
    output = output.reshape(*lead, (num_frames + chunks - 1) * shift)
    return output[..., :(num_frames - 1) * shift + length]


def _window_sum_inverse(window, num_frames, shift):
    """``1 / sum_m window[n - m * shift] ** 2`` over the frames that exist,
    0 where the sum (nearly) vanishes (samples no frame can reconstruct)."""
    if isinstance(window, torch.Tensor):
        squared = (window ** 2).expand(num_frames, -1)
    else:
        squared = np.broadcast_to(window ** 2, (num_frames, len(window)))
    window_sum = _overlap_add(squared, shift)
    tiny = 1e-10 * window_sum.max()
    valid = window_sum > tiny
    if isinstance(window_sum, torch.Tensor):
        return torch.where(valid, 1 / torch.where(valid, window_sum, 1), 0)
    return np.where(valid, 1 / np.where(valid, window_sum, 1), 0)


def istft(spectrum, size=1024, shift=256, window='hann', window_length=None,
          fading=True, num_samples=None):
    """Least-squares inverse of :func:`stft`.

    Args:
        spectrum: Complex spectrum ``(..., frames, size // 2 + 1)``,
            tensor or numpy array.
        size, shift, window, window_length, fading: As given to
            :func:`stft`.
        num_samples: Length of the original signal; the output is cut to
            it. Default: all samples, i.e. ``frames * shift + window_length
            - shift``, minus ``2 * (window_length - shift)`` with fading.

    Returns:
        Real time signal ``(..., samples)``, same type as ``spectrum``
        (float64 for complex128, float32 for complex64).

    Each frame is inverse transformed, cut to ``window_length``, multiplied
    by the window, overlap-added and divided by the overlap-added squared
    windows of the existing frames. This is the signal whose STFT is closest
    (least squares) to ``spectrum``, hence exact for an unmodified STFT.
    Samples that no frame covers with a nonzero window (only possible
    at the edges with ``fading=False``) are 0.

    Raises:
        ValueError: a spectrum whose last axis is not ``size // 2 + 1``, a
            window/shift pair that cannot be inverted (see
            :func:`check_nola`), or ``num_samples`` larger than the output.

    >>> x = torch.randn(2, 1001, dtype=torch.float64)
    >>> y = istft(stft(x, 512, 128), 512, 128, num_samples=1001)
    >>> bool((x - y).abs().max() < 1e-12)
    True
    """
    if not isinstance(window, (str, torch.Tensor)):
        window = np.asarray(window)
    window_length = _check_parameters(size, shift, window, window_length)
    if isinstance(spectrum, torch.Tensor):
        if not spectrum.is_complex():
            raise ValueError(
                f'Expected a complex spectrum, found {spectrum.dtype} of '
                f'shape {tuple(spectrum.shape)}.')
        window = _window_tensor(window, window_length, spectrum.real)
    else:
        spectrum = np.asarray(spectrum)
        real_dtype = np.float32 if spectrum.dtype == np.complex64 \
            else np.float64
        window = get_window(window, window_length).astype(real_dtype)
    check_nola(window, shift)
    return _istft(spectrum, size, shift, window, fading, num_samples)


def _istft(spectrum, size, shift, window, fading, num_samples):
    """:func:`istft` with a checked window array/tensor of the right dtype."""
    if fading not in (True, False):
        raise ValueError(f'fading must be True or False, found {fading!r}.')
    _check_spectrum(spectrum, size)
    window_length = window.shape[-1]
    if isinstance(spectrum, torch.Tensor):
        frames = torch.fft.irfft(spectrum, n=size)[..., :window_length]
    else:
        frames = np.fft.irfft(spectrum, n=size)[..., :window_length]
        frames = frames.astype(window.dtype, copy=False)
    signal = _overlap_add(frames * window, shift)
    signal = signal * _window_sum_inverse(window, spectrum.shape[-2], shift)
    if fading:
        cut = window_length - shift
        signal = signal[..., cut:signal.shape[-1] - cut]
    if num_samples is not None:
        if not 0 <= num_samples <= signal.shape[-1]:
            raise ValueError(
                f'num_samples={num_samples} does not fit: the spectrum of '
                f'shape {tuple(spectrum.shape)} holds {signal.shape[-1]} '
                f'samples (size={size}, shift={shift}, window_length='
                f'{window_length}, fading={fading}).')
        signal = signal[..., :num_samples]
    return signal


class STFT(Module):
    """:func:`stft` as a module; the window is a (non-persistent) buffer.

    ``(..., samples)`` -> complex ``(..., frames, size // 2 + 1)``.

    >>> STFT(size=512, shift=128)(torch.zeros(3, 1000)).shape
    torch.Size([3, 11, 257])
    """

    def __init__(self, size=1024, shift=256, window='hann',
                 window_length=None, fading=True, pad=True):
        super().__init__()
        window_length = _check_parameters(
            size, shift, _as_window_arg(window), window_length)
        self.size, self.shift = size, shift
        self.window_length = window_length
        self.fading, self.pad = fading, pad
        # float64, cast to the signal's dtype in forward: float64 signals
        # keep full precision.
        self.register_buffer(
            'window', torch.as_tensor(get_window(window, window_length)),
            persistent=False)

    def forward(self, signal):
        if not isinstance(signal, torch.Tensor):
            raise TypeError(f'Expected a tensor, found {type(signal)}.')
        if not signal.is_floating_point():
            raise ValueError(
                f'Expected a real floating point signal (..., samples), '
                f'found {signal.dtype} of shape {tuple(signal.shape)}.')
        front, back = _check_signal(signal, self.size, self.shift,
                                    self.window_length, self.fading, self.pad)
        window = self.window
        if window.dtype != signal.dtype or window.device != signal.device:
            window = window.to(device=signal.device, dtype=signal.dtype)
        return _stft_torch(signal, self.size, self.shift, window, front, back)

    def extra_repr(self):
        return (f'size={self.size}, shift={self.shift}, window_length='
                f'{self.window_length}, fading={self.fading}, pad={self.pad}')


class ISTFT(Module):
    """:func:`istft` as a module; the window is a (non-persistent) buffer.

    Complex ``(..., frames, size // 2 + 1)`` -> ``(..., samples)``;
    ``forward(spectrum, num_samples=None)``.

    >>> stft_, istft_ = STFT(512, 128), ISTFT(512, 128)
    >>> x = torch.randn(1000, dtype=torch.float64)
    >>> bool((istft_(stft_(x), num_samples=1000) - x).abs().max() < 1e-12)
    True
    """

    def __init__(self, size=1024, shift=256, window='hann',
                 window_length=None, fading=True):
        super().__init__()
        window_length = _check_parameters(
            size, shift, _as_window_arg(window), window_length)
        window = get_window(window, window_length)
        check_nola(window, shift)
        self.size, self.shift = size, shift
        self.window_length, self.fading = window_length, fading
        self.register_buffer('window', torch.as_tensor(window),
                             persistent=False)

    def forward(self, spectrum, num_samples=None):
        if not isinstance(spectrum, torch.Tensor):
            raise TypeError(f'Expected a tensor, found {type(spectrum)}.')
        if not spectrum.is_complex():
            raise ValueError(
                f'Expected a complex spectrum, found {spectrum.dtype} of '
                f'shape {tuple(spectrum.shape)}.')
        window = self.window
        dtype = spectrum.real.dtype
        if window.dtype != dtype or window.device != spectrum.device:
            window = window.to(device=spectrum.device, dtype=dtype)
        return _istft(spectrum, self.size, self.shift, window, self.fading,
                      num_samples)

    def extra_repr(self):
        return (f'size={self.size}, shift={self.shift}, window_length='
                f'{self.window_length}, fading={self.fading}')


def _as_window_arg(window):
    """Names stay names; arrays (lists, tensors) become numpy arrays."""
    if isinstance(window, str):
        return window
    if isinstance(window, torch.Tensor):
        return window.detach().cpu().numpy()
    return np.asarray(window)
