"""From STFT frames to one conditioning vector per sample.

The mel frames a vocoder gets come from :func:`padertorch_audio.features.
stft` (``fading=True``, ``pad=True``): frame ``m`` holds the samples
``m * shift - front ... m * shift - front + window_length - 1`` of the
signal, with ``front = window_length - shift`` (the fading padding). The
periodic window peaks at its index ``window_length // 2``, so frame ``m``
is *centred* on sample

    ``centre(m) = m * shift - front + window_length // 2``

(with the defaults 800/200: ``centre(m) = 200 * (m - 1)``, frame 1 is
centred on sample 0). :class:`FrameUpsampler` gives sample ``n`` the frame
whose centre is nearest, ``m(n) = floor((n - centre(0) + shift // 2) /
shift)`` (at an exact tie the later frame; without fading the samples before
frame 0's span get frame 0); i.e. every frame is repeated
``shift`` times over the samples ``centre(m) - shift // 2 ... centre(m) -
shift // 2 + shift - 1``. Before the repetition a learnable ``Conv1d``
over the frames (centred, ``2 * context + 1`` frames) mixes neighbouring
frames, so sample ``n`` sees the frames ``m(n) - context ... m(n) +
context``.

Cropping for training keeps the alignment when it moves by whole frames:
``audio[k * shift: k * shift + n]`` goes with ``mel[k:]`` (at least
:meth:`FrameUpsampler.frames_needed` frames of it).
"""
import torch

from padertorch_audio.base import Module

__all__ = ['FrameUpsampler']


class FrameUpsampler(Module):
    """Frame-rate features -> sample-rate conditioning.

    Args:
        input_size: Features per frame (e.g. ``n_mels``).
        output_size: Conditioning channels per sample.
        shift: STFT hop in samples.
        window_length: STFT window length in samples.
        fading: Whether the STFT padded ``window_length - shift`` zeros at
            the front (``features.stft``'s ``fading``).
        context: Frames on each side that the learnable convolution sees.

    ``forward(frames, num_samples)``: ``(batch, frames, input_size)`` ->
    ``(batch, output_size, num_samples)``.

    >>> upsampler = FrameUpsampler(80, 16, shift=200, window_length=800)
    >>> upsampler(torch.zeros(2, 8, 80), 1000).shape
    torch.Size([2, 16, 1000])
    >>> upsampler.frame_of_sample(torch.tensor([0, 99, 100, 299, 300]))
    tensor([1, 1, 2, 2, 3])
    """

    def __init__(self, input_size: int, output_size: int, shift: int = 200,
                 window_length: int = 800, fading: bool = True,
                 context: int = 1):
        super().__init__()
        if not 1 <= shift <= window_length:
            raise ValueError(
                f'FrameUpsampler: expected 1 <= shift <= window_length, '
                f'found shift={shift}, window_length={window_length}.')
        if context < 0:
            raise ValueError(f'FrameUpsampler: context must be >= 0, found '
                             f'{context}.')
        self.input_size, self.output_size = input_size, output_size
        self.shift, self.window_length = shift, window_length
        self.fading, self.context = fading, context
        self.convolution = torch.nn.Conv1d(
            input_size, output_size, 2 * context + 1, padding=context)

    @property
    def first_centre(self):
        """The sample on which frame 0 is centred (negative with fading)."""
        front = self.window_length - self.shift if self.fading else 0
        return self.window_length // 2 - front

    def frame_of_sample(self, samples):
        """The frame whose centre is nearest to each sample index
        (int64 tensor in, int64 tensor out)."""
        frame = torch.div(samples - self.first_centre + self.shift // 2,
                          self.shift, rounding_mode='floor')
        return frame.clamp(min=0)  # without fading: before frame 0's span

    def frames_needed(self, num_samples):
        """The frames that ``num_samples`` samples need (the frame of the
        last sample plus one)."""
        return int(self.frame_of_sample(torch.tensor(num_samples - 1))) + 1

    def convolve(self, frames):
        """The learnable convolution over the frames: ``(batch, frames,
        input_size)`` -> ``(batch, output_size, frames)``."""
        if frames.dim() != 3 or frames.shape[-1] != self.input_size:
            raise ValueError(
                f'FrameUpsampler expects frames (batch, frames, '
                f'{self.input_size}), found shape {tuple(frames.shape)}.')
        return self.convolution(frames.transpose(1, 2))

    def repeat(self, x, num_samples):
        """Frame-rate ``(..., frames)`` -> ``(..., num_samples)``: every
        sample gets the vector of its frame (:meth:`frame_of_sample`)."""
        needed = self.frames_needed(num_samples)
        if x.shape[-1] < needed:
            raise ValueError(
                f'FrameUpsampler: {num_samples} samples need at least '
                f'{needed} frames (shift={self.shift}, window_length='
                f'{self.window_length}, fading={self.fading}), found '
                f'{x.shape[-1]}.')
        index = self.frame_of_sample(
            torch.arange(num_samples, device=x.device))
        return x.index_select(-1, index)

    def forward(self, frames, num_samples):
        return self.repeat(self.convolve(frames), num_samples)

    def extra_repr(self):
        return (f'shift={self.shift}, window_length={self.window_length}, '
                f'fading={self.fading}, context={self.context}')
