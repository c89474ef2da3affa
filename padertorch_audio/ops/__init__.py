"""Generic tensor operations: losses, PIT, sequence masks and segments,
activations, mu-law."""
from padertorch_audio.ops.sequence import (
    compute_mask,
    masked_mean,
    masked_sum,
    overlap_add,
    pad_sequence,
    segment,
    unpad,
)

__all__ = [
    'compute_mask',
    'masked_sum',
    'masked_mean',
    'pad_sequence',
    'unpad',
    'segment',
    'overlap_add',
]
