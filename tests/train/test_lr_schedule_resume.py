"""Learning-rate schedules: when they step, what they get, and exact resume.

Every expected learning rate is computed by hand from the schedule's
formula; every resumed run must equal the uninterrupted one bitwise. The
schedules are *stateful* (StepLR with ``step_size=2``, LambdaLR, the
plateau counters): a scheduler whose state is not restored changes the
learning rates after a resume.
"""
import functools

import pytest
import torch

import padertorch_audio as pa
from tests.train.models import Regression

BASE_LR = 0.1


class ScoredRegression(Regression):
    """Validation reports a 'score' from a sequence the test owns (an
    iterator shared by an interrupted and a resumed Trainer)."""

    def __init__(self, scores):
        super().__init__()
        self.scores = scores

    def review(self, example, output):
        review = super().review(example, output)
        if not self.training:
            review['scalars'] = {'score': torch.tensor(float(next(self.scores)))}
        return review


class LRBeforeStep(pa.Hook):
    """Records the learning rate every step is taken with (after a backoff,
    which the validation hook does in its pre_step at priority 80)."""
    priority = 95

    def __init__(self):
        self.lrs = {}

    def pre_step(self, trainer):
        self.lrs[trainer.iteration] = trainer.optimizer.lr


def batches(n, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return [{'x': torch.randn(4, 3, generator=generator),
             'y': torch.randn(4, 2, generator=generator)} for _ in range(n)]


TRAIN = batches(2)  # 2 iterations per epoch
VALIDATION = batches(1, seed=2)


def run(storage_dir, stop_trigger, schedule, interval='epoch', data=TRAIN,
        resume=False, validation=None, **kwargs):
    """Train; ``validation``: keyword arguments of the validation hook
    (with ``'scores'``, the iterator the model reads)."""
    torch.manual_seed(0)
    model = Regression()
    if validation is not None:
        validation = dict(validation)
        model = ScoredRegression(validation.pop('scores'))
    trainer = pa.Trainer(
        model, storage_dir, pa.optimizer.SGD(lr=BASE_LR),
        stop_trigger=stop_trigger, progress=False, **kwargs)
    recorder = trainer.register_hook(LRBeforeStep())
    if validation is not None:
        trainer.register_validation_hook(
            [VALIDATION[0]], metric='score', **validation)
    trainer.register_lr_scheduler(schedule, interval=interval)
    trainer.train(data, resume=resume, device='cpu')
    return trainer, recorder.lrs


def run_interrupted(tmp_path, stops, schedule, scores=None, validation=None,
                    **kwargs):
    """The uninterrupted run to ``stops[-1]`` and a run stopped at each of
    the earlier ``stops`` and resumed; returns both trainers and the
    learning rates of all steps of each. ``scores``: the validation
    scores, read in turn by the interrupted and the resumed model."""
    def run_to(storage_dir, stop, scores_iterator, resume):
        if scores is not None:
            kwargs['validation'] = {**(validation or {}),
                                    'scores': scores_iterator}
        return run(storage_dir, stop, schedule, resume=resume, **kwargs)

    reference, reference_lrs = run_to(
        tmp_path / 'reference', stops[-1], iter(scores or ()), False)
    shared, lrs = iter(scores or ()), {}
    for index, stop in enumerate(stops):
        resumed, part = run_to(tmp_path / 'run', stop, shared, index > 0)
        lrs.update(part)
    return reference, reference_lrs, resumed, lrs


def assert_same_run(resumed, lrs, reference, reference_lrs):
    assert (resumed.iteration, resumed.epoch) == (
        reference.iteration, reference.epoch)
    assert lrs == reference_lrs
    assert resumed.optimizer.lr == reference.optimizer.lr
    state, expected = resumed.model.state_dict(), reference.model.state_dict()
    for name in expected:
        assert torch.equal(state[name], expected[name]), name


def sequence(lrs):
    return [lrs[iteration] for iteration in sorted(lrs)]


def step_lr(step_size, gamma):
    return functools.partial(torch.optim.lr_scheduler.StepLR,
                             step_size=step_size, gamma=gamma)


def inverse_epoch(epoch):
    return 1. / (1. + epoch)


# --- StepLR / LambdaLR: resumed equals uninterrupted ------------------------

@pytest.mark.parametrize('stops', [
    [(3, 'epoch'), (6, 'epoch')],           # between epochs, inside a period
    [(5, 'iteration'), (6, 'epoch')],       # inside an epoch
    [(1, 'epoch'), (4, 'iteration'), (6, 'epoch')],  # twice
])
def test_step_lr_with_step_size_2_resumes_bitwise(tmp_path, stops):
    reference, reference_lrs, resumed, lrs = run_interrupted(
        tmp_path, stops, step_lr(2, 0.5))
    # Halved after every 2nd epoch; 2 steps per epoch.
    assert sequence(reference_lrs) == [
        BASE_LR * 0.5 ** (iteration // 2 // 2) for iteration in range(12)]
    assert reference.optimizer.lr == BASE_LR * 0.5 ** 3
    assert_same_run(resumed, lrs, reference, reference_lrs)


@pytest.mark.parametrize('stops', [
    [(2, 'epoch'), (5, 'epoch')],
    [(3, 'iteration'), (5, 'epoch')],
])
def test_lambda_lr_resumes_bitwise(tmp_path, stops):
    schedule = functools.partial(torch.optim.lr_scheduler.LambdaLR,
                                 lr_lambda=inverse_epoch)
    reference, reference_lrs, resumed, lrs = run_interrupted(
        tmp_path, stops, schedule)
    assert sequence(reference_lrs) == pytest.approx(
        [BASE_LR / (1 + iteration // 2) for iteration in range(10)], rel=1e-12)
    assert reference.optimizer.lr == pytest.approx(BASE_LR / 6, rel=1e-12)
    assert_same_run(resumed, lrs, reference, reference_lrs)


# --- interval='iteration' ---------------------------------------------------

@pytest.mark.parametrize('stops', [
    [(6, 'iteration')],
    [(4, 'iteration'), (6, 'iteration')],   # resumed inside the 2nd epoch
])
def test_an_iteration_schedule_steps_once_per_optimizer_step(tmp_path, stops):
    """5 batches, 2 passes per step: 3 steps per epoch (the last one of 1
    pass). The schedule counts optimizer steps, not passes or epochs."""
    reference, reference_lrs, resumed, lrs = run_interrupted(
        tmp_path, stops, step_lr(2, 0.5), interval='iteration',
        data=batches(5), virtual_minibatch_size=2)
    assert reference.iteration == 6
    assert sequence(reference_lrs) == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert reference.optimizer.lr == 0.0125  # stepped after the 6th step too
    assert_same_run(resumed, lrs, reference, reference_lrs)


# --- backoff together with a schedule ---------------------------------------

# validation after epoch:  1  2  3  4        5  6  7  8
# score:                   5  3  4  4        2  1  1  1
#                             best  backoff (applied before iteration 8)
BACKOFF_SCORES = [5., 3., 4., 4., 2., 1., 1., 1.]


@pytest.mark.parametrize('stops', [
    [(8, 'epoch')],
    [(4, 'epoch'), (8, 'epoch')],   # the backoff is pending at the stop
    [(5, 'epoch'), (8, 'epoch')],   # after the backoff
])
def test_backoff_scales_the_base_rates_of_the_schedule(tmp_path, stops):
    """lr = BASE_LR * 0.5 ** (backoffs done) / (1 + epoch): the backoff
    multiplies the current lr and the schedule's base rates, and the
    schedule keeps counting epochs."""
    schedule = functools.partial(torch.optim.lr_scheduler.LambdaLR,
                                 lr_lambda=inverse_epoch)
    reference, reference_lrs, resumed, lrs = run_interrupted(
        tmp_path, stops, schedule, scores=BACKOFF_SCORES, validation={
            'n_back_off': 1, 'back_off_patience': 2, 'lr_update_factor': 0.5})

    expected = [BASE_LR * (0.5 if iteration >= 8 else 1.)
                / (1 + iteration // 2) for iteration in range(16)]
    assert sequence(reference_lrs) == pytest.approx(expected, rel=1e-12)
    assert reference.optimizer.lr == pytest.approx(BASE_LR * 0.5 / 9,
                                                   rel=1e-12)
    assert reference.validation_hook.n_back_offs_done == 1
    assert_same_run(resumed, lrs, reference, reference_lrs)


# --- ReduceLROnPlateau gets the validation metric ---------------------------

# validation at iteration: 3  6  9  12       15 18 21
# score:                   5  4  4  4        3  3  3
# patience 1, factor 0.5:  best  1  2>1:     best 1  2>1:
#                                   lr/2           lr/2
PLATEAU_SCORES = [5., 4., 4., 4., 3., 3., 3.]


@pytest.mark.parametrize('stops', [
    [(21, 'iteration')],
    [(9, 'iteration'), (21, 'iteration')],   # one bad validation counted
    [(12, 'iteration'), (21, 'iteration')],  # just after a reduction
])
def test_reduce_lr_on_plateau_steps_with_the_validation_metric(tmp_path, stops):
    """Validation every 3 iterations (not at epoch ends, 2 steps per epoch);
    the scheduler sees the 'score' of each validation once, not the loss."""
    schedule = functools.partial(
        torch.optim.lr_scheduler.ReduceLROnPlateau, mode='min', factor=0.5,
        patience=1, threshold=0.)
    reference, reference_lrs, resumed, lrs = run_interrupted(
        tmp_path, stops, schedule, scores=PLATEAU_SCORES,
        checkpoint_trigger=(3, 'iteration'))

    assert sequence(reference_lrs) == [0.1] * 12 + [0.05] * 9
    assert reference.optimizer.lr == 0.025
    assert [entry['value'] for entry in reference.validation_hook.ranking] \
        == PLATEAU_SCORES
    assert_same_run(resumed, lrs, reference, reference_lrs)
