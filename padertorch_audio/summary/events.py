"""Read tensorboard event files back into Python values.

An event file (``events.out.tfevents.*``) is a TFRecord file: a sequence
of records, each::

    uint64 length (little-endian) | uint32 masked crc32c of the length
    | data (length bytes) | uint32 masked crc32c of the data

where ``data`` is a serialised ``Event`` protocol buffer (parsed with
``tensorboardX.proto.event_pb2``). Both checksums are verified unless
``verify_checksums=False`` (the crc32c is computed in pure Python, about
10 MB/s: skip it for very large files). A record cut off at the end of a
file (a writer that is still running or was killed) is skipped.

Every summary value becomes a :class:`Record` ``(step, tag, kind,
value)``:

============  ===============================================================
kind          value
============  ===============================================================
``scalar``    float
``image``     ``(channels, height, width)`` uint8 numpy array (decoded PNG)
``audio``     ``(samples, sampling_rate)``: float32 array ``(samples,)``
              (``(channels, samples)`` for several channels) in [-1, 1)
``histogram`` :class:`Histogram` (``bucket_limits``, ``bucket_counts`` arrays)
``text``      str (a numpy array of str for several strings)
``tensor``    numpy array (other tensor summaries, e.g. pr curves; the
              ``TensorProto`` for dtypes without a numpy equivalent)
``unknown``   the ``Summary.Value`` proto (anything else)
============  ===============================================================

Tags are as stored: ``writer.add_text('note', ...)`` is stored (by
tensorboardX) under ``'note/text_summary'``. Figures are stored as images.
"""
# Our own reader, not the `tensorboard` package's (measured with tensorboard
# 2.21, no tensorflow): its loader stops silently at a record with a wrong
# checksum (DataLossError is taken for a record still being written), so
# everything after it is lost without a word; it cannot skip the checksums;
# EventAccumulator keeps only samples (4 images/audios per tag) unless told;
# it would add ~55 MB (grpcio, tensorboard-data-server, absl, markdown,
# werkzeug) and 0.2 s of import for these ~60 lines, and it is no faster
# (its pure-Python CRC32C: 1.6 s on a 6 MB file, ours 1.5 s). The protobuf
# classes come from tensorboardX, which writes the files anyway; its
# crc32c is the same table method at half our speed.
import collections
import io
import struct
from pathlib import Path

import numpy as np

__all__ = [
    'Record', 'Histogram', 'read_events', 'read_events_by_tag',
    'event_files', 'crc32c', 'CorruptEventFileError',
]

Record = collections.namedtuple('Record', ['step', 'tag', 'kind', 'value'])
Record.__doc__ = 'One summary value of an event file.'

Histogram = collections.namedtuple('Histogram', [
    'min', 'max', 'num', 'sum', 'sum_squares', 'bucket_limits',
    'bucket_counts'])
Histogram.__doc__ = ('A histogram summary: ``bucket_counts[i]`` values lie '
                     'in ``(bucket_limits[i - 1], bucket_limits[i]]``.')


class CorruptEventFileError(ValueError):
    """A record of an event file has a wrong checksum."""


def _crc32c_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):  # Castagnoli polynomial, reflected
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``, as TFRecord files use it.

    >>> hex(crc32c(b'123456789'))  # the standard check value
    '0xe3069283'
    """
    table, crc = _CRC32C_TABLE, 0xFFFFFFFF
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def event_files(path):
    """The event files of ``path``: the file itself, or every
    ``events.out.tfevents.*`` below a directory (recursively), sorted by
    path (within a directory, the names start with the creation time)."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f'No event file or directory at {path}.')
    return sorted(path.rglob('events.out.tfevents.*'))


def _records(path, verify_checksums):
    """The data of each record of one TFRecord file."""
    data, position = Path(path).read_bytes(), 0
    while position + 12 <= len(data):
        header = data[position:position + 8]
        length, = struct.unpack('<Q', header)
        header_crc, = struct.unpack('<I', data[position + 8:position + 12])
        start, end = position + 12, position + 12 + length
        if verify_checksums and _masked_crc32c(header) != header_crc:
            raise CorruptEventFileError(
                f'{path}: the record at byte {position} has a wrong length '
                f'checksum (stored {header_crc:#010x}, computed '
                f'{_masked_crc32c(header):#010x}); the file is corrupt.')
        if end + 4 > len(data):
            return  # cut off at the end of the file
        if verify_checksums:
            stored, = struct.unpack('<I', data[end:end + 4])
            computed = _masked_crc32c(data[start:end])
            if stored != computed:
                raise CorruptEventFileError(
                    f'{path}: the record at byte {position} has a wrong data '
                    f'checksum (stored {stored:#010x}, computed '
                    f'{computed:#010x}); the file is corrupt (read it with '
                    f'verify_checksums=False to skip the check).')
        yield data[start:end]
        position = end + 4


_NUMPY_DTYPES = {  # tensorflow DataType -> (numpy dtype, TensorProto field)
    1: (np.float32, 'float_val'), 2: (np.float64, 'double_val'),
    3: (np.int32, 'int_val'), 4: (np.uint8, 'int_val'),
    5: (np.int16, 'int_val'), 6: (np.int8, 'int_val'),
    9: (np.int64, 'int64_val'), 10: (np.bool_, 'bool_val'),
    19: (np.float16, 'half_val'),
}
_DT_STRING, _DT_HALF = 7, 19


def _decode_tensor(tensor):
    """TensorProto -> numpy array (str array for strings)."""
    shape = [dim.size for dim in tensor.tensor_shape.dim]
    if tensor.dtype == _DT_STRING:
        values = [value.decode('utf-8', errors='replace')
                  for value in tensor.string_val]
        return np.array(values, dtype=object).reshape(shape)
    if tensor.dtype not in _NUMPY_DTYPES:
        return tensor  # left as the proto
    dtype, field = _NUMPY_DTYPES[tensor.dtype]
    if tensor.tensor_content:
        array = np.frombuffer(tensor.tensor_content, dtype=dtype)
    elif tensor.dtype == _DT_HALF:  # half_val holds the bits as ints
        array = np.array(tensor.half_val, np.uint16).view(np.float16)
    else:
        array = np.array(getattr(tensor, field), dtype=dtype)
    size = int(np.prod(shape))
    if array.size == 1 and size > 1:  # one value repeated
        array = np.full(size, array[0], dtype=dtype)
    return array.reshape(shape)


def _decode_image(image):
    from PIL import Image
    with Image.open(io.BytesIO(image.encoded_image_string)) as picture:
        array = np.asarray(picture)
    if array.ndim == 2:
        array = array[..., None]
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def _decode_audio(audio):
    import soundfile
    samples, sampling_rate = soundfile.read(
        io.BytesIO(audio.encoded_audio_string), dtype='float32',
        always_2d=True)  # (samples, channels)
    samples = samples[:, 0] if samples.shape[1] == 1 else samples.T
    return np.ascontiguousarray(samples), int(sampling_rate)


def _decode_histogram(histo):
    return Histogram(
        min=histo.min, max=histo.max, num=histo.num, sum=histo.sum,
        sum_squares=histo.sum_squares,
        bucket_limits=np.array(histo.bucket_limit, dtype=np.float64),
        bucket_counts=np.array(histo.bucket, dtype=np.float64))


def _decode(value):
    """(kind, python value) of a Summary.Value."""
    field = value.WhichOneof('value')
    plugin = value.metadata.plugin_data.plugin_name
    if field == 'simple_value':
        return 'scalar', float(value.simple_value)
    if field == 'image':
        return 'image', _decode_image(value.image)
    if field == 'audio':
        return 'audio', _decode_audio(value.audio)
    if field in ('histo', 'obsolete_old_style_histogram'):
        return 'histogram', _decode_histogram(getattr(value, field))
    if field == 'tensor':
        array = _decode_tensor(value.tensor)
        if plugin == 'text' and isinstance(array, np.ndarray):
            if array.size == 1:
                return 'text', str(array.reshape(-1)[0])
            return 'text', array
        if plugin == 'scalars' and getattr(array, 'size', 0) == 1:
            return 'scalar', float(array.reshape(-1)[0])
        return 'tensor', array
    return 'unknown', value  # the Summary.Value proto


def read_events(path, verify_checksums=True):
    """All summary values of the event files at ``path``.

    Args:
        path: An event file, or a directory (e.g. a storage dir) whose
            ``events.out.tfevents.*`` files are read, recursively, in the
            order of their paths.
        verify_checksums: Check each record's crc32c (see the module doc).

    Returns:
        A list of :class:`Record` ``(step, tag, kind, value)`` in the order
        they were written (see the module doc for the kinds and values).

    >>> import tempfile, tensorboardX
    >>> with tempfile.TemporaryDirectory() as directory:
    ...     with tensorboardX.SummaryWriter(directory) as writer:
    ...         writer.add_scalar('loss', 0.5, global_step=3)
    ...         writer.add_text('note', 'hello', global_step=3)
    ...     read_events(directory)
    [Record(step=3, tag='loss', kind='scalar', value=0.5), Record(step=3, tag='note/text_summary', kind='text', value='hello')]
    """
    from tensorboardX.proto import event_pb2

    records = []
    for file in event_files(path):
        for data in _records(file, verify_checksums):
            event = event_pb2.Event()
            event.ParseFromString(data)
            if event.WhichOneof('what') != 'summary':
                continue  # file version, graph, session log, ...
            for value in event.summary.value:
                kind, decoded = _decode(value)
                records.append(Record(event.step, value.tag, kind, decoded))
    return records


def read_events_by_tag(path, kind=None, verify_checksums=True):
    """``{tag: {step: value}}`` of the event files at ``path``.

    Args:
        path, verify_checksums: As for :func:`read_events`.
        kind: Only values of this kind (e.g. ``'scalar'``); None: all.

    When a tag has several values at one step (e.g. after a resume), the
    last one written wins.
    """
    found = {}
    for step, tag, record_kind, value in read_events(path, verify_checksums):
        if kind is None or record_kind == kind:
            found.setdefault(tag, {})[step] = value
    return found
