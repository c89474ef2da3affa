"""separation_metrics against pb_bss_eval, mir_eval, pesq and pystoi called
directly."""
import json
import warnings

import mir_eval
import numpy as np
import pesq
import pystoi
import pytest
import scipy.signal
from pb_bss_eval.evaluation import si_sdr as reference_si_sdr

from padertorch_audio.evaluation import bss_eval_sdr, separation_metrics


def _bss_eval_sources(reference, estimate):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # deprecated in 0.8
        return mir_eval.separation.bss_eval_sources(
            reference, estimate, compute_permutation=False)[0]


@pytest.fixture(scope='module')
def utterance():
    """Two noise-like sources (1 s at 8 kHz), their mixture and estimates in
    swapped order: filtered sources plus a little noise and crosstalk."""
    rng = np.random.default_rng(0)
    reference = rng.standard_normal((2, 8000)) * [[0.3], [0.1]]
    mixture = reference.sum(0)
    estimate = scipy.signal.lfilter([0.8, 0.15, 0.05], 1, reference, axis=-1)
    estimate = estimate + 0.1 * reference[::-1] \
        + 0.01 * rng.standard_normal((2, 8000))
    return estimate[::-1].copy(), reference, mixture


def test_si_sdr_and_improvement_equal_pb_bss_eval(utterance):
    estimate, reference, mixture = utterance
    result = separation_metrics(estimate, reference, mixture, 8000,
                                metrics=('si_sdr', 'si_sdri'))
    assert result['permutation'] == [1, 0]
    expected = reference_si_sdr(reference, estimate[::-1])
    expected_mixture = reference_si_sdr(reference, mixture)
    np.testing.assert_allclose(result['per_source']['si_sdr'], expected,
                               atol=1e-6)
    np.testing.assert_allclose(result['per_source']['si_sdri'],
                               expected - expected_mixture, atol=1e-6)
    assert result['si_sdr'] == pytest.approx(expected.mean(), abs=1e-6)
    assert result['si_sdri'] == pytest.approx(
        np.mean(expected - expected_mixture), abs=1e-6)
    assert result['errors'] == {}


def test_estimate_order_does_not_matter(utterance):
    estimate, reference, mixture = utterance
    forward = separation_metrics(estimate, reference, mixture, 8000)
    swapped = separation_metrics(estimate[::-1], reference, mixture, 8000)
    assert swapped['permutation'] == [0, 1]
    for key in ('si_sdr', 'si_sdri', 'sdr', 'sdri', 'pesq', 'stoi'):
        assert swapped[key] == pytest.approx(forward[key], abs=1e-9), key


def test_sdr_and_improvement_equal_mir_eval(utterance):
    estimate, reference, mixture = utterance
    result = separation_metrics(estimate, reference, mixture, 8000,
                                metrics=('sdr', 'sdri'))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        sdr, _, _, permutation = mir_eval.separation.bss_eval_sources(
            reference, estimate)  # mir_eval's own permutation search
    assert permutation.tolist() == result['permutation']
    sdr_mixture = _bss_eval_sources(reference, np.stack([mixture] * 2))
    np.testing.assert_allclose(result['per_source']['sdr'], sdr, atol=1e-6)
    np.testing.assert_allclose(result['per_source']['sdri'],
                               sdr - sdr_mixture, atol=1e-6)
    assert result['sdri'] == pytest.approx(np.mean(sdr - sdr_mixture))


def test_bss_eval_sdr_equals_mir_eval_for_three_sources():
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((3, 3000))
    estimate = reference + 0.5 * reference[[1, 2, 0]] \
        + 0.2 * rng.standard_normal((3, 3000))
    estimate = scipy.signal.lfilter([1, 0.5, -0.2], 1, estimate, axis=-1)
    np.testing.assert_allclose(bss_eval_sdr(estimate, reference),
                               _bss_eval_sources(reference, estimate),
                               atol=1e-7)
    both = bss_eval_sdr(np.stack([estimate, estimate[::-1]], axis=1),
                        reference)
    np.testing.assert_allclose(both[:, 1],
                               _bss_eval_sources(reference, estimate[::-1]),
                               atol=1e-7)


@pytest.mark.parametrize('sample_rate, mode', [(8000, 'nb'), (16000, 'wb')])
def test_pesq_and_stoi_equal_the_packages(utterance, sample_rate, mode):
    estimate, reference, mixture = utterance
    if sample_rate == 16000:
        estimate, reference, mixture = (
            scipy.signal.resample_poly(x, 2, 1, axis=-1)
            for x in (estimate, reference, mixture))
    result = separation_metrics(estimate, reference, mixture, sample_rate,
                                metrics=('pesq', 'stoi', 'estoi'))
    ordered = estimate[::-1]
    for k in range(2):
        assert result['per_source']['pesq'][k] == pytest.approx(
            pesq.pesq(sample_rate, reference[k], ordered[k], mode), abs=1e-6)
        assert result['per_source']['stoi'][k] == pytest.approx(
            pystoi.stoi(reference[k], ordered[k], sample_rate), abs=1e-9)
        assert result['per_source']['estoi'][k] == pytest.approx(
            pystoi.stoi(reference[k], ordered[k], sample_rate,
                        extended=True), abs=1e-9)
    assert result['errors'] == {}


def test_pesq_resamples_other_rates_to_16k_wide_band(utterance):
    estimate, reference, mixture = utterance  # played as 24 kHz audio
    result = separation_metrics(estimate, reference, mixture, 24000,
                                metrics=('pesq',))
    expected = [
        pesq.pesq(16000, scipy.signal.resample_poly(reference[k], 2, 3),
                  scipy.signal.resample_poly(estimate[1 - k], 2, 3), 'wb')
        for k in range(2)]
    np.testing.assert_allclose(result['per_source']['pesq'], expected,
                               atol=1e-5)


def test_failing_metrics_are_recorded_not_raised(utterance):
    estimate, reference, mixture = utterance
    silent = estimate.copy()
    silent[1] = 0  # estimate 1 belongs to reference 0
    result = separation_metrics(silent, reference, mixture, 8000)
    assert result['per_source']['sdr'][0] is None
    assert result['per_source']['sdr'][1] is not None
    assert result['sdr'] is None and result['sdri'] is None
    assert result['pesq'] is None
    assert 'all zeros' in result['errors']['sdr']
    assert 'all zeros' in result['errors']['pesq']
    assert result['si_sdr'] is not None  # -80 dB for silence (eps policy)
    json.dumps(result, allow_nan=False)  # missing values are null, not NaN

    short = separation_metrics(estimate[:, :800], reference[:, :800],
                               mixture[:800], 8000)
    assert short['pesq'] is None and short['stoi'] is None
    assert 'BufferTooShortError' in short['errors']['pesq']
    assert 'too short' in short['errors']['stoi']
    assert short['si_sdr'] is not None and short['sdr'] is not None


def test_silent_reference_makes_every_metric_of_that_source_missing(
        utterance):
    estimate, reference, mixture = utterance
    reference = reference.copy()
    reference[1] = 0
    result = separation_metrics(estimate, reference, mixture, 8000)
    for name in ('si_sdr', 'si_sdri', 'sdr', 'sdri', 'pesq', 'stoi'):
        assert result[name] is None, name
        assert result['per_source'][name][0] is not None, name
        assert result['per_source'][name][1] is None, name
        assert 'source 1' in result['errors'][name], name


def test_wrong_arguments_raise():
    with pytest.raises(ValueError, match=r'estimate \(2, 100\), reference '
                                         r'\(2, 90\)'):
        separation_metrics(np.ones((2, 100)), np.ones((2, 90)),
                           np.ones(100), 8000)
    with pytest.raises(ValueError, match='unknown metric'):
        separation_metrics(np.ones((2, 100)), np.ones((2, 100)),
                           np.ones(100), 8000, metrics=('sisdr',))
