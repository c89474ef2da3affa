"""A quick check of model, review and data before a long training run."""
import copy
import itertools
import tempfile
from pathlib import Path

import torch

from padertorch_audio.train import checkpoint as ckpt
from padertorch_audio.train.review import ReviewError, forward_review

__all__ = ['test_run', 'TestRunError']


class TestRunError(AssertionError):
    """The test run found a problem; the message says which."""
    __test__ = False  # not a pytest test class


def _take(iterable, n, what):
    try:
        examples = list(itertools.islice(iter(iterable), n))
    except Exception as error:
        raise TestRunError(
            f'test_run: iterating the {what} iterable failed: '
            f'{type(error).__name__}: {error}') from error
    if not examples:
        raise TestRunError(f'test_run: the {what} iterable yielded no examples.')
    return examples


def _parameters(model):
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def test_run(trainer, train_iterable, validation_iterable, device=None,
             num_steps=2):
    """Run ``num_steps`` training steps of a copy of the trainer's model.

    Checks, each with a message naming what went wrong:

    1. forward and review run on the first training example, and the review
       follows the convention (a scalar loss, known keys);
    2. backward reaches the parameters (those without a gradient are
       named);
    3. ``num_steps`` optimizer steps change the parameters;
    4. validation on two examples gives identical results twice (no
       randomness left in eval mode);
    5. the checkpoint written can be loaded and holds the trained
       parameters.

    Everything happens in a temporary directory: nothing is written into
    ``trainer.storage_dir``, the trainer's model, optimizer and the global
    random generator states are left as they were.
    """
    train_examples = _take(train_iterable, num_steps
                           * trainer.virtual_minibatch_size, 'training')
    validation_examples = _take(validation_iterable, 2, 'validation')
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(device)
    rng_state = ckpt.get_rng_state()
    model, optimizer = copy.deepcopy((trainer.model, trainer.optimizer))
    model.to(device)
    try:
        with tempfile.TemporaryDirectory(prefix='test_run_') as directory:
            clone = type(trainer)(
                model, Path(directory) / 'storage', optimizer,
                loss_weights=trainer.loss_weights,
                summary_trigger=(1, 'iteration'),
                checkpoint_trigger=(1, 'iteration'),
                stop_trigger=(num_steps, 'iteration'),
                virtual_minibatch_size=trainer.virtual_minibatch_size,
                progress=False, mixed_precision=trainer.mixed_precision)
            clone.distributed = False  # each rank checks on its own
            clone.device = device
            clone.precision.start(device)

            # 1. + 2. forward, review, backward on the first example.
            model.train()
            try:
                example = model.example_to_device(train_examples[0], device)
                loss, _, _ = forward_review(
                    model, example, clone.precision, clone.loss_weights,
                    'test_run (training)')
            except ReviewError as error:
                raise TestRunError(f'test_run: {error}') from error
            except Exception as error:
                raise TestRunError(
                    f'test_run: forward/review failed on the first training '
                    f'example: {type(error).__name__}: {error}') from error
            if not torch.isfinite(loss):
                raise TestRunError(
                    f'test_run: the loss of the first training example is '
                    f'{loss.item()}.')
            if not loss.requires_grad:
                raise TestRunError(
                    'test_run: the loss does not depend on any parameter '
                    '(no grad_fn): is the output detached or computed under '
                    'torch.no_grad()?')
            loss.backward()
            no_grad = [name for name, p in model.named_parameters()
                       if p.requires_grad and p.grad is None]
            trainable = [p for p in model.parameters() if p.requires_grad]
            if len(no_grad) == len(trainable):
                raise TestRunError(
                    'test_run: backward reached no parameter of the model.')
            model.zero_grad(set_to_none=True)

            # 3. parameters change in num_steps steps (with the real loop).
            before = _parameters(model)
            clone.register_validation_hook(validation_examples)
            try:
                clone.train(train_examples, device=device)
            except Exception as error:
                raise TestRunError(
                    f'test_run: training failed: {type(error).__name__}: '
                    f'{error}') from error
            changed = [name for name, p in _parameters(model).items()
                       if not torch.equal(p, before[name])]
            if not changed:
                raise TestRunError(
                    f'test_run: no parameter changed in {clone.iteration} '
                    f'optimizer steps (learning rate 0? gradients zero?).')
            unchanged_with_grad = [
                name for name in before
                if name not in changed and name not in no_grad]

            # 4. deterministic validation.
            first = clone.validation_hook.validate(clone)['scalars']
            second = clone.validation_hook.validate(clone)['scalars']
            differing = {name: (first[name], second.get(name))
                         for name in first if first[name] != second.get(name)}
            if differing:
                raise TestRunError(
                    f'test_run: validation is not deterministic: two runs on '
                    f'the same examples gave {differing}. Is dropout or '
                    f'another random op active in eval mode?')

            # 5. the checkpoint holds the trained parameters.
            state = ckpt.load_checkpoint(
                clone.checkpoint_dir / 'ckpt_latest.pth')
            for name, value in model.state_dict().items():
                if not torch.equal(state['model'][name].to(value.device),
                                   value):
                    raise TestRunError(
                        f'test_run: checkpoint parameter {name!r} differs '
                        f'from the trained model.')
    finally:
        ckpt.set_rng_state(rng_state)
    return {
        'parameters_without_gradient': no_grad,
        'parameters_unchanged': unchanged_with_grad,
        'validation': first,
    }


test_run.__test__ = False  # a library function, not a pytest test
