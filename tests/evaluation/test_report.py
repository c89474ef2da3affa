"""write_report: a decodable PNG of the documented size, no pyplot state."""
import sys

import numpy as np
import pytest
from PIL import Image

from padertorch_audio.evaluation.report import report_size, write_report


def _results(n=40):
    values = np.random.default_rng(0).normal(12, 3, n)
    results = [{'example_id': f'utt{i}', 'si_sdri': float(v)}
               for i, v in enumerate(values)]
    results[3]['si_sdri'] = None
    results.append({'example_id': 'bad', 'error': 'ValueError: bad'})
    return results


def _pyplot_figures():
    pyplot = sys.modules.get('matplotlib.pyplot')
    return pyplot.get_fignums() if pyplot else []


@pytest.mark.parametrize('num_sources', [2, 3])
def test_report_with_example_is_a_png_of_the_expected_size(tmp_path,
                                                           num_sources):
    rng = np.random.default_rng(1)
    reference = rng.standard_normal((num_sources, 8000))
    example = {'example_id': 'utt0', 'mixture': reference.sum(0),
               'estimate': reference[::-1], 'reference': reference,
               'sample_rate': 8000,
               'permutation': list(range(num_sources))[::-1]}
    figures_before = _pyplot_figures()
    path = write_report(tmp_path / 'report.png', _results(), example,
                        dpi=50)
    assert path == tmp_path / 'report.png'
    with Image.open(path) as image:
        image.load()  # decodes the whole file
        assert image.format == 'PNG'
        assert image.size == report_size(num_sources, dpi=50)
        assert image.size == (500, round((3 + 2 * (num_sources + 1)) * 50))
    assert _pyplot_figures() == figures_before
    assert [p.name for p in tmp_path.iterdir()] == ['report.png']


def test_histogram_only_report_and_atomic_replacement(tmp_path):
    path = tmp_path / 'report.png'
    path.write_bytes(b'old')
    write_report(path, _results(), dpi=40)
    with Image.open(path) as image:
        image.load()
        assert image.size == report_size(dpi=40) == (400, 120)
    # Nothing to histogram: still a valid report (a note instead of bars).
    write_report(path, [{'example_id': 'a', 'error': 'x'}], metric='pesq',
                 dpi=40)
    with Image.open(path) as image:
        image.load()
    assert [p.name for p in tmp_path.iterdir()] == ['report.png']


def test_invalid_example_is_refused_and_nothing_written(tmp_path):
    with pytest.raises(ValueError, match=r'mixture \(8000,\), estimate '
                                         r'\(2, 8000\), reference \(2, 10\)'):
        write_report(tmp_path / 'r.png', _results(),
                     {'mixture': np.zeros(8000),
                      'estimate': np.zeros((2, 8000)),
                      'reference': np.zeros((2, 10)), 'sample_rate': 8000})
    assert list(tmp_path.iterdir()) == []
