"""Source separation: TasNet (learned or STFT encoder/decoder) with the
DPRNN, Conv-TasNet (TCN) and BLSTM separators, long-file :func:`separate`,
exported models (:func:`export_model`, :func:`load_model`) and audio files
separated with one (:func:`separate_files`, what ``padertorch-audio
separate`` does).

>>> import torch
>>> from padertorch_audio.separation import TasNet, TINY_DPRNN, separate
>>> model = TasNet.from_config(TINY_DPRNN)
>>> separate(model, torch.randn(8000), sample_rate=8000).shape
torch.Size([2, 8000])

Paper configurations (use with ``TasNet.from_config`` / ``get_config``):
:data:`DPRNN_PAPER`, :data:`DPRNN_PAPER_WINDOW2`, :data:`CONVTASNET_PAPER`,
:data:`PIT_BLSTM_PAPER`; tiny ones for tests: :data:`TINY_DPRNN`,
:data:`TINY_CONVTASNET`, :data:`TINY_PIT_BLSTM`.
"""
from padertorch_audio.separation.convtasnet import (
    CONVTASNET_PAPER, TCN, TINY_CONVTASNET)
from padertorch_audio.separation.dprnn import (
    DPRNN, DPRNN_PAPER, DPRNN_PAPER_WINDOW2, TINY_DPRNN)
from padertorch_audio.separation.export import (
    ExportedModelError, export_model, load_model)
from padertorch_audio.separation.files import (
    SeparatedFile, SeparateFilesError, ToyModelWarning, print_result,
    separate_files)
from padertorch_audio.separation.masks import get_mask_activation
from padertorch_audio.separation.pit_blstm import (
    PIT_BLSTM_PAPER, PITBLSTM, TINY_PIT_BLSTM, BLSTMSeparator)
from padertorch_audio.separation.separate import separate
from padertorch_audio.separation.tasnet import (
    Decoder, Encoder, IstftDecoder, StftEncoder, TasNet)

__all__ = [
    'TasNet',
    'Encoder',
    'Decoder',
    'StftEncoder',
    'IstftDecoder',
    'DPRNN',
    'TCN',
    'BLSTMSeparator',
    'PITBLSTM',
    'get_mask_activation',
    'separate',
    'separate_files',
    'print_result',
    'SeparatedFile',
    'SeparateFilesError',
    'ToyModelWarning',
    'export_model',
    'load_model',
    'ExportedModelError',
    'DPRNN_PAPER',
    'DPRNN_PAPER_WINDOW2',
    'CONVTASNET_PAPER',
    'PIT_BLSTM_PAPER',
    'TINY_DPRNN',
    'TINY_CONVTASNET',
    'TINY_PIT_BLSTM',
]
