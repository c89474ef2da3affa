"""Bad input fails early, clearly, and leaves the disk as it was.

Each error names the key, shape or iteration at fault and is raised
before the first optimizer step; a storage_dir that did not exist is still
absent afterwards.
"""
import copy

import pytest
import torch

import padertorch_audio as pa
from tests.train.models import Regression
from padertorch_audio.train import NonFiniteLossError, ReviewError
from padertorch_audio.train import checkpoint as ckpt
from padertorch_audio.train import optimizer as optimizers


class BadReview(Regression):
    """The review is a function of (output, example) given to __init__."""

    def __init__(self, review):
        super().__init__()
        self.make_review = review

    def review(self, example, output):
        return self.make_review(output, example)


class NoReview(pa.Model):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, example):
        return self.linear(example['x'])


def make_batches(n, nan_at=None):
    generator = torch.Generator().manual_seed(0)
    batches = [{'x': torch.randn(4, 3, generator=generator),
                'y': torch.randn(4, 2, generator=generator)} for _ in range(n)]
    if nan_at is not None:
        batches[nan_at]['y'][0, 0] = float('nan')
    return batches


def snapshot(directory):
    """{relative path: file bytes or 'dir'} of everything under directory."""
    return {str(path.relative_to(directory)):
            'dir' if path.is_dir() else path.read_bytes()
            for path in sorted(directory.rglob('*'))}


def parameters(model):
    return {name: value.clone() for name, value in model.state_dict().items()}


def assert_same(state, reference):
    assert state.keys() == reference.keys()
    for name in state:
        assert torch.equal(state[name], reference[name]), name


def mse(output, example):
    return ((output - example['y']) ** 2).mean()


BAD_REVIEWS = {
    'no loss': (
        lambda output, example: {'scalars': {'error': 1.}},
        ["no 'loss'", "'scalars'"]),
    'unknown key': (
        lambda output, example: {'loss': mse(output, example), 'scalar': {}},
        ["unknown review key", "'scalar'"]),
    'non-scalar loss': (
        lambda output, example: {'loss': (output - example['y']) ** 2},
        ["'loss'", 'scalar', '(4, 2)']),
    'non-scalar entry of losses': (
        lambda output, example: {'losses': {'mse': output.sum(dim=0)}},
        ["'losses/mse'", '(2,)']),
    'loss and losses': (
        lambda output, example: {'loss': mse(output, example),
                                 'losses': {'mse': mse(output, example)}},
        ["both 'loss' and 'losses'"]),
    'not a dict': (
        lambda output, example: mse(output, example),
        ['must return a dict', 'Tensor']),
    'a number as loss': (
        lambda output, example: {'loss': 1.5},
        ["'loss'", 'scalar tensor', 'float']),
}


@pytest.mark.parametrize('case', list(BAD_REVIEWS))
def test_a_bad_review_raises_a_review_error_before_anything_is_written(
        tmp_path, case):
    review, fragments = BAD_REVIEWS[case]
    model = BadReview(review)
    before, files = parameters(model), snapshot(tmp_path)
    trainer = pa.Trainer(model, tmp_path / 'run', optimizers.SGD(lr=0.1),
                         progress=False)

    with pytest.raises(ReviewError) as error:
        trainer.train(make_batches(3), device='cpu')

    for fragment in fragments:
        assert fragment in str(error.value)
    assert trainer.iteration == 0
    assert_same(parameters(model), before)
    assert snapshot(tmp_path) == files  # 'run' was not created


def test_a_model_that_does_not_implement_review_fails_at_the_first_example(
        tmp_path):
    trainer = pa.Trainer(NoReview(), tmp_path / 'run', optimizers.SGD(lr=0.1),
                         progress=False)
    with pytest.raises(NotImplementedError, match='NoReview must implement review'):
        trainer.train(make_batches(2), device='cpu')
    assert not (tmp_path / 'run').exists()


def test_a_module_without_review_is_rejected_by_the_trainer(tmp_path):
    with pytest.raises(TypeError, match='Linear.*no review method'):
        pa.Trainer(torch.nn.Linear(3, 2), tmp_path / 'run',
                   optimizers.SGD(lr=0.1))
    assert not (tmp_path / 'run').exists()


def test_an_existing_storage_dir_is_left_as_it_was_after_a_bad_review(tmp_path):
    (tmp_path / 'notes.txt').write_text('my notes')
    files = snapshot(tmp_path)
    trainer = pa.Trainer(BadReview(BAD_REVIEWS['no loss'][0]), tmp_path,
                         optimizers.SGD(lr=0.1), progress=False)
    with pytest.raises(ReviewError):
        trainer.train(make_batches(2), device='cpu')
    assert snapshot(tmp_path) == files


def test_an_empty_iterable_raises_a_value_error(tmp_path):
    trainer = pa.Trainer(Regression(), tmp_path / 'run', optimizers.SGD(lr=0.1),
                         progress=False)
    with pytest.raises(ValueError, match='no examples in epoch 1'):
        trainer.train([], device='cpu')
    assert not (tmp_path / 'run').exists()


def test_a_generator_used_up_after_one_epoch_is_reported_in_epoch_2(tmp_path):
    trainer = pa.Trainer(Regression(), tmp_path / 'run', optimizers.SGD(lr=0.1),
                         stop_trigger=(2, 'epoch'), progress=False)
    generator = (batch for batch in make_batches(3))
    with pytest.raises(ValueError, match='epoch 2') as error:
        trainer.train(generator, device='cpu')
    assert 'generator' in str(error.value) or 'iterator' in str(error.value)
    assert trainer.iteration == 3


@pytest.mark.parametrize('train_iterable', [42, 'batches.json', None])
def test_a_non_iterable_raises_a_type_error(tmp_path, train_iterable):
    trainer = pa.Trainer(Regression(), tmp_path / 'run', optimizers.SGD(lr=0.1),
                         progress=False)
    with pytest.raises(TypeError, match='train_iterable'):
        trainer.train(train_iterable, device='cpu')
    assert not (tmp_path / 'run').exists()


def test_a_storage_dir_below_a_file_fails_before_training(tmp_path):
    # Tests may run as root, who may write anywhere: use a path below a file.
    (tmp_path / 'file').write_text('not a directory')
    files = snapshot(tmp_path)
    model = Regression()
    before = parameters(model)
    trainer = pa.Trainer(model, tmp_path / 'file' / 'run',
                         optimizers.SGD(lr=0.1), progress=False)

    with pytest.raises((NotADirectoryError, PermissionError), match='file'):
        trainer.train(make_batches(2), device='cpu')

    assert_same(parameters(model), before)
    assert snapshot(tmp_path) == files


def test_a_non_finite_loss_names_the_iteration_and_takes_no_step(tmp_path):
    batches = make_batches(5, nan_at=3)
    model = Regression()
    reference = copy.deepcopy(model)
    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
                         checkpoint_trigger=(1, 'iteration'), progress=False)

    with pytest.raises(NonFiniteLossError, match='iteration 3'):
        trainer.train(batches, device='cpu')

    optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    for batch in batches[:3]:  # the hand loop: three good steps
        optimizer.zero_grad()
        mse(reference.linear(batch['x']), batch).backward()
        optimizer.step()
    assert_same(parameters(model), parameters(reference))
    assert trainer.iteration == 3
    latest = ckpt.resolve_link(trainer.checkpoint_dir / 'ckpt_latest.pth')
    assert latest.name == 'ckpt_3.pth'
    assert_same(ckpt.load_checkpoint(latest)['model'], parameters(reference))


def test_a_non_finite_loss_after_resume_leaves_the_checkpoints_byte_equal(
        tmp_path):
    batches = make_batches(5, nan_at=3)
    pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
               checkpoint_trigger=(1, 'iteration'),
               stop_trigger=(3, 'iteration'), progress=False).train(
        batches, device='cpu')
    files = snapshot(tmp_path)
    checkpoint = ckpt.load_checkpoint(tmp_path / 'checkpoints' / 'ckpt_latest.pth')

    model = Regression()
    trainer = pa.Trainer(model, tmp_path, optimizers.SGD(lr=0.1),
                         checkpoint_trigger=(1, 'iteration'),
                         stop_trigger=(1, 'epoch'), progress=False)
    with pytest.raises(NonFiniteLossError, match='iteration 3'):
        trainer.train(batches, device='cpu', resume=True)

    assert_same(parameters(model), checkpoint['model'])
    assert snapshot(tmp_path) == files  # checkpoints byte-equal, nothing new


class NanGradient(Regression):
    """A finite loss with a nan gradient on examples marked 'nan_grad'."""

    def review(self, example, output):
        loss = mse(output, example)
        if example.get('nan_grad'):  # d sqrt(u) / du = inf at u = 0; inf * 0
            loss = loss + torch.sqrt((self.linear.weight * 0).sum())
        return {'loss': loss}


class ParameterSnapshots(pa.Hook):
    """Keeps a copy of the parameters at every pre_step."""

    def __init__(self):
        self.before_step = []

    def pre_step(self, trainer):
        self.before_step.append(parameters(trainer.model))


@pytest.mark.parametrize('clipping, bad_iteration', [(None, 0), (1., 2)])
def test_a_non_finite_gradient_norm_names_the_iteration_and_takes_no_step(
        tmp_path, clipping, bad_iteration):
    """Without clipping the norm is checked on iteration 0 (and every
    grad_norm_interval); with clipping, on every step."""
    batches = make_batches(4)
    batches[bad_iteration]['nan_grad'] = True
    model = NanGradient()
    trainer = pa.Trainer(
        model, tmp_path, optimizers.SGD(lr=0.1, gradient_clipping=clipping),
        progress=False)
    snapshots = trainer.register_hook(ParameterSnapshots())

    with pytest.raises(NonFiniteLossError,
                       match=f'gradient norm nan at iteration {bad_iteration}'):
        trainer.train(batches, device='cpu')

    assert trainer.iteration == bad_iteration
    assert len(snapshots.before_step) == bad_iteration + 1
    assert_same(parameters(model), snapshots.before_step[-1])


@pytest.mark.parametrize('argument', [
    'summary_trigger', 'checkpoint_trigger', 'stop_trigger'])
@pytest.mark.parametrize('trigger, fragment', [
    ((0, 'epoch'), 'positive int, got 0'),
    ((-2, 'iteration'), 'positive int, got -2'),
    ((1.5, 'epoch'), 'positive int, got 1.5'),
    ((1, 'day'), "'day'"),
    ('epoch', '(period, unit) pair'),
])
def test_bad_triggers_raise_a_value_error_naming_the_value(
        tmp_path, argument, trigger, fragment):
    with pytest.raises(ValueError) as error:
        pa.Trainer(Regression(), tmp_path / 'run', optimizers.SGD(lr=0.1),
                   **{argument: trigger})
    assert fragment in str(error.value)
    assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('size', [0, -1, 1.5, True, '2'])
def test_a_virtual_minibatch_size_that_is_no_positive_int_is_rejected(
        tmp_path, size):
    with pytest.raises(ValueError, match='virtual_minibatch_size'):
        pa.Trainer(Regression(), tmp_path / 'run', optimizers.SGD(lr=0.1),
                   virtual_minibatch_size=size)
    assert not (tmp_path / 'run').exists()


def test_loss_weights_must_be_a_dict(tmp_path):
    with pytest.raises(TypeError, match='loss_weights'):
        pa.Trainer(Regression(), tmp_path / 'run', optimizers.SGD(lr=0.1),
                   loss_weights=[1., 0.5])


def test_an_optimizer_of_unknown_type_is_rejected(tmp_path):
    with pytest.raises(TypeError, match='optimizer'):
        pa.Trainer(Regression(), tmp_path / 'run', 'adam')


def test_an_existing_run_is_not_overwritten_without_resume(tmp_path):
    pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
               progress=False).train(make_batches(2), device='cpu')
    files = snapshot(tmp_path)
    trainer = pa.Trainer(Regression(), tmp_path, optimizers.SGD(lr=0.1),
                         progress=False)
    with pytest.raises(FileExistsError, match='resume=True'):
        trainer.train(make_batches(2), device='cpu')
    assert snapshot(tmp_path) == files
