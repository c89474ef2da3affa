"""Tensorboard summaries, read back from the event files in storage_dir.

The reference values come from a hand-written loop that trains a copy of
the model in parallel and records the loss before each step and the
gradient norm of each step.
"""
import copy
import math

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.summary import read_events, read_events_by_tag
from padertorch_audio.train import optimizer as optimizers


# ---------------------------------------------------------------------------
# reading the event files back


def scalars(storage_dir):
    """{tag: {step: value}} of the scalar summaries."""
    return read_events_by_tag(storage_dir, 'scalar')


def summary_values(storage_dir):
    """{tag: (kind, decoded value)} of all summaries (the last per tag)."""
    return {tag: (kind, value)
            for step, tag, kind, value in read_events(storage_dir)}


# ---------------------------------------------------------------------------
# models and the reference loop


class Regression(pa.Model):
    """Linear regression 3 -> 2; the review also reports the batch index."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, example):
        return self.linear(example['x'])

    def review(self, example, output):
        return {'loss': ((output - example['y']) ** 2).mean(),
                'scalars': {'index': float(example['index'])}}


class TwoLosses(Regression):
    def review(self, example, output):
        error = output - example['y']
        return {'losses': {'mse': (error ** 2).mean(), 'l1': error.abs().mean()}}


class Media(Regression):
    """Adds an audio, a histogram and a text to the review."""

    def review(self, example, output):
        review = super().review(example, output)
        review['audios'] = {'tone': (torch.sin(torch.arange(800.) / 5), 8000)}
        review['histograms'] = {'bias': self.linear.bias}
        review['texts'] = {'note': 'hello tensorboard'}
        return review


class Image(Regression):
    """Adds the (2, 3) weight matrix as a (channel, height, width) image."""

    def review(self, example, output):
        review = super().review(example, output)
        review['images'] = {'weight': self.linear.weight.detach()[None]}
        return review


class Modified(Regression):
    """modify_summary adds a scalar and removes another one."""

    def __init__(self):
        super().__init__()
        self.modify_calls = []

    def modify_summary(self, summary):
        self.modify_calls.append(sorted(summary['scalars']))
        summary['scalars']['loss_times_10'] = 10 * summary['scalars']['loss']
        del summary['scalars']['index']
        return summary


def make_batches(n, seed=0, scale=1.):
    generator = torch.Generator().manual_seed(seed)
    return [{'x': torch.randn(4, 3, generator=generator),
             'y': scale * torch.randn(4, 2, generator=generator),
             'index': i}
            for i in range(n)]


def mse(model, batch):
    return ((model.linear(batch['x']) - batch['y']) ** 2).mean()


def hand_loop(model, batches, lr):
    """SGD by hand; returns the loss before and the grad norm of each step."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses, norms = [], []
    for batch in batches:
        optimizer.zero_grad()
        loss = mse(model, batch)
        loss.backward()
        losses.append(loss.item())
        norms.append(math.sqrt(sum((p.grad ** 2).sum().item()
                                   for p in model.parameters())))
        optimizer.step()
    return losses, norms


def new_model(cls=Regression):
    torch.manual_seed(0)
    return cls()


def approx(value):
    return pytest.approx(value, rel=1e-5, abs=1e-6)  # events hold float32


# ---------------------------------------------------------------------------


def test_loss_lr_and_grad_norm_at_iteration_triggered_summaries(tmp_path):
    batches = make_batches(4)
    model = new_model()
    losses, norms = hand_loop(copy.deepcopy(model), batches, lr=0.1)

    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
                         summary_trigger=(2, 'iteration'),
                         stop_trigger=(4, 'iteration'), progress=False)
    trainer.train(batches, device='cpu')
    found = scalars(tmp_path)

    assert found['training/loss'] == {2: approx((losses[0] + losses[1]) / 2),
                                      4: approx((losses[2] + losses[3]) / 2)}
    assert found['training/lr'] == {2: approx(0.1), 4: approx(0.1)}
    # The norm is computed on the step just before an iteration-triggered
    # summary (and on iteration 0, a multiple of grad_norm_interval), and
    # averaged over the steps where it was computed.
    assert found['training/grad_norm'][4] == approx(norms[3])
    assert found['training/grad_norm'][2] == approx((norms[0] + norms[1]) / 2)


def test_an_epoch_triggered_summary_averages_the_losses_of_the_epoch(tmp_path):
    batches = make_batches(3)
    model = new_model()
    losses, _ = hand_loop(copy.deepcopy(model), batches * 2, lr=0.1)

    pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
               stop_trigger=(2, 'epoch'), progress=False).train(
        batches, device='cpu')

    assert scalars(tmp_path)['training/loss'] == {
        3: approx(sum(losses[:3]) / 3), 6: approx(sum(losses[3:]) / 3)}


def test_the_last_summary_is_written_when_training_stops(tmp_path):
    batches = make_batches(5)
    model = new_model()
    losses, _ = hand_loop(copy.deepcopy(model), batches, lr=0.1)

    pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
               summary_trigger=(2, 'iteration'), progress=False).train(
        batches, device='cpu')

    assert scalars(tmp_path)['training/loss'] == {
        2: approx(sum(losses[0:2]) / 2), 4: approx(sum(losses[2:4]) / 2),
        5: approx(losses[4])}


def test_with_virtual_minibatches_the_logged_loss_is_the_mean_of_the_passes(
        tmp_path):
    batches = make_batches(2)
    model = new_model()
    with torch.no_grad():
        passes = [mse(model, batch).item() for batch in batches]

    pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
               virtual_minibatch_size=2, summary_trigger=(1, 'iteration'),
               stop_trigger=(1, 'iteration'), progress=False).train(
        batches, device='cpu')

    assert scalars(tmp_path)['training/loss'] == {1: approx(sum(passes) / 2)}


def test_with_virtual_minibatches_review_scalars_average_all_passes(tmp_path):
    """Like the loss, review scalars cover every pass, not only the last."""
    pa.Trainer(new_model(), tmp_path, optimizers.SGD(lr=0.1),
               virtual_minibatch_size=2, summary_trigger=(1, 'iteration'),
               stop_trigger=(2, 'iteration'), progress=False).train(
        make_batches(4), device='cpu')

    assert scalars(tmp_path)['training/index'] == {1: 0.5, 2: 2.5}


def test_logged_grad_norm_with_clipping_is_the_norm_before_clipping(tmp_path):
    batches = make_batches(2, scale=100.)
    model = new_model()
    _, norms = hand_loop(copy.deepcopy(model), batches[:1], lr=0.01)

    pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.01, gradient_clipping=1.),
               summary_trigger=(1, 'iteration'),
               stop_trigger=(1, 'iteration'), progress=False).train(
        batches, device='cpu')

    assert norms[0] > 10
    assert scalars(tmp_path)['training/grad_norm'] == {1: approx(norms[0])}


def test_timings_of_each_part_of_the_step_are_written_in_ms(tmp_path):
    pa.Trainer(new_model(), tmp_path, optimizers.SGD(lr=0.1),
               progress=False).train(make_batches(3), device='cpu')
    found = scalars(tmp_path)

    for part in ('data', 'to_device', 'forward', 'review', 'backward',
                 'optimizer'):
        values = found[f'training_timings/{part}_ms']
        assert list(values) == [3]
        assert 0 <= values[3] < 10_000


def test_review_scalars_are_averaged_over_the_summary_interval(tmp_path):
    pa.Trainer(new_model(), tmp_path, optimizers.SGD(lr=0.1),
               summary_trigger=(2, 'iteration'), stop_trigger=(4, 'iteration'),
               progress=False).train(make_batches(4), device='cpu')

    assert scalars(tmp_path)['training/index'] == {2: 0.5, 4: 2.5}


def test_weighted_losses_are_logged_one_by_one_and_combined(tmp_path):
    batches = make_batches(2)
    model = new_model(TwoLosses)
    reference = copy.deepcopy(model)
    with torch.no_grad():
        error = reference.linear(batches[0]['x']) - batches[0]['y']
        mse0, l1_0 = (error ** 2).mean().item(), error.abs().mean().item()

    pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
               loss_weights={'mse': 1., 'l1': 0.5},
               summary_trigger=(1, 'iteration'), stop_trigger=(1, 'iteration'),
               progress=False).train(batches, device='cpu')
    found = scalars(tmp_path)

    assert found['training/losses/mse'] == {1: approx(mse0)}
    assert found['training/losses/l1'] == {1: approx(l1_0)}
    assert found['training/loss'] == {1: approx(mse0 + 0.5 * l1_0)}


def test_review_audios_histograms_and_texts_become_events(tmp_path):
    model = new_model(Media)
    pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
               stop_trigger=(1, 'epoch'), progress=False,
               ).train(make_batches(2), device='cpu')
    values = summary_values(tmp_path)

    kind, (samples, sample_rate) = values['training/tone']
    assert (kind, sample_rate, samples.shape) == ('audio', 8000, (800,))
    kind, histogram = values['training/bias']
    assert (kind, histogram.num) == ('histogram', 2)
    assert values['training/note/text_summary'] == ('text', 'hello tensorboard')


def test_review_images_become_image_events(tmp_path):
    model = new_model(Image)
    pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
               stop_trigger=(1, 'epoch'), progress=False,
               ).train(make_batches(2), device='cpu')
    kind, image = summary_values(tmp_path)['training/weight']

    assert kind == 'image'
    assert image.shape[1:] == (2, 3)  # the (2, 3) weight matrix


def test_validation_metrics_are_written_under_validation(tmp_path):
    batches, validation = make_batches(4), make_batches(3, seed=1)
    model = new_model()
    reference = copy.deepcopy(model)

    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
                         checkpoint_trigger=(2, 'iteration'),
                         stop_trigger=(4, 'iteration'), progress=False)
    trainer.register_validation_hook(validation)
    trainer.train(batches, device='cpu')

    expected = {}
    for step in (2, 4):
        hand_loop(reference, batches[step - 2:step], lr=0.1)
        with torch.no_grad():
            expected[step] = approx(
                sum(mse(reference, batch).item() for batch in validation) / 3)
    found = scalars(tmp_path)
    assert found['validation/loss'] == expected
    assert found['validation/index'] == {2: 1., 4: 1.}  # mean of 0, 1, 2


def test_modify_summary_is_called_and_its_changes_are_written(tmp_path):
    model = new_model(Modified)
    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
                         summary_trigger=(2, 'iteration'),
                         checkpoint_trigger=(4, 'iteration'),
                         stop_trigger=(4, 'iteration'), progress=False)
    trainer.register_validation_hook(make_batches(2, seed=1))
    trainer.train(make_batches(4), device='cpu')
    found = scalars(tmp_path)

    assert len(model.modify_calls) == 3  # training at 2 and 4, validation at 4
    assert found['training/loss_times_10'] == {
        step: approx(10 * value) for step, value in found['training/loss'].items()}
    assert found['validation/loss_times_10'] == {
        4: approx(10 * found['validation/loss'][4])}
    assert 'training/index' not in found and 'validation/index' not in found
