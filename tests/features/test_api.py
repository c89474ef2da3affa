import numpy as np
import torch

import padertorch_audio.features as features
from padertorch_audio.ops import mu_law


def test_public_names_import():
    for name in features.__all__:
        assert getattr(features, name) is not None, name


def test_mu_law_is_re_exported_and_matches_the_formula():
    assert features.mu_law_encode is mu_law.mu_law_encode
    assert features.mu_law_decode is mu_law.mu_law_decode
    x = np.linspace(-1, 1, 101)
    companded = np.sign(x) * np.log1p(255 * np.abs(x)) / np.log1p(255)
    expected = np.floor((companded + 1) / 2 * 255 + 0.5).astype(np.int64)
    np.testing.assert_array_equal(features.mu_law_encode(x), expected)
    decoded = features.mu_law_decode(torch.from_numpy(expected))
    np.testing.assert_allclose(decoded.numpy(), x, atol=0.02)


def test_feature_pipeline_with_lengths():
    # log-mel of a padded batch, then per-utterance normalisation of the
    # valid frames given by samples_to_frames
    signals = torch.randn(2, 8000)
    signals[1, 3000:] = 0  # zero padded, as Collate does
    lengths = torch.tensor([8000, 3000])
    log_mel = features.LogMel(8000, 256, 80, n_mels=20)
    frames = features.samples_to_frames(lengths, 256, 80)
    output = features.normalize_per_utterance(log_mel(signals), frames)
    assert output.shape == (2, int(frames[0]), 20)
    torch.testing.assert_close(
        output[1, :frames[1]],
        features.normalize_per_utterance(log_mel(signals[1, :3000])))
