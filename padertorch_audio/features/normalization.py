"""Mean and variance normalisation of feature matrices ``(..., frames,
features)``.

- Per utterance (:func:`normalize_per_utterance`,
  :class:`UtteranceNormalization`): every matrix is normalised with the mean
  and variance of its own frames (padded frames excluded and set to 0).
- Global (:class:`GlobalNormalization`): running statistics over all valid
  frames seen in training mode (an exact mean/variance of the data, merged
  batch by batch with Chan et al.'s parallel update), frozen in eval mode.

Variances are population variances (divided by the number of frames);
``eps`` is added to the variance before the square root.
"""
import numpy as np
import torch

from padertorch_audio.base import Module
from padertorch_audio.ops.sequence import compute_mask

__all__ = [
    'normalize_per_utterance',
    'UtteranceNormalization',
    'GlobalNormalization',
]


def _check_features(x, name='x'):
    if x.dim() < 2:
        raise ValueError(
            f'Expected {name} of shape (..., frames, features), found shape '
            f'{tuple(x.shape)}.')


def _valid_mask(x, sequence_lengths):
    """Bool mask ``(..., frames, 1)`` of the valid frames, or None."""
    if sequence_lengths is None:
        return None
    if x.dim() < 3:
        raise ValueError(
            f'sequence_lengths need a batch axis: expected x of shape '
            f'(batch, ..., frames, features), found shape {tuple(x.shape)}.')
    return compute_mask(x[..., :1], sequence_lengths, batch_axis=0,
                        sequence_axis=-2)


def normalize_per_utterance(x, sequence_lengths=None, variance=True,
                            eps=1e-5):
    """Subtract the mean over frames and divide by the standard deviation.

    Args:
        x: Features ``(..., frames, features)``, tensor or numpy array
            (numpy in, numpy out).
        sequence_lengths: Valid frames per example, ``(batch,)``, for ``x``
            of shape ``(batch, ..., frames, features)``; the statistics
            ignore the padded frames, which are 0 in the output.
        variance: Also divide by ``sqrt(variance + eps)``; False only
            subtracts the mean (cepstral mean normalisation).
        eps: Added to the variance.

    Returns:
        Normalised features, the shape of ``x``.

    >>> x = torch.tensor([[[1.], [3.], [7.]], [[2.], [4.], [0.]]])
    >>> normalize_per_utterance(x, [3, 2], eps=0.)[..., 0]
    tensor([[-1.0690, -0.2673,  1.3363],
            [-1.0000,  1.0000,  0.0000]])
    """
    if isinstance(x, np.ndarray):
        return normalize_per_utterance(
            torch.from_numpy(x), sequence_lengths, variance, eps).numpy()
    _check_features(x)
    mask = _valid_mask(x, sequence_lengths)
    if mask is None:
        mean = x.mean(-2, keepdim=True)
        centered = x - mean
        if variance:
            centered = centered / torch.sqrt(
                (centered ** 2).mean(-2, keepdim=True) + eps)
        return centered
    count = mask.sum(-2, keepdim=True).clamp(min=1)
    mean = torch.where(mask, x, 0).sum(-2, keepdim=True) / count
    centered = torch.where(mask, x - mean, 0)
    if variance:
        centered = centered / torch.sqrt(
            (centered ** 2).sum(-2, keepdim=True) / count + eps)
    return centered


class UtteranceNormalization(Module):
    """:func:`normalize_per_utterance` as a module (no state).

    ``forward(x, sequence_lengths=None)``, ``x``: ``(..., frames,
    features)``.
    """

    def __init__(self, variance=True, eps=1e-5):
        super().__init__()
        self.variance, self.eps = variance, eps

    def forward(self, x, sequence_lengths=None):
        return normalize_per_utterance(x, sequence_lengths, self.variance,
                                       self.eps)

    def extra_repr(self):
        return f'variance={self.variance}, eps={self.eps}'


class GlobalNormalization(Module):
    """Normalisation with running statistics over all training frames.

    In training mode every call first merges the valid frames of ``x`` into
    the buffers ``count`` (int64, frames seen), ``mean`` and ``var``
    (float64, ``(features,)``, population variance), then normalises with
    the updated statistics. In eval mode the statistics are frozen. The
    statistics are no parameters and get no gradient; they are saved in the
    state dict. Before any update, ``mean = 0`` and ``var = 1``.

    The merge of a batch with ``n_b`` frames, mean ``m_b`` and summed
    squared deviations ``M_b`` into the running ``n_a, m_a, M_a`` (Chan,
    Golub & LeVeque 1979)::

        n = n_a + n_b,  d = m_b - m_a,
        m = m_a + d * n_b / n,  M = M_a + M_b + d ** 2 * n_a * n_b / n

    gives the mean and variance of all frames seen, as one pass over their
    concatenation would.

    Args:
        num_features: Size of the last axis.
        variance: Also divide by ``sqrt(var + eps)``.
        eps: Added to the variance.

    ``forward(x, sequence_lengths=None)``: ``x`` ``(..., frames,
    features)``; with ``sequence_lengths`` (``(batch,)``, batch axis 0) the
    padded frames are ignored and 0 in the output.

    >>> norm = GlobalNormalization(2)
    >>> _ = norm(torch.tensor([[1., 10.], [3., 30.]]))
    >>> norm.count, norm.mean.tolist(), norm.var.tolist()
    (tensor(2), [2.0, 20.0], [1.0, 100.0])
    >>> norm.eval()(torch.tensor([[4., 0.]]))
    tensor([[ 2.0000, -2.0000]])
    """

    def __init__(self, num_features, variance=True, eps=1e-5):
        super().__init__()
        self.num_features, self.variance, self.eps = (
            num_features, variance, eps)
        self.register_buffer('count', torch.tensor(0, dtype=torch.int64))
        self.register_buffer(
            'mean', torch.zeros(num_features, dtype=torch.float64))
        self.register_buffer(
            'var', torch.ones(num_features, dtype=torch.float64))

    def _check(self, x):
        _check_features(x)
        if x.shape[-1] != self.num_features:
            raise ValueError(
                f'Expected x of shape (..., frames, {self.num_features}), '
                f'found shape {tuple(x.shape)}.')

    @torch.no_grad()
    def update(self, x, sequence_lengths=None):
        """Merge the valid frames of ``x`` into the statistics."""
        self._check(x)
        mask = _valid_mask(x, sequence_lengths)
        frames = x.detach().reshape(-1, x.shape[-1]) if mask is None \
            else x.detach()[mask[..., 0]]
        frames = frames.to(torch.float64)
        count = frames.shape[0]
        if count == 0:
            return
        mean = frames.mean(0)
        squares = ((frames - mean) ** 2).sum(0)
        total = int(self.count) + count
        delta = mean - self.mean
        previous = self.var.to(torch.float64) * int(self.count)
        squares = previous + squares + delta ** 2 * (
            int(self.count) * count / total)
        self.mean.add_(delta * (count / total))
        self.var.copy_(squares / total)
        self.count.fill_(total)

    def forward(self, x, sequence_lengths=None):
        self._check(x)
        if self.training:
            self.update(x, sequence_lengths)
        output = x - self.mean.to(x.dtype)
        if self.variance:
            output = output / torch.sqrt(self.var.to(x.dtype) + self.eps)
        mask = _valid_mask(x, sequence_lengths)
        return output if mask is None else torch.where(mask, output, 0)

    def extra_repr(self):
        return (f'{self.num_features}, variance={self.variance}, '
                f'eps={self.eps}')
