"""When hooks act: every ``n`` iterations or every ``n`` epochs.

An iteration is one optimizer step (``virtual_minibatch_size`` forward and
backward passes); an epoch is one pass over the training iterable.

>>> trigger = Trigger.new((2, 'epoch'))
>>> [trigger.fires_after_epoch(epoch) for epoch in (1, 2, 3, 4)]
[False, True, False, True]
>>> trigger.fires_after_step(2)   # epoch triggers never fire after a step
False
>>> Trigger.new((100, 'iteration')).reached(iteration=100, epoch=0)
True
"""

__all__ = ['Trigger']

_UNITS = {
    'iteration': 'iteration', 'iterations': 'iteration', 'it': 'iteration',
    'epoch': 'epoch', 'epochs': 'epoch',
}


class Trigger:
    """``Trigger(period, unit)`` with ``unit`` 'iteration' or 'epoch'."""

    def __init__(self, period: int, unit: str):
        if unit not in _UNITS:
            raise ValueError(
                f"Trigger unit must be 'iteration' or 'epoch', got {unit!r}.")
        if isinstance(period, bool) or not isinstance(period, int) \
                or period < 1:
            raise ValueError(
                f'Trigger period must be a positive int, got {period!r}.')
        self.period = period
        self.unit = _UNITS[unit]

    @classmethod
    def new(cls, spec) -> 'Trigger':
        """From a ``Trigger`` or a ``(period, unit)`` pair (tuple or list)."""
        if isinstance(spec, Trigger):
            return spec
        try:
            period, unit = spec
        except (TypeError, ValueError):
            raise ValueError(
                f"A trigger is a (period, unit) pair like (1, 'epoch') or "
                f"(1000, 'iteration'), got {spec!r}.") from None
        return cls(period, unit)

    def __repr__(self):
        return f'Trigger({self.period}, {self.unit!r})'

    def to_config(self):
        return [self.period, self.unit]

    def fires_after_step(self, iteration: int) -> bool:
        """After the optimizer step that made ``iteration`` steps in all."""
        return self.unit == 'iteration' and iteration % self.period == 0

    def fires_after_epoch(self, epoch: int) -> bool:
        """After the end of epoch number ``epoch`` (counting from 1)."""
        return self.unit == 'epoch' and epoch % self.period == 0

    def reached(self, iteration: int, epoch: int) -> bool:
        """Whether ``period`` iterations/epochs have been done in all."""
        done = iteration if self.unit == 'iteration' else epoch
        return done >= self.period
