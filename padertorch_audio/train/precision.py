"""Mixed precision: autocast, the fp16 loss scaler, skipped overflow steps.

``Precision(None)`` is float32 and does nothing; ``'bf16'`` runs forward
and review under ``torch.autocast`` with bfloat16; ``'fp16'`` also scales
the loss with a ``torch.amp.GradScaler`` (its state is checkpointed) and
skips a step whose gradients overflowed (counted in ``skipped_steps`` and
logged, not fatal), as torch's AMP recipe does.
"""
import contextlib
import logging
import math

import torch

__all__ = ['Precision', 'MODES']

# A child of the Trainer's logger: whoever configures that one gets the
# messages of the run from here too.
log = logging.getLogger('padertorch_audio.train.trainer.precision')

#: The ``mixed_precision`` values and their autocast dtypes.
MODES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
_NO_CONTEXT = contextlib.nullcontext()  # reusable; cheaper than a new one


class Precision:
    """The numeric precision of the training steps (see the module doc).

    Args:
        mode: ``None`` (float32), ``'bf16'`` or ``'fp16'``.
    """

    def __init__(self, mode=None):
        if mode is not None and mode not in MODES:
            raise ValueError(f"mixed_precision must be None, 'bf16' or "
                             f"'fp16', got {mode!r}.")
        self.mode = mode
        self.device_type = 'cpu'
        #: The fp16 loss scaler (None otherwise); new at every :meth:`start`.
        self.scaler = None
        #: Steps skipped because fp16 gradients overflowed.
        self.skipped_steps = 0

    def start(self, device):
        """Prepare a training run on ``device`` (a fresh loss scaler)."""
        self.device_type = torch.device(device).type
        self.scaler = (torch.amp.GradScaler(self.device_type)
                       if self.mode == 'fp16' else None)

    def autocast(self):
        """The context that forward and review run in."""
        if self.mode is None:
            return _NO_CONTEXT
        return torch.autocast(self.device_type, dtype=MODES[self.mode])

    @property
    def needs_grad_norm(self) -> bool:
        """Whether :meth:`step` needs the gradient norm (to see overflows)."""
        return self.scaler is not None

    def backward(self, loss):
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def unscale(self, optimizer):
        """Undo the loss scale on the gradients (before clipping)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer.optimizer)

    def step(self, optimizer, grad_norm, iteration):
        """Take the optimizer step; returns ``grad_norm``, or None when an
        fp16 overflow made the scaler skip the step."""
        if self.scaler is None:
            optimizer.step()
            return grad_norm
        if not math.isfinite(grad_norm.item()):
            self.skipped_steps += 1
            log.warning('fp16 gradients overflowed at iteration %d (loss '
                        'scale %g): step skipped (%d so far), the loss scale '
                        'is lowered.', iteration, self.scaler.get_scale(),
                        self.skipped_steps)
            grad_norm = None
        self.scaler.step(optimizer.optimizer)
        self.scaler.update()
        return grad_norm

    def state_dict(self) -> dict:
        return {'skipped_steps': self.skipped_steps,
                'grad_scaler': (self.scaler.state_dict()
                                if self.scaler is not None else None)}

    def load_state_dict(self, state: dict):
        self.skipped_steps = state.get('skipped_steps', 0)
        if self.scaler is not None and state.get('grad_scaler'):
            self.scaler.load_state_dict(state['grad_scaler'])
