import numpy as np
import pytest
import torch

from padertorch_audio.classification import (
    SPEAKER_RESNET, SPEAKER_RESNET34, TINY_SPEAKER_MODEL, SpeakerClassifier)
from padertorch_audio.data import collate
from tests.classification.test_resnet import randomise_batch_norms

RNG = np.random.default_rng(0)


def tiny_model(**updates):
    torch.manual_seed(0)
    return SpeakerClassifier.from_config(
        SpeakerClassifier.get_config({**TINY_SPEAKER_MODEL, **updates}))


def test_a_padded_batch_gives_the_results_of_each_item_in_eval_mode():
    model = randomise_batch_norms(tiny_model()).eval()
    lengths = [8000, 3001, 4800, 161, 6399]  # odd/even frames at the strides
    signals = [RNG.standard_normal(n).astype(np.float32) for n in lengths]
    batch = collate([{'audio': s, 'num_samples': len(s)} for s in signals])
    batch['audio'][1, 3001:] = 1.  # the padding must not matter
    with torch.no_grad():
        output = model({key: torch.as_tensor(value)
                        for key, value in batch.items()})
        for b, signal in enumerate(signals):
            alone = model({'audio': torch.from_numpy(signal[None])})
            for key in ('logits', 'embedding'):
                torch.testing.assert_close(output[key][b], alone[key][0],
                                           rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(
                model.embed(torch.from_numpy(signal)), alone['embedding'][0])
        # the Collate key audio_lengths serves as num_samples
        del batch['num_samples']
        torch.testing.assert_close(
            model({key: torch.as_tensor(value)
                   for key, value in batch.items()})['embedding'],
            output['embedding'])
        torch.testing.assert_close(
            model.classify(batch['audio'], lengths), output['logits'])


def test_logits_are_the_scaled_cosines_without_margin():
    model = tiny_model(margin=0.3, scale=12.).eval()
    with torch.no_grad():
        output = model({'audio': torch.randn(3, 4000)})
    embedding = output['embedding'].numpy()
    weight = model.classifier.weight.detach().numpy()
    cosines = (embedding / np.linalg.norm(embedding, axis=1, keepdims=True)) \
        @ (weight / np.linalg.norm(weight, axis=1, keepdims=True)).T
    np.testing.assert_allclose(output['logits'].numpy(), 12. * cosines,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('classifier', ['am_softmax', 'softmax'])
def test_gradients_reach_every_parameter(classifier):
    model = tiny_model(classifier=classifier).train()
    example = {'audio': torch.randn(4, 6000),
               'num_samples': torch.tensor([6000, 5000, 2000, 4000]),
               'speaker_index': torch.tensor([0, 1, 2, 1])}
    model.review(example, model(example))['loss'].backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def numpy_review(logits, targets, margin, scale):
    """Loss (AM-softmax, hand-written), top-1 and top-k accuracy."""
    k = min(5, logits.shape[1])
    ranked = np.argsort(-logits, axis=1)
    accuracy = np.mean(ranked[:, 0] == targets)
    top_k = np.mean([t in row[:k] for row, t in zip(ranked, targets)])
    shifted = logits - scale * margin * np.eye(logits.shape[1])[targets]
    log_softmax = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return -log_softmax[np.arange(len(targets)), targets].mean(), accuracy, \
        top_k


@pytest.mark.parametrize('num_classes', [3, 8])
def test_review_equals_a_numpy_computation(num_classes):
    model = tiny_model(num_classes=num_classes, scale=5.).eval()
    targets = RNG.integers(0, num_classes, 12)
    example = {'audio': torch.randn(12, 3000),
               'speaker_index': torch.from_numpy(targets)}
    output = model(example)
    review = model.review(example, output)
    loss, accuracy, top_k = numpy_review(
        output['logits'].detach().double().numpy(), targets, 0.2, 5.)
    assert set(review) == {'loss', 'scalars'}
    np.testing.assert_allclose(review['loss'].item(), loss, rtol=1e-5)
    assert review['scalars']['accuracy'] == pytest.approx(accuracy)
    assert review['scalars']['top5_accuracy'] == pytest.approx(top_k)
    if num_classes == 3:
        assert review['scalars']['top5_accuracy'] == 1.


def test_softmax_review_is_the_cross_entropy():
    model = tiny_model(classifier='softmax')
    example = {'audio': torch.randn(4, 3000),
               'speaker_index': torch.tensor([2, 0, 1, 1])}
    output = model(example)
    torch.testing.assert_close(
        model.review(example, output)['loss'],
        torch.nn.functional.cross_entropy(output['logits'],
                                          example['speaker_index']))


def three_speakers(count, seconds, rng):
    """Three synthetic "speakers": harmonic tones at their own pitch and
    spectral tilt, with random phase, level and noise."""
    sample_rate = 16000
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    signals, labels = [], []
    for index in range(count):
        speaker = index % 3
        pitch = (120., 210., 300.)[speaker] * rng.uniform(0.97, 1.03)
        signal = sum(
            (0.6 ** h if speaker != 1 else 0.9 ** h)
            * np.sin(2 * np.pi * h * pitch * time + rng.uniform(0, 6.3))
            for h in range(1, 8))
        signal = signal * rng.uniform(0.05, 0.5) \
            + 0.01 * rng.standard_normal(time.size)
        signals.append(signal.astype(np.float32))
        labels.append(speaker)
    return torch.from_numpy(np.stack(signals)), torch.tensor(labels)


@pytest.fixture
def one_thread():
    """Tiny convolutions gain nothing from threads, and a second thread on a
    busy host can make them ten times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_tiny_model_learns_three_synthetic_speakers(one_thread):
    rng = np.random.default_rng(1)
    audio, labels = three_speakers(12, 0.5, rng)
    model = tiny_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    example = {'audio': audio, 'speaker_index': labels}
    accuracies = []
    for _ in range(40):
        review = model.review(example, model(example))
        optimizer.zero_grad()
        review['loss'].backward()
        optimizer.step()
        accuracies.append(review['scalars']['accuracy'])
    assert accuracies[-20:] == [1.] * 20  # training accuracy (train mode)
    # eval mode (BatchNorm's running statistics): the training data and
    # new utterances of the three speakers
    model.eval()
    with torch.no_grad():
        assert model.review(example, model(example))['scalars'][
            'accuracy'] == 1.
        test_audio, test_labels = three_speakers(6, 0.7, rng)
        assert (model.classify(test_audio).argmax(-1) == test_labels).all()


def test_configs():
    model = tiny_model()
    assert model.config == TINY_SPEAKER_MODEL
    assert SpeakerClassifier.from_config(model.config).num_classes == 3
    assert model.num_classes == 3 and model.sample_rate == 16000
    for config, size in ((SPEAKER_RESNET, 128), (SPEAKER_RESNET34, 256)):
        model = SpeakerClassifier.from_config(config)
        assert model.config == config and model.embedding_size == size
    default = SpeakerClassifier(num_classes=5)
    assert default.config == SpeakerClassifier.get_config(
        {**SPEAKER_RESNET, 'num_classes': 5})
    assert type(default.front_end).__name__ == 'ResNet'


@pytest.mark.parametrize('sample_rate, window_length, shift, size', [
    (16000, 400, 160, 512), (8000, 200, 80, 256), (22050, 551, 220, 1024)])
def test_stft_scales_with_the_sample_rate(sample_rate, window_length, shift,
                                          size):
    model = tiny_model(sample_rate=sample_rate)
    assert (model.log_mel.window_length, model.log_mel.shift,
            model.log_mel.size) == (window_length, shift, size)


def test_float64_input_and_numpy_audio():
    model = tiny_model().eval()
    audio = RNG.standard_normal((2, 3000))
    with torch.no_grad():
        expected = model.embed(torch.from_numpy(audio).float())
        torch.testing.assert_close(model.embed(torch.from_numpy(audio)),
                                   expected)
        torch.testing.assert_close(model.embed(audio), expected)


@pytest.mark.parametrize('call, message', [
    (lambda m: m.embed(torch.zeros(2, 3, 100)),
     r'\(samples,\) or \(batch, samples\), found shape \(2, 3, 100\)'),
    (lambda m: m.classify(torch.zeros((), dtype=torch.float32)),
     r'found shape \(\)'),
    (lambda m: m.embed(torch.zeros(2, 100, dtype=torch.int16)),
     r'float audio \(batch, samples\), found torch.int16 of shape '
     r'\(2, 100\)'),
    (lambda m: m({'audio': torch.zeros(100)}),
     r'float audio \(batch, samples\), found torch.float32 of shape '
     r'\(100,\)'),
    (lambda m: m.embed(torch.zeros(2, 100), [100, 101]),
     r'num_samples \[100, 101\] must lie in \[1, 100\]'),
    (lambda m: m.embed(torch.zeros(2, 100), [100]),
     r'num_samples must be ints of shape \(2,\)'),
    (lambda m: m.review({'speaker_index': torch.tensor([0, 3])},
                        {'logits': torch.zeros(2, 3)}),
     r"speaker_index'\] \[0, 3\] must lie in \[0, 2\]"),
    (lambda m: m.review({'speaker_index': torch.tensor([0])},
                        {'logits': torch.zeros(2, 3)}),
     r'must be ints of shape \(2,\), found torch.int64 of shape \(1,\)'),
    (lambda m: SpeakerClassifier(3, classifier='arcface'),
     "classifier must be one of.*'arcface'"),
])
def test_errors_name_the_shape_or_value(call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_model())
