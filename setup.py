"""Installation of padertorch_audio.

    pip install torch==2.13.0          # CPU build on the project machines
    pip install -e '.[all]'            # library, tests and every optional package
"""
import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent
VERSION = re.search(
    r"^__version__ = '([^']+)'",
    (ROOT / 'padertorch_audio' / '__init__.py').read_text(),
    re.MULTILINE,
).group(1)

install_requires = [
    'torch>=2.1',
    'numpy',
    'scipy',
    'soundfile',
    'tensorboardX',
    'Pillow',  # tensorboardX encodes image summaries with PIL
    'lazy_dataset',
    'paderbox',
    'tqdm',
]

extras_require = {
    'test': [
        'pytest',
        'librosa',       # reference for mel filterbanks
        'pb_bss_eval',   # reference for SI-SDR / SDR
        'scikit-learn',  # reference for EER (roc_curve), confusion matrix
        'ruff>=0.5',     # lint (tests/test_lint.py, rules in ruff.toml)
    ],
    'plot': [
        'matplotlib',
    ],
    'eval': [           # separation metrics (evaluation stages, CLI reports)
        'pb_bss_eval',
        'mir_eval',
        'pesq',
        'pystoi',
    ],
    'recipes': [        # experiment config and command line of the recipes
        'sacred',
        'setuptools<81',  # sacred 0.8.7 imports pkg_resources
    ],
}
extras_require['all'] = sorted({
    package for packages in extras_require.values() for package in packages
})

setup(
    name='padertorch_audio',
    version=VERSION,
    description='A PyTorch toolkit for speech and audio research: '
                'a general Trainer, audio domain packages and recipes.',
    long_description=(ROOT / 'README.md').read_text(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['padertorch_audio', 'padertorch_audio.*',
                                    'recipes', 'recipes.*']),
    install_requires=install_requires,
    extras_require=extras_require,
    entry_points={
        'console_scripts': [
            'padertorch-audio = padertorch_audio.cli:main',
        ],
    },
    license='MIT',
)
