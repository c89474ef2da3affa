"""Configurable optimizer wrappers with gradient clipping.

A wrapper holds its hyper-parameters until :meth:`Optimizer.set_parameters`
creates the ``torch.optim`` optimizer; the :class:`~padertorch_audio.Trainer`
does that with the model's parameters.

>>> import torch
>>> model = torch.nn.Linear(3, 1)
>>> optimizer = Adam(lr=0.01, gradient_clipping=1.0)
>>> optimizer.set_parameters(model.parameters())
>>> model(torch.ones(2, 3)).sum().backward()
>>> grad_norm = optimizer.clip_grad()   # total 2-norm before clipping
>>> optimizer.step(); optimizer.zero_grad()
"""
import torch

from padertorch_audio.configurable import Configurable

__all__ = ['Optimizer', 'Adam', 'AdamW', 'SGD', 'TorchOptimizer',
           'grad_norm']


def grad_norm(parameters, max_norm=None) -> torch.Tensor:
    """Total 2-norm of the gradients; clip them to ``max_norm`` if given.

    Returns the norm before clipping as a 0-dim tensor (``nan``/``inf`` when
    a gradient is not finite; gradients are then left as they are).
    """
    parameters = [p for p in parameters if p.grad is not None]
    if not parameters:
        return torch.zeros(())
    if max_norm is None:
        norms = torch._foreach_norm([p.grad for p in parameters])
        return torch.linalg.vector_norm(torch.stack(norms))
    return torch.nn.utils.clip_grad_norm_(
        parameters, max_norm, error_if_nonfinite=False)


class Optimizer(Configurable):
    """Base of the wrappers. Subclasses set ``optimizer_class``.

    Args:
        gradient_clipping: Clip the total gradient 2-norm to this value
            before each step (``None``: no clipping; the norm is still
            computed for the logs).
        **kwargs: Arguments of ``optimizer_class`` (learning rate ...).
    """
    optimizer_class = None

    def __init__(self, gradient_clipping=None, **kwargs):
        if gradient_clipping is not None and not gradient_clipping > 0:
            raise ValueError(
                f'gradient_clipping must be positive or None, got '
                f'{gradient_clipping!r}.')
        self.gradient_clipping = gradient_clipping
        self.kwargs = kwargs
        self.optimizer = None
        self._parameters = None

    def __repr__(self):
        kwargs = ', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())
        return (f'{type(self).__name__}({kwargs}, '
                f'gradient_clipping={self.gradient_clipping!r})')

    def set_parameters(self, parameters):
        """Create the torch optimizer for ``parameters``."""
        parameters = list(parameters)
        if not parameters:
            raise ValueError(
                f'{type(self).__name__}.set_parameters: the model has no '
                f'parameters to optimise.')
        self.optimizer = self.optimizer_class(parameters, **self.kwargs)
        self._parameters = [
            p for group in self.optimizer.param_groups
            for p in group['params']
        ]

    def _check_ready(self):
        if self.optimizer is None:
            raise RuntimeError(
                f'{type(self).__name__}: call set_parameters(model.parameters())'
                f' first (the Trainer does this).')

    @property
    def lr(self):
        """The learning rate of the first parameter group."""
        if self.optimizer is None:
            return self.kwargs.get('lr')
        return self.optimizer.param_groups[0]['lr']

    def scale_lr(self, factor):
        """Multiply the learning rate of every parameter group by ``factor``."""
        self._check_ready()
        for group in self.optimizer.param_groups:
            group['lr'] = group['lr'] * factor

    def clip_grad(self) -> torch.Tensor:
        """Clip the gradients (if configured); return their norm before."""
        return grad_norm(self._parameters, self.gradient_clipping)

    def scale_grad(self, factor):
        """Multiply all gradients by ``factor`` (virtual minibatches)."""
        grads = [p.grad for p in self._parameters if p.grad is not None]
        if grads:
            torch._foreach_mul_(grads, factor)

    def step(self):
        self.optimizer.step()

    def zero_grad(self, set_to_none=True):
        """Drop (or zero) the gradients of the optimised parameters.

        Setting ``.grad = None`` directly is what
        ``torch.optim.Optimizer.zero_grad(set_to_none=True)`` does, without
        its profiler bookkeeping, which costs several microseconds per step.
        """
        if set_to_none:
            for parameter in self._parameters:
                parameter.grad = None
        else:
            self.optimizer.zero_grad(set_to_none=False)

    def state_dict(self):
        self._check_ready()
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict):
        self._check_ready()
        self.optimizer.load_state_dict(state_dict)


class TorchOptimizer(Optimizer):
    """Wraps an existing ``torch.optim.Optimizer`` (not configurable)."""

    def __init__(self, optimizer: torch.optim.Optimizer,
                 gradient_clipping=None):
        super().__init__(gradient_clipping=gradient_clipping)
        self.optimizer = optimizer
        self._parameters = [
            p for group in optimizer.param_groups for p in group['params']]

    def __repr__(self):
        return (f'TorchOptimizer({type(self.optimizer).__name__}, '
                f'gradient_clipping={self.gradient_clipping!r})')

    def zero_grad(self, set_to_none=True):
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def set_parameters(self, parameters):
        ids = {id(p) for p in parameters}
        if not ids <= {id(p) for p in self._parameters}:
            raise ValueError(
                'The torch optimizer passed to the Trainer does not hold all '
                'model parameters; build it with model.parameters().')


class Adam(Optimizer):
    """``torch.optim.Adam`` with gradient clipping."""
    optimizer_class = torch.optim.Adam

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.,
                 amsgrad=False, gradient_clipping=None):
        super().__init__(
            gradient_clipping=gradient_clipping, lr=lr, betas=tuple(betas),
            eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class AdamW(Optimizer):
    """``torch.optim.AdamW`` with gradient clipping."""
    optimizer_class = torch.optim.AdamW

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=1e-2, amsgrad=False, gradient_clipping=None):
        super().__init__(
            gradient_clipping=gradient_clipping, lr=lr, betas=tuple(betas),
            eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


class SGD(Optimizer):
    """``torch.optim.SGD`` with gradient clipping."""
    optimizer_class = torch.optim.SGD

    def __init__(self, lr=1e-2, momentum=0., dampening=0., weight_decay=0.,
                 nesterov=False, gradient_clipping=None):
        super().__init__(
            gradient_clipping=gradient_clipping, lr=lr, momentum=momentum,
            dampening=dampening, weight_decay=weight_decay, nesterov=nesterov)
