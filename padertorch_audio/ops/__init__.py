"""Generic tensor operations: losses, PIT, sequence masks and segments,
activations, mu-law."""
from padertorch_audio.ops.sequence import compute_mask

__all__ = ['compute_mask']
