import copy

import torch

from padertorch_audio.features import istft, stft
from padertorch_audio.separation import (
    PIT_BLSTM_PAPER, PITBLSTM, TINY_PIT_BLSTM, BLSTMSeparator, TasNet)


def test_paper_configuration():
    config = PITBLSTM.get_config(PIT_BLSTM_PAPER)
    assert config['separator']['hidden_size'] == 896
    assert config['separator']['num_layers'] == 3
    assert config['separator']['input_size'] == 129
    assert config == PITBLSTM.get_config()  # the defaults


def test_separator_layout_equals_reference():
    torch.manual_seed(0)
    separator = BLSTMSeparator(input_size=5, hidden_size=3, num_layers=2,
                               num_speakers=3).double()
    features = torch.randn(2, 5, 7, dtype=torch.float64)
    hidden, _ = separator.lstm(features.transpose(1, 2))
    logits = separator.output(hidden)  # (batch, frames, K * bins)
    masks = separator(features)
    for b in range(2):
        for k in range(3):
            for f in range(5):
                torch.testing.assert_close(
                    masks[b, k, f], torch.sigmoid(logits[b, :, k * 5 + f]))


def test_model_masks_the_mixture_spectrum():
    torch.manual_seed(1)
    config = copy.deepcopy(TINY_PIT_BLSTM)
    config['separator']['num_speakers'] = 3
    model = TasNet.from_config(config).double()
    assert isinstance(model, PITBLSTM)
    x = torch.randn(2, 400, dtype=torch.float64)
    spectrum = stft(x, 64, 16)  # (batch, frames, bins)
    features = torch.log1p(spectrum.abs()).transpose(1, 2)
    masks = model.separator(features)  # (batch, K, bins, frames)
    expected = istft(masks.transpose(-1, -2) * spectrum[:, None], 64, 16,
                     num_samples=400)
    output = model({'observation': x})
    torch.testing.assert_close(output, expected)
    target = torch.randn(2, 3, 400, dtype=torch.float64)
    review = model.review({'observation': x, 'speech_source': target},
                          output)
    assert set(review['losses']) == {'si_sdr', 'log_mse', 'log1p_mse'}
