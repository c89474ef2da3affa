"""Generic tensor operations: losses, PIT, sequence masks and segments,
activations, mu-law."""
from padertorch_audio.ops.activations import ACTIVATIONS, get_activation
from padertorch_audio.ops.losses import (
    gaussian_kl_divergence,
    log1p_mse,
    log_mse,
    masked_cross_entropy,
    mse,
    sdr,
    sdr_loss,
    si_sdr,
    si_sdr_loss,
)
from padertorch_audio.ops.mu_law import mu_law_decode, mu_law_encode
from padertorch_audio.ops.pit import (
    apply_permutation,
    best_permutation,
    pit_loss,
)
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
    # losses
    'si_sdr',
    'si_sdr_loss',
    'sdr',
    'sdr_loss',
    'mse',
    'log_mse',
    'log1p_mse',
    'gaussian_kl_divergence',
    'masked_cross_entropy',
    # permutation invariant training
    'pit_loss',
    'best_permutation',
    'apply_permutation',
    # sequences
    'compute_mask',
    'masked_sum',
    'masked_mean',
    'pad_sequence',
    'unpad',
    'segment',
    'overlap_add',
    # activations
    'ACTIVATIONS',
    'get_activation',
    # mu-law
    'mu_law_encode',
    'mu_law_decode',
]
