"""Step timings: the seconds spent in each part of the training steps."""
import time

__all__ = ['StepTimer', 'PARTS']

#: The parts of a step, in the order a step goes through them.
PARTS = ('data', 'to_device', 'forward', 'review', 'backward', 'optimizer')


class StepTimer:
    """Adds up the time between :meth:`lap` calls per part of the step.

    ``totals`` (``{part: seconds}``) is what ``trainer.timings`` shows and
    the summary hook writes in milliseconds per step.

    >>> timer = StepTimer()
    >>> timer.restart(); timer.lap('data')
    >>> sorted(timer.totals) == sorted(PARTS) and timer.totals['data'] >= 0
    True
    """

    def __init__(self):
        self.totals = dict.fromkeys(PARTS, 0.)
        self._last = time.perf_counter()

    def restart(self):
        """Start timing the next part now (time since the last lap is not
        counted)."""
        self._last = time.perf_counter()

    def lap(self, part):
        """Count the time since the last lap (or restart) for ``part``."""
        now = time.perf_counter()
        self.totals[part] += now - self._last
        self._last = now
