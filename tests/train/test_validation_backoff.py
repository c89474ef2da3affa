"""Validation ranking, backoff and early stopping with a metric the test controls."""
import json

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.train.checkpoint import resolve_link


class ScoredRegression(pa.Model):
    """A linear regression whose validation 'score' comes from a fixed sequence.

    Each validation (one validation example) reads the next value, so the test
    knows which validation improves and which does not.
    """

    def __init__(self, scores):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)
        self.scores = iter(scores)
        self.validations = 0

    def forward(self, example):
        return self.linear(example['x'])

    def review(self, example, output):
        review = {'loss': ((output - example['y']) ** 2).mean()}
        if not self.training:
            self.validations += 1
            review['scalars'] = {'score': torch.tensor(float(next(self.scores)))}
        return review


class RecordBeforeStep(pa.Hook):
    """Records (iteration, lr, parameters, optimizer state) before every step.

    Its priority puts it after the validation hook's pre_step (the backoff).
    """
    priority = 95

    def __init__(self):
        self.records = {}

    def pre_step(self, trainer):
        self.records[trainer.iteration] = {
            'lr': trainer.optimizer.lr,
            'model': {k: v.clone() for k, v in trainer.model.state_dict().items()},
            'optimizer': {
                index: {k: v.clone() for k, v in state.items()}
                for index, state in trainer.optimizer.state_dict()['state'].items()},
        }


class TwoLosses(pa.Model):
    """Two losses, combined with loss_weights."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, example):
        return self.linear(example['x'])

    def review(self, example, output):
        error = output - example['y']
        return {'losses': {'mse': (error ** 2).mean(), 'mae': error.abs().mean()}}


def batches(n, seed):
    generator = torch.Generator().manual_seed(seed)
    return [{'x': torch.randn(4, 4, generator=generator),
             'y': torch.randn(4, 1, generator=generator)} for _ in range(n)]


TRAIN = batches(2, seed=1)  # 2 iterations per epoch
VALIDATION = batches(1, seed=2)


def make_trainer(tmp_path, scores, optimizer=None, epochs=20, **kwargs):
    torch.manual_seed(0)
    model = ScoredRegression(scores)
    trainer = pa.Trainer(
        model, tmp_path, optimizer or pa.optimizer.SGD(lr=0.8),
        stop_trigger=(epochs, 'epoch'), progress=False, **kwargs)
    recorder = trainer.register_hook(RecordBeforeStep())
    return trainer, recorder


def load(trainer, iteration):
    return torch.load(trainer.checkpoint_dir / f'ckpt_{iteration}.pth', weights_only=True)


def assert_state_equal(state, reference):
    assert state.keys() == reference.keys()
    for name in reference:
        assert torch.equal(state[name], reference[name]), name


def ranking(trainer):
    return json.loads((trainer.checkpoint_dir / 'ckpt_ranking.json').read_text())


def test_backoff_reloads_the_best_checkpoint_and_scales_the_lr_then_early_stopping(tmp_path):
    # validation after epoch: 1    2    3    4        5    6
    # at iteration:           2    4    6    8        10   12
    # score:                  5    3    4    4        7    7
    #                         best best bad  bad:     bad  bad: early stop
    #                                        backoff
    trainer, recorder = make_trainer(
        tmp_path, [5, 3, 4, 4, 7, 7], pa.optimizer.Adam(lr=0.01))
    trainer.register_validation_hook(
        VALIDATION, metric='score', n_back_off=1, back_off_patience=2,
        early_stopping_patience=2, lr_update_factor=0.5)
    trainer.train(TRAIN, device='cpu')

    best = load(trainer, 4)
    before_backoff = recorder.records[7]
    after_backoff = recorder.records[8]  # before the 9th step
    assert not torch.equal(before_backoff['model']['linear.weight'], best['model']['linear.weight'])
    assert_state_equal(after_backoff['model'], best['model'])
    for index, state in best['optimizer']['state'].items():  # Adam moments and step
        assert_state_equal(after_backoff['optimizer'][index], state)
    assert [recorder.records[it]['lr'] for it in range(12)] == [0.01] * 8 + [0.005] * 4
    # Early stopping after the 2nd non-improving validation following the backoff.
    assert (trainer.iteration, trainer.epoch) == (12, 6)
    assert trainer.model.validations == 6
    assert trainer.optimizer.lr == 0.005
    assert ranking(trainer)['best_iteration'] == 4
    assert load(trainer, 12)['iteration'] == 12


def test_backoff_happens_at_most_n_back_off_times(tmp_path):
    # score:    1     2         3         4    5    6
    # iteration 2     4         6         8    10   12
    #           best  bad:      bad:      bad  bad  bad: early stop
    #                 backoff1  backoff2  (backoffs used up)
    trainer, recorder = make_trainer(tmp_path, [1, 2, 3, 4, 5, 6, 7, 8])
    trainer.register_validation_hook(
        VALIDATION, metric='score', n_back_off=2, back_off_patience=1,
        early_stopping_patience=3, lr_update_factor=0.5)
    trainer.train(TRAIN, device='cpu')

    lrs = [recorder.records[it]['lr'] for it in range(12)]
    assert lrs == [0.8] * 4 + [0.4] * 2 + [0.2] * 6
    best = load(trainer, 2)['model']
    for iteration in (4, 6):  # each backoff restarts from the best parameters
        assert_state_equal(recorder.records[iteration]['model'], best)
    for iteration in (8, 10):  # no third backoff
        assert not torch.equal(recorder.records[iteration]['model']['linear.weight'],
                               best['linear.weight'])
    assert (trainer.iteration, trainer.epoch) == (12, 6)
    assert trainer.optimizer.lr == 0.2


def test_early_stopping_waits_until_the_backoffs_are_used_up(tmp_path):
    # score:    1     2                    3         4
    # iteration 2     4                    6         8
    #           best  bad (no stop: a      bad:      bad: early stop
    #                 backoff is left)     backoff
    trainer, recorder = make_trainer(tmp_path, [1, 2, 3, 4, 5, 6])
    trainer.register_validation_hook(
        VALIDATION, metric='score', n_back_off=1, back_off_patience=2,
        early_stopping_patience=1, lr_update_factor=0.5)
    trainer.train(TRAIN, device='cpu')

    assert [recorder.records[it]['lr'] for it in range(8)] == [0.8] * 6 + [0.4] * 2
    assert (trainer.iteration, trainer.epoch) == (8, 4)


def test_early_stopping_without_backoff_stops_inside_an_epoch(tmp_path):
    # Validation every 3 iterations (2 iterations per epoch):
    # iteration 3: 1 (best), 6: 2 (bad), 9: 2 (bad) -> stop at iteration 9.
    trainer, recorder = make_trainer(
        tmp_path, [1, 2, 2, 0, 0], checkpoint_trigger=(3, 'iteration'))
    trainer.register_validation_hook(
        VALIDATION, metric='score', early_stopping_patience=2)
    trainer.train(TRAIN, device='cpu')

    assert trainer.iteration == 9
    assert (trainer.epoch, trainer.epoch_position) == (4, 1)
    assert trainer.model.validations == 3
    assert trainer.optimizer.lr == 0.8
    assert [(e['iteration'], e['value']) for e in ranking(trainer)['checkpoints']] == [
        (3, 1.), (6, 2.), (9, 2.)]


@pytest.mark.parametrize('maximize, best_iteration, best_value', [
    (True, 4, 3.), (False, 2, 1.)])
def test_maximize_selects_the_largest_value(tmp_path, maximize, best_iteration, best_value):
    trainer, _ = make_trainer(tmp_path, [1, 3, 2], epochs=3)
    trainer.register_validation_hook(
        VALIDATION, metric='score', maximize=maximize, max_checkpoints=None)
    trainer.train(TRAIN, device='cpu')

    result = ranking(trainer)
    assert result['maximize'] is maximize
    assert (result['best_iteration'], result['best_value']) == (best_iteration, best_value)
    link = trainer.checkpoint_dir / 'ckpt_best_score.pth'
    assert resolve_link(link).name == f'ckpt_{best_iteration}.pth'
    assert torch.load(link, weights_only=True)['iteration'] == best_iteration


def test_backoff_with_maximize_returns_to_the_largest_value(tmp_path):
    # score 2 (best), 1 (bad: backoff to iteration 2), 3 (best), 0, 0 -> stop
    trainer, recorder = make_trainer(tmp_path, [2, 1, 3, 0, 0])
    trainer.register_validation_hook(
        VALIDATION, metric='score', maximize=True, n_back_off=1,
        back_off_patience=1, early_stopping_patience=2, max_checkpoints=None)
    trainer.train(TRAIN, device='cpu')

    assert_state_equal(recorder.records[4]['model'], load(trainer, 2)['model'])
    assert ranking(trainer)['best_iteration'] == 6
    assert (trainer.iteration, trainer.epoch) == (10, 5)


def test_a_metric_from_the_losses_is_averaged_over_the_validation_data(tmp_path):
    torch.manual_seed(0)
    validation = batches(3, seed=5)
    trainer = pa.Trainer(
        TwoLosses(), tmp_path, pa.optimizer.SGD(lr=0.1), stop_trigger=(1, 'epoch'),
        loss_weights={'mse': 1., 'mae': 0.5}, progress=False)
    trainer.register_validation_hook(validation, metric='mae')
    trainer.train(TRAIN, device='cpu')

    weights = load(trainer, 2)['model']
    expected = sum(
        (b['x'] @ weights['linear.weight'].T + weights['linear.bias'] - b['y']).abs().mean().item()
        for b in validation) / 3
    result = ranking(trainer)
    assert result['metric'] == 'mae'
    assert result['checkpoints'][0]['value'] == pytest.approx(expected, rel=1e-6)
    assert (trainer.checkpoint_dir / 'ckpt_best_mae.pth').exists()


def test_an_unknown_metric_raises_key_error_naming_the_available_ones(tmp_path):
    trainer, _ = make_trainer(tmp_path, [1, 2, 3])
    trainer.register_validation_hook(VALIDATION, metric='accuracy')
    with pytest.raises(KeyError, match="'accuracy'") as error:
        trainer.train(TRAIN, device='cpu')
    assert 'loss' in str(error.value) and 'score' in str(error.value)


def test_a_validation_generator_is_refused_at_registration(tmp_path):
    trainer, _ = make_trainer(tmp_path, [])
    with pytest.raises(TypeError, match='iterator'):
        trainer.register_validation_hook(example for example in VALIDATION)
    assert trainer.validation_hook is None
    assert not any(isinstance(h, pa.train.ValidationHook) for h in trainer.hooks)
