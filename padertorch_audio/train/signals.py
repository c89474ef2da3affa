"""SIGTERM / SIGINT during training: finish the step, checkpoint, exit.

While a :class:`SignalGuard` is installed (in the main thread), the first
SIGINT or SIGTERM is only remembered in ``received``; the Trainer then
stops at the next step boundary, writes ``ckpt_latest.pth`` and calls
:meth:`SignalGuard.exit`. A second signal acts as usual (e.g. a second
Ctrl-C kills at once).
"""
import logging
import signal
import threading

__all__ = ['SignalGuard']

# A child of the Trainer's logger: whoever configures that one gets the
# messages of the run from here too.
log = logging.getLogger('padertorch_audio.train.trainer.signals')


class SignalGuard:
    """Catches SIGINT and SIGTERM between :meth:`install` and
    :meth:`restore` (also a ``with`` block)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        #: The signal number received (None: none yet).
        self.received = None
        self._previous = {}

    def install(self):
        """Catch the signals (from now on; ``received`` is reset)."""
        self.received = None
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received = signum
        self.restore()  # a second signal acts as usual

    def restore(self):
        """Give the signals back to the handlers they had before."""
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    __enter__ = install

    def __exit__(self, *exc_info):
        self.restore()

    def exit(self, message):
        """Log ``message`` and end the process as the signal asks:
        ``KeyboardInterrupt`` for SIGINT, ``SystemExit(128 + signum)`` for
        SIGTERM."""
        log.warning(message)
        if self.received == signal.SIGINT:
            raise KeyboardInterrupt(message)
        raise SystemExit(128 + self.received)

    @property
    def name(self):
        return signal.Signals(self.received).name
