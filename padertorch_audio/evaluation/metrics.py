"""Separation metrics for one utterance: SI-SDR(i), SDR(i), PESQ, STOI.

:func:`separation_metrics` first resolves the permutation of the estimates
by SI-SDR (the order of the estimates does not matter), then computes every
requested metric per source and its mean over the sources.

Definitions (see REFERENCES.md):

- ``si_sdr``: scale-invariant SDR in dB (Le Roux et al. 2019), computed
  with :func:`padertorch_audio.ops.si_sdr` (zero-mean signals, eps 1e-8).
- ``sdr``: BSS-Eval v3 SDR in dB (512-tap distortion filter) of the
  permuted estimates, the value of ``mir_eval.separation.bss_eval_sources``
  computed by :func:`bss_eval_sdr` (one small linear system per source
  instead of mir_eval's large one: about 25x faster, same values).
- ``si_sdri`` / ``sdri``: improvement in dB, the metric of the estimate
  minus the metric of the mixture used as the estimate of every source.
- ``pesq``: ITU-T P.862 with the ``pesq`` package: narrow-band at 8 kHz,
  wide-band (P.862.2) at 16 kHz. Other sample rates are resampled first
  (:func:`padertorch_audio.features.resample`): rates below 16 kHz to 8 kHz
  (narrow-band), rates above to 16 kHz (wide-band).
- ``stoi`` / ``estoi``: (extended) short-time objective intelligibility
  with ``pystoi`` (which resamples to 10 kHz itself).

A metric that cannot be computed (PESQ finds no utterance in a silent
signal, a signal is too short for STOI, a reference is silent)
is recorded as missing (``None``) with the reason in ``result['errors']``;
it does not raise. Values that are not finite count as missing too.
Wrong arguments (shapes, unknown metric names) do raise a ValueError.
"""
import math
import warnings

import numpy as np
import torch

__all__ = ['separation_metrics', 'bss_eval_sdr', 'METRICS']

#: The metric names :func:`separation_metrics` knows.
METRICS = ('si_sdr', 'si_sdri', 'sdr', 'sdri', 'pesq', 'stoi', 'estoi')
DEFAULT_METRICS = ('si_sdr', 'si_sdri', 'sdr', 'sdri', 'pesq', 'stoi')


def _as_array(x, name):
    if hasattr(x, 'detach'):  # a torch tensor
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating) \
            and not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f'separation_metrics: expected a real {name} signal, '
                        f'found dtype {x.dtype}.')
    return np.ascontiguousarray(x, dtype=np.float64)


def _check_inputs(estimate, reference, mixture):
    estimate = _as_array(estimate, 'estimate')
    reference = _as_array(reference, 'reference')
    mixture = _as_array(mixture, 'mixture')
    shapes = (f'estimate {estimate.shape}, reference {reference.shape}, '
              f'mixture {mixture.shape}')
    if estimate.ndim != 2 or estimate.shape != reference.shape \
            or mixture.shape != estimate.shape[1:] or estimate.shape[0] == 0 \
            or estimate.shape[1] == 0:
        raise ValueError(
            f'separation_metrics: expected estimate and reference of shape '
            f'(sources, samples) and mixture of shape (samples,), all with '
            f'the same number of samples, found {shapes}.')
    return estimate, reference, mixture


def _error_string(error):
    if len(error.args) == 1 and isinstance(error.args[0], bytes):
        message = error.args[0].decode(errors='replace')  # pesq's errors
    else:
        message = str(error).strip()
    return f'{type(error).__name__}: {message}' if message \
        else type(error).__name__


def _per_source_si_sdr(estimate, reference, mixture):
    """Best permutation by SI-SDR; per-source SI-SDR of the permuted
    estimates and of the mixture."""
    from padertorch_audio.ops import best_permutation, si_sdr
    estimate_t = torch.from_numpy(estimate)
    reference_t = torch.from_numpy(reference)
    # pair[i, j]: estimate i against reference j.
    pair = si_sdr(estimate_t[:, None, :], reference_t[None, :, :])
    permutation = best_permutation(-pair)
    sources = torch.arange(len(permutation))
    values = pair[permutation, sources].tolist()
    mixture_values = si_sdr(torch.from_numpy(mixture)[None, :],
                            reference_t).tolist()
    return permutation.tolist(), values, mixture_values


def bss_eval_sdr(estimate, reference, filter_length=512):
    """BSS-Eval v3 SDR in dB of each estimate against its reference.

    The SDR of estimate ``ŝ_k`` is ``10 log10(||P_k ŝ_k||² / ||ŝ_k -
    P_k ŝ_k||²)``, where ``P_k`` projects onto the span of the reference
    ``s_k`` delayed by 0 .. ``filter_length - 1`` samples (a time-invariant
    distortion filter; the signals are zero-padded by ``filter_length - 1``).
    This is the SDR of ``mir_eval.separation.bss_eval_sources`` (Vincent et
    al. 2006) for estimates that are already in the order of the references:
    its SDR does not depend on the other references, so this function
    solves only one ``filter_length``-square system per reference (shared by
    all estimates of that reference) instead of mir_eval's ``K *
    filter_length``-square one.

    Args:
        estimate: ``(K, samples)``, or ``(K, M, samples)`` for ``M``
            estimates per reference (e.g. the separated source and the
            mixture).
        reference: ``(K, samples)``.
        filter_length: Taps of the distortion filter (512 in BSS-Eval v3).

    Returns:
        float64 numpy array ``(K,)`` or ``(K, M)``.

    Raises:
        ValueError: a reference or an estimate is all zeros (the SDR is
            undefined; mir_eval refuses these too), or the shapes differ.

    >>> rng = np.random.default_rng(0)
    >>> reference = rng.standard_normal((2, 4000))
    >>> noise = 0.1 * rng.standard_normal((2, 4000))
    >>> np.round(bss_eval_sdr(reference + noise, reference), 1)
    array([20.6, 20.7])
    """
    import scipy.fft
    import scipy.linalg
    import scipy.signal

    estimate = np.asarray(estimate, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    single = estimate.ndim == 2
    if single:
        estimate = estimate[:, None, :]
    if reference.ndim != 2 or estimate.ndim != 3 \
            or estimate.shape[0] != reference.shape[0] \
            or estimate.shape[-1] != reference.shape[-1]:
        raise ValueError(
            f'bss_eval_sdr: expected estimate (K, samples) or (K, M, '
            f'samples) and reference (K, samples), found estimate '
            f'{estimate.shape} and reference {reference.shape}.')
    num_samples = reference.shape[-1]
    length = num_samples + filter_length - 1
    n_fft = scipy.fft.next_fast_len(length, real=True)
    result = np.empty(estimate.shape[:2])
    for k, (source, estimates) in enumerate(zip(reference, estimate)):
        if not np.any(source):
            raise ValueError(f'bss_eval_sdr: reference {k} is all zeros.')
        for m, signal in enumerate(estimates):
            if not np.any(signal):
                raise ValueError(f'bss_eval_sdr: estimate {k} is all zeros.')
        spectrum = scipy.fft.rfft(source, n_fft)
        # correlation[l] = sum_t s[t] x[t + l] for the lags l = 0 .. L-1.
        autocorrelation = scipy.fft.irfft(
            np.abs(spectrum) ** 2, n_fft)[:filter_length]
        cross = scipy.fft.irfft(
            np.conj(spectrum) * scipy.fft.rfft(estimates, n_fft, axis=-1),
            n_fft, axis=-1)[:, :filter_length]
        gram = scipy.linalg.toeplitz(autocorrelation)
        try:
            filters = np.linalg.solve(gram, cross.T)
        except np.linalg.LinAlgError:
            filters = np.linalg.lstsq(gram, cross.T, rcond=None)[0]
        for m, signal in enumerate(estimates):
            projection = scipy.signal.fftconvolve(
                source, filters[:, m])[:length]
            error = -projection
            error[:num_samples] += signal
            result[k, m] = 10 * np.log10(
                np.sum(projection ** 2) / np.sum(error ** 2))
    return result[:, 0] if single else result


def _check_estimate(estimate):
    if not np.any(estimate):
        raise ValueError('the estimate is all zeros (silent)')


def _sdr(estimate, reference):
    _check_estimate(estimate)
    return float(bss_eval_sdr(estimate[None], reference[None])[0])


def _pesq_rate_and_mode(sample_rate):
    if sample_rate == 8000:
        return 8000, 'nb'
    if sample_rate == 16000:
        return 16000, 'wb'
    return (8000, 'nb') if sample_rate < 16000 else (16000, 'wb')


def _pesq(estimate, reference, sample_rate):
    import pesq
    _check_estimate(estimate)
    rate, mode = _pesq_rate_and_mode(sample_rate)
    if rate != sample_rate:
        from padertorch_audio.features import resample
        estimate = resample(estimate, sample_rate, rate)
        reference = resample(reference, sample_rate, rate)
    return float(pesq.pesq(rate, reference, estimate, mode))


def _stoi(estimate, reference, sample_rate, extended):
    from pystoi import stoi
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        value = float(stoi(reference, estimate, sample_rate,
                           extended=extended))
    if caught and value == 1e-5:  # pystoi's placeholder for "no result"
        raise ValueError(
            'fewer than 30 STFT frames (384 ms) are left after pystoi '
            'removed the silent frames: the signal is too short or silent')
    return value


class _Collector:
    """Per-source values and error strings of the metrics."""

    def __init__(self):
        self.per_source = {}
        self.errors = {}

    def set(self, name, values, reasons=None):
        """``values``: per-source list with None for the missing ones;
        ``reasons``: per-source list of error strings (or None)."""
        reasons = list(reasons) if reasons else [None] * len(values)
        clean = []
        for index, value in enumerate(values):
            if value is not None and not math.isfinite(value):
                reasons[index] = reasons[index] or f'not finite ({value})'
                value = None
            clean.append(value)
        self.per_source[name] = clean
        messages = [
            f'source {index}: {reason}' if len(values) > 1 else reason
            for index, reason in enumerate(reasons) if reason
        ]
        if messages:
            self.errors[name] = '; '.join(messages)

    def improvement(self, name, base, estimate_values, mixture_values,
                    mixture_reasons=None):
        """``name`` = ``base`` of the estimate - ``base`` of the mixture,
        per source."""
        mixture_reasons = mixture_reasons or [None] * len(mixture_values)
        values, reasons = [], []
        for value, mixture_value, mixture_reason in zip(
                estimate_values, mixture_values, mixture_reasons):
            if value is None:
                values.append(None)
                reasons.append(f'no {base} (see errors[{base!r}])')
            elif mixture_value is None or not math.isfinite(mixture_value):
                values.append(None)
                reasons.append(f'no {base} of the mixture '
                               f'({mixture_reason or mixture_value})')
            else:
                values.append(value - mixture_value)
                reasons.append(None)
        self.set(name, values, reasons)


SILENT_REFERENCE = 'the reference is all zeros (silent): undefined'


def _per_source(function, estimate, reference):
    """``function(estimate[k], reference[k])`` for each source; failures
    become None with their reason."""
    values, reasons = [], []
    for k in range(len(reference)):
        if not np.any(reference[k]):
            values.append(None)
            reasons.append(SILENT_REFERENCE)
            continue
        try:
            values.append(function(estimate[k], reference[k]))
            reasons.append(None)
        except Exception as error:  # noqa: BLE001 - recorded, not raised
            values.append(None)
            reasons.append(_error_string(error))
    return values, reasons


def separation_metrics(estimate, reference, mixture, sample_rate,
                       metrics=DEFAULT_METRICS):
    """Separation metrics of one utterance, permutation resolved by SI-SDR.

    Args:
        estimate: ``(K, samples)`` separated signals, in any order (numpy
            array or tensor).
        reference: ``(K, samples)`` clean source signals.
        mixture: ``(samples,)`` the observed mixture (for the improvements).
        sample_rate: In Hz.
        metrics: Names from :data:`METRICS`: ``'si_sdr'``, ``'si_sdri'``,
            ``'sdr'``, ``'sdri'`` (dB), ``'pesq'`` (MOS-LQO), ``'stoi'``,
            ``'estoi'`` (0..1).

    Returns:
        A JSON-serialisable dict:

        - ``<metric>``: the mean over the sources (float), or None when the
          metric is missing for any source;
        - ``'per_source'``: ``{<metric>: [value or None per reference]}``;
        - ``'permutation'``: ``permutation[k]`` is the index of the
          estimate assigned to reference ``k``;
        - ``'errors'``: ``{<metric>: 'Type: reason'}`` for the missing
          values (empty when everything was computed).

    >>> rng = np.random.default_rng(0)
    >>> reference = rng.standard_normal((2, 8000))
    >>> mixture = reference.sum(0)
    >>> estimate = reference[::-1] + 0.1 * rng.standard_normal((2, 8000))
    >>> result = separation_metrics(estimate, reference, mixture, 8000,
    ...                             metrics=('si_sdr', 'si_sdri'))
    >>> result['permutation']
    [1, 0]
    >>> round(result['si_sdr']), round(result['si_sdri'])
    (20, 20)
    >>> result['errors']
    {}
    """
    if isinstance(metrics, str):
        metrics = (metrics,)
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ValueError(
            f'separation_metrics: unknown metric(s) {unknown}; expected '
            f'names from {list(METRICS)}.')
    if not (isinstance(sample_rate, (int, float, np.integer, np.floating))
            and sample_rate > 0 and float(sample_rate).is_integer()):
        raise ValueError(f'separation_metrics: expected sample_rate as a '
                         f'positive whole number of Hz, found {sample_rate!r}.')
    sample_rate = int(sample_rate)
    estimate, reference, mixture = _check_inputs(estimate, reference, mixture)

    permutation, si_sdr_values, si_sdr_mixture = _per_source_si_sdr(
        estimate, reference, mixture)
    estimate = estimate[permutation]
    collector = _Collector()

    if 'si_sdr' in metrics or 'si_sdri' in metrics:
        silent = [not np.any(source) for source in reference]
        collector.set(
            'si_sdr',
            [None if s else v for s, v in zip(silent, si_sdr_values)],
            [SILENT_REFERENCE if s else None for s in silent])
    if 'si_sdri' in metrics:
        collector.improvement('si_sdri', 'si_sdr',
                              collector.per_source['si_sdr'], si_sdr_mixture)

    if 'sdr' in metrics or 'sdri' in metrics:
        collector.set('sdr', *_per_source(_sdr, estimate, reference))
    if 'sdri' in metrics:
        mixture_values, mixture_reasons = _per_source(
            _sdr, np.broadcast_to(mixture, reference.shape), reference)
        collector.improvement('sdri', 'sdr', collector.per_source['sdr'],
                              mixture_values, mixture_reasons)

    if 'pesq' in metrics:
        collector.set('pesq', *_per_source(
            lambda e, r: _pesq(e, r, sample_rate), estimate, reference))
    for name, extended in (('stoi', False), ('estoi', True)):
        if name in metrics:
            collector.set(name, *_per_source(
                lambda e, r: _stoi(e, r, sample_rate, extended),
                estimate, reference))

    result = {}
    for name in metrics:
        values = collector.per_source[name]
        result[name] = None if any(v is None for v in values) \
            else float(np.mean(values))
    result['per_source'] = {name: collector.per_source[name]
                            for name in metrics}
    result['permutation'] = permutation
    result['errors'] = {name: reason for name, reason
                        in collector.errors.items() if name in metrics}
    return result
