"""Classifier heads on embeddings, and their losses.

- :class:`LinearClassifier`: ``logits = W e + b``, trained with the
  cross-entropy (softmax) loss.
- :class:`CosineClassifier`: the additive-margin softmax (AM-softmax,
  Wang et al. 2018; CosFace, Wang et al. 2018): ``logits = s * cos(theta)``,
  the cosines between the L2-normalised embedding and the L2-normalised
  class weights. Its loss (:func:`additive_margin_cross_entropy`)
  subtracts the margin ``m`` from the target class's cosine before
  scaling::

      loss = -log( exp(s (cos_y - m)) /
                   (exp(s (cos_y - m)) + sum_{j != y} exp(s cos_j)) )

  The margin belongs to the loss only: the logits of ``forward`` never
  contain it (at test time the class with the largest cosine wins).

Both heads have ``forward(embedding) -> logits`` ``(batch, num_classes)``
and ``loss(logits, targets) -> scalar`` (mean over the batch).
"""
import torch

from padertorch_audio.base import Module

__all__ = ['additive_margin_cross_entropy', 'LinearClassifier',
           'CosineClassifier']


def _check_targets(targets, batch, num_classes):
    targets = torch.as_tensor(targets)
    if targets.dim() != 1 or targets.shape[0] != batch:
        raise ValueError(
            f'Expected targets of shape ({batch},) (one class index per '
            f'example), found shape {tuple(targets.shape)}.')
    if targets.is_floating_point() or targets.dtype == torch.bool:
        raise ValueError(f'Expected integer class indices, found '
                         f'{targets.dtype}: {targets.tolist()}.')
    if targets.numel() and (targets.min() < 0
                            or targets.max() >= num_classes):
        raise ValueError(
            f'Class indices must lie in [0, {num_classes - 1}] '
            f'({num_classes} classes), found {targets.tolist()}.')
    return targets.to(torch.int64)


def additive_margin_cross_entropy(cosines, targets, margin=0.2, scale=30.0):
    """The AM-softmax loss: cross-entropy of ``scale * (cos - margin *
    onehot(target))``, averaged over the batch.

    Args:
        cosines: ``(batch, num_classes)`` cosines in ``[-1, 1]``.
        targets: ``(batch,)`` int class indices.
        margin: ``m``, subtracted from the target class's cosine.
        scale: ``s``.

    With ``margin=0`` it is ``torch.nn.functional.cross_entropy(scale *
    cosines, targets)``.

    >>> cosines = torch.tensor([[0.9, 0.1], [0.2, 0.3]])
    >>> round(float(additive_margin_cross_entropy(cosines, [0, 1], 0.2, 10)), 4)
    0.6579
    """
    if cosines.dim() != 2:
        raise ValueError(f'Expected cosines of shape (batch, num_classes), '
                         f'found shape {tuple(cosines.shape)}.')
    targets = _check_targets(targets, *cosines.shape).to(cosines.device)
    onehot = torch.nn.functional.one_hot(targets, cosines.shape[-1])
    logits = scale * (cosines - margin * onehot.to(cosines.dtype))
    return torch.nn.functional.cross_entropy(logits, targets)


class LinearClassifier(Module):
    """``logits = W e + b``; the loss is the cross-entropy.

    >>> head = LinearClassifier(8, 3)
    >>> head(torch.zeros(2, 8)).shape
    torch.Size([2, 3])
    """

    def __init__(self, embedding_size: int, num_classes: int):
        super().__init__()
        self.num_classes = num_classes
        self.linear = torch.nn.Linear(embedding_size, num_classes)

    def forward(self, embedding):
        return self.linear(embedding)

    def loss(self, logits, targets):
        """Cross-entropy, mean over the batch."""
        targets = _check_targets(targets, *logits.shape).to(logits.device)
        return torch.nn.functional.cross_entropy(logits, targets)


class CosineClassifier(Module):
    """AM-softmax head: ``logits = scale * cos(embedding, w_class)``.

    Args:
        embedding_size: Size of the embeddings.
        num_classes: Number of classes (one weight vector each).
        margin: ``m`` of the loss (not of the logits).
        scale: ``s``.

    >>> head = CosineClassifier(8, 3, scale=10.)
    >>> bool(head(torch.randn(4, 8)).abs().max() <= 10.)
    True
    """

    def __init__(self, embedding_size: int, num_classes: int,
                 margin: float = 0.2, scale: float = 30.0):
        super().__init__()
        self.num_classes = num_classes
        self.margin, self.scale = margin, scale
        self.weight = torch.nn.Parameter(
            torch.empty(num_classes, embedding_size))
        torch.nn.init.xavier_uniform_(self.weight)

    def cosines(self, embedding):
        """``(batch, num_classes)`` cosines between embeddings and class
        weights."""
        embedding = torch.nn.functional.normalize(embedding, dim=-1)
        weight = torch.nn.functional.normalize(self.weight, dim=-1)
        return embedding @ weight.to(embedding.dtype).T

    def forward(self, embedding):
        return self.scale * self.cosines(embedding)

    def loss(self, logits, targets):
        """:func:`additive_margin_cross_entropy` of the cosines
        ``logits / scale``."""
        return additive_margin_cross_entropy(
            logits / self.scale, targets, self.margin, self.scale)

    def extra_repr(self):
        return (f'{self.weight.shape[1]}, {self.num_classes}, '
                f'margin={self.margin}, scale={self.scale}')
