"""A stack of fully connected (linear) layers."""
import torch

from padertorch_audio.base import Module
from padertorch_audio.ops.activations import get_activation

__all__ = ['FullyConnected']


class FullyConnected(Module):
    """``num_layers`` linear layers with activations between them.

    ``input (..., input_size) -> (..., output_size)``; the linear layers act
    on the last axis, any leading axes are kept. The layers are::

        Linear(input_size, hidden_size[0]) -> activation -> dropout
        Linear(hidden_size[0], hidden_size[1]) -> activation -> dropout
        ...
        Linear(hidden_size[-1], output_size) -> output_activation

    Args:
        input_size: Size of the last axis of the input.
        hidden_size: Output size of each hidden layer: one int for all, or
            a list of ``num_layers - 1`` ints. Unused (may be None) when
            ``num_layers`` is 1.
        output_size: Size of the last axis of the output.
        num_layers: Number of linear layers (>= 1).
        activation: Name of the activation after each hidden layer
            (``'relu'``, ``'tanh'``, ``'sigmoid'``, ...; None: identity).
        output_activation: Name of the activation after the last layer
            (None: the output is linear, e.g. logits).
        dropout: Probability of dropout after each hidden activation (not
            on the input, not on the output).

    >>> net = FullyConnected(input_size=4, hidden_size=8, output_size=2)
    >>> net(torch.zeros(3, 10, 4)).shape
    torch.Size([3, 10, 2])
    >>> sum(p.numel() for p in net.parameters())  # (4 * 8 + 8) + (8 * 2 + 2)
    58
    >>> FullyConnected.get_config({'input_size': 4, 'hidden_size': 8,
    ...                            'output_size': 2})['num_layers']
    2
    """

    def __init__(self, input_size: int, hidden_size, output_size: int,
                 num_layers: int = 2, activation='relu',
                 output_activation=None, dropout: float = 0.):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}.')
        if not 0 <= dropout < 1:
            raise ValueError(f'dropout must lie in [0, 1), got {dropout}.')
        if hidden_size is None or isinstance(hidden_size, int):
            hidden_size = [hidden_size] * (num_layers - 1)
        hidden_size = list(hidden_size)
        if (len(hidden_size) != num_layers - 1
                or not all(isinstance(size, int) for size in hidden_size)):
            raise ValueError(
                f'hidden_size must be an int or a list of num_layers - 1 = '
                f'{num_layers - 1} ints, got {hidden_size}.')
        sizes = [input_size, *hidden_size, output_size]
        self.input_size, self.output_size = input_size, output_size
        self.linears = torch.nn.ModuleList(
            torch.nn.Linear(n_in, n_out)
            for n_in, n_out in zip(sizes[:-1], sizes[1:]))
        self.activations = torch.nn.ModuleList(
            get_activation(activation) for _ in hidden_size)
        self.output_activation = get_activation(output_activation)
        self.dropout = torch.nn.Dropout(dropout)

    def forward(self, x):
        """``(..., input_size) -> (..., output_size)``."""
        if x.dim() == 0 or x.shape[-1] != self.input_size:
            raise ValueError(
                f'Expected an input (..., {self.input_size}), found shape '
                f'{tuple(x.shape)}.')
        for linear, activation in zip(self.linears, self.activations):
            x = self.dropout(activation(linear(x)))
        return self.output_activation(self.linears[-1](x))
