"""Checkpoint files, links, ranking, pruning, atomicity and exact resume."""
import functools
import json
import os
from pathlib import Path

import pytest
import torch

import padertorch_audio as pa
from padertorch_audio.train.checkpoint import resolve_link, write_link, load_checkpoint


# --- a tiny model, data and helpers ---------------------------------------

class Regression(pa.Model):
    """4 features -> 1, mean squared error."""

    def __init__(self, dropout=0.):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(4, 8), torch.nn.Dropout(dropout), torch.nn.Linear(8, 1))

    def forward(self, example):
        return self.net(example['x'])

    def review(self, example, output):
        return {'loss': ((output - example['y']) ** 2).mean()}


class ScoredRegression(Regression):
    """Validation reports a 'score' read from a predetermined sequence."""

    def __init__(self, scores):
        super().__init__()
        self.scores = scores  # an iterator the test owns (survives a new Trainer)

    def review(self, example, output):
        review = super().review(example, output)
        if not self.training:
            review['scalars'] = {'score': torch.tensor(float(next(self.scores)))}
        return review


def batches(n, seed, batch_size=4):
    generator = torch.Generator().manual_seed(seed)
    return [{'x': torch.randn(batch_size, 4, generator=generator),
             'y': torch.randn(batch_size, 1, generator=generator)}
            for _ in range(n)]


TRAIN = batches(2, seed=1)       # 2 iterations per epoch
VALIDATION = batches(2, seed=2)


def sgd_trainer(storage_dir, model, epochs, **kwargs):
    return pa.Trainer(model, storage_dir, pa.optimizer.SGD(lr=0.1),
                      stop_trigger=(epochs, 'epoch'), progress=False, **kwargs)


def reference_validation_loss(model_state, dropout=0.5):
    """Mean over the validation batches of the MSE, in eval mode."""
    model = Regression(dropout)
    model.load_state_dict(model_state)
    model.eval()
    with torch.no_grad():
        losses = [((model.net(b['x']) - b['y']) ** 2).mean().item()
                  for b in VALIDATION]
    return sum(losses) / len(losses)


def assert_same_parameters(model_a, model_b):
    a, b = model_a.state_dict(), model_b.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def files(directory):
    return sorted(p.name for p in Path(directory).iterdir())


def snapshot(directory):
    """{relative path: (content or link target, mtime)} of all under directory."""
    directory = Path(directory)
    result = {}
    for path in sorted(directory.rglob('*')):
        if path.is_symlink():
            content = ('symlink', os.readlink(path))
        elif path.is_dir():
            content = ('dir',)
        else:
            content = path.read_bytes()
        result[path.relative_to(directory).as_posix()] = (
            content, path.lstat().st_mtime_ns)
    return result


# --- layout, ranking, links -----------------------------------------------

def test_checkpoints_latest_best_and_ranking_match_recomputed_validation(tmp_path):
    torch.manual_seed(0)
    trainer = sgd_trainer(tmp_path, Regression(dropout=0.5), epochs=3)
    trainer.register_validation_hook(VALIDATION, max_checkpoints=None)
    trainer.train(TRAIN, device='cpu')

    directory = tmp_path / 'checkpoints'
    assert files(directory) == [
        'ckpt_2.pth', 'ckpt_4.pth', 'ckpt_6.pth', 'ckpt_best_loss.pth',
        'ckpt_latest.pth', 'ckpt_ranking.json']
    # Validation runs in eval mode (no dropout) at the checkpoint's parameters.
    expected = {it: reference_validation_loss(
                    torch.load(directory / f'ckpt_{it}.pth', weights_only=True)['model'])
                for it in (2, 4, 6)}
    ranking = json.loads((directory / 'ckpt_ranking.json').read_text())
    assert [entry['iteration'] for entry in ranking['checkpoints']] == [2, 4, 6]
    assert [entry['file'] for entry in ranking['checkpoints']] == [
        'ckpt_2.pth', 'ckpt_4.pth', 'ckpt_6.pth']
    for entry in ranking['checkpoints']:
        assert entry['value'] == pytest.approx(expected[entry['iteration']], rel=1e-6)
    best = min(expected, key=expected.get)
    assert ranking['metric'] == 'loss' and ranking['maximize'] is False
    assert ranking['best_iteration'] == best
    assert ranking['best_value'] == pytest.approx(expected[best], rel=1e-6)
    assert resolve_link(directory / 'ckpt_best_loss.pth').name == f'ckpt_{best}.pth'
    assert resolve_link(directory / 'ckpt_latest.pth').name == 'ckpt_6.pth'
    latest = torch.load(directory / 'ckpt_latest.pth', weights_only=True)
    assert (latest['iteration'], latest['epoch'], latest['epoch_position']) == (6, 3, 0)
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(latest['model'][name], value)


@pytest.mark.parametrize('max_checkpoints, kept', [
    (2, [2, 8, 10]),               # the best (iteration 2) is old and survives
    (None, [2, 4, 6, 8, 10]),
])
def test_pruning_keeps_the_newest_checkpoints_and_the_best(tmp_path, max_checkpoints, kept):
    torch.manual_seed(0)
    model = ScoredRegression(iter([1., 5., 6., 7., 8.]))
    trainer = sgd_trainer(tmp_path, model, epochs=5)
    trainer.register_validation_hook(
        [VALIDATION[0]], metric='score', max_checkpoints=max_checkpoints)
    trainer.train(TRAIN, device='cpu')

    directory = tmp_path / 'checkpoints'
    assert files(directory) == sorted(
        [f'ckpt_{it}.pth' for it in kept]
        + ['ckpt_best_score.pth', 'ckpt_latest.pth', 'ckpt_ranking.json'])
    assert resolve_link(directory / 'ckpt_best_score.pth').name == 'ckpt_2.pth'
    assert resolve_link(directory / 'ckpt_latest.pth').name == 'ckpt_10.pth'
    ranking = json.loads((directory / 'ckpt_ranking.json').read_text())
    assert [(e['iteration'], e['value']) for e in ranking['checkpoints']] == [
        (2, 1.), (4, 5.), (6, 6.), (8, 7.), (10, 8.)]


def test_write_link_makes_a_relative_symlink(tmp_path):
    for iteration in (1, 2):
        torch.save({'iteration': iteration}, tmp_path / f'ckpt_{iteration}.pth')
    write_link(tmp_path / 'ckpt_latest.pth', tmp_path / 'ckpt_1.pth')
    write_link(tmp_path / 'ckpt_latest.pth', tmp_path / 'ckpt_2.pth')  # retarget

    link = tmp_path / 'ckpt_latest.pth'
    assert link.is_symlink() and os.readlink(link) == 'ckpt_2.pth'
    assert resolve_link(link) == (tmp_path / 'ckpt_2.pth').resolve()
    assert load_checkpoint(link)['iteration'] == 2
    assert files(tmp_path) == ['ckpt_1.pth', 'ckpt_2.pth', 'ckpt_latest.pth']


def test_write_link_falls_back_to_a_pointer_file_without_symlinks(tmp_path, monkeypatch):
    def no_symlinks(*args, **kwargs):
        raise OSError('symbolic links are not supported here')

    for iteration in (1, 2):
        torch.save({'iteration': iteration}, tmp_path / f'ckpt_{iteration}.pth')
    write_link(tmp_path / 'ckpt_latest.pth', tmp_path / 'ckpt_1.pth')  # a symlink
    monkeypatch.setattr(os, 'symlink', no_symlinks)
    write_link(tmp_path / 'ckpt_latest.pth', tmp_path / 'ckpt_2.pth')  # replaces it

    link = tmp_path / 'ckpt_latest.pth'
    assert link.is_file() and not link.is_symlink()
    assert link.stat().st_size < 1024
    assert resolve_link(link) == tmp_path / 'ckpt_2.pth'
    assert load_checkpoint(link)['iteration'] == 2
    write_link(link, tmp_path / 'ckpt_1.pth')  # a pointer file is retargeted too
    assert load_checkpoint(link)['iteration'] == 1
    assert files(tmp_path) == ['ckpt_1.pth', 'ckpt_2.pth', 'ckpt_latest.pth']
    # An ordinary checkpoint file is not mistaken for a pointer.
    assert resolve_link(tmp_path / 'ckpt_1.pth') == tmp_path / 'ckpt_1.pth'


def test_training_and_resume_work_with_pointer_files(tmp_path, monkeypatch):
    def no_symlinks(*args, **kwargs):
        raise OSError('symbolic links are not supported here')

    monkeypatch.setattr(os, 'symlink', no_symlinks)
    torch.manual_seed(0)
    first = sgd_trainer(tmp_path / 'resumed', Regression(), epochs=2)
    first.register_validation_hook(VALIDATION)
    first.train(TRAIN, device='cpu')
    directory = tmp_path / 'resumed' / 'checkpoints'
    assert not any(p.is_symlink() for p in directory.iterdir())
    assert resolve_link(directory / 'ckpt_latest.pth') == directory / 'ckpt_4.pth'

    resumed = sgd_trainer(tmp_path / 'resumed', Regression(), epochs=3)
    resumed.register_validation_hook(VALIDATION)
    resumed.train(TRAIN, resume=True, device='cpu')
    torch.manual_seed(0)
    reference = sgd_trainer(tmp_path / 'reference', Regression(), epochs=3)
    reference.register_validation_hook(VALIDATION)
    reference.train(TRAIN, device='cpu')

    assert resumed.iteration == reference.iteration == 6
    assert_same_parameters(resumed.model, reference.model)
    assert load_checkpoint(directory / 'ckpt_latest.pth')['iteration'] == 6


def test_a_crash_while_writing_a_checkpoint_leaves_the_previous_ones_intact(
        tmp_path, monkeypatch):
    torch.manual_seed(0)
    trainer = sgd_trainer(tmp_path, Regression(), epochs=1)
    trainer.register_validation_hook(VALIDATION)
    trainer.train(TRAIN, device='cpu')
    directory = tmp_path / 'checkpoints'
    before = snapshot(directory)

    def save_half_then_crash(obj, f, *args, **kwargs):
        f.write(b'the first bytes of a checkpoint')
        raise OSError('No space left on device')

    monkeypatch.setattr(torch, 'save', save_half_then_crash)
    resumed = sgd_trainer(tmp_path, Regression(), epochs=2)
    resumed.register_validation_hook(VALIDATION)
    with pytest.raises(OSError, match='No space left'):
        resumed.train(TRAIN, resume=True, device='cpu')
    monkeypatch.undo()

    assert snapshot(directory) == before  # no ckpt_4.pth, no temporary file
    assert load_checkpoint(directory / 'ckpt_latest.pth')['iteration'] == 2
    assert load_checkpoint(directory / 'ckpt_best_loss.pth')['iteration'] == 2


def test_temporaries_of_a_killed_checkpoint_write_are_removed_at_the_next_start(
        tmp_path, caplog):
    """A process killed (SIGKILL) inside a checkpoint write leaves its
    temporary file; the next start removes it, says so, and nothing else."""
    import subprocess
    import sys
    torch.manual_seed(0)
    trainer = sgd_trainer(tmp_path, Regression(), epochs=1)
    trainer.train(TRAIN, device='cpu')
    directory = tmp_path / 'checkpoints'
    writer = (
        'import os, signal, sys, torch\n'
        'from padertorch_audio.train.checkpoint import save_checkpoint\n'
        'class Killed:\n'
        '    def __reduce__(self):\n'
        '        os.kill(os.getpid(), signal.SIGKILL)\n'
        'save_checkpoint({"model": torch.zeros(1000), "x": Killed()},\n'
        '                sys.argv[1])\n')
    result = subprocess.run([sys.executable, '-c', writer,
                             str(directory / 'ckpt_4.pth')], timeout=120)
    assert result.returncode == -9
    left = [p.name for p in directory.iterdir() if p.name.endswith('.tmp')]
    assert len(left) == 1 and left[0].startswith('.ckpt_4.pth.'), left
    # Files of other names stay, even when they look alike.
    others = ['notes.tmp', '.ckpt_4.pth.tmp', '.ckpt_4.pth.zz.tmp',
              '.model.pt.0123456789ab.tmp', 'ckpt_4.pth.0123456789ab.tmp']
    for name in others:
        (directory / name).write_text('keep')
    (directory / '.ckpt_9.pth.0123456789ab.tmp').mkdir()  # a directory
    (directory / '.ckpt_latest.pth.4242.tmp').symlink_to('ckpt_2.pth')

    resumed = sgd_trainer(tmp_path, Regression(), epochs=2)
    with caplog.at_level('WARNING', logger='padertorch_audio.train.trainer'):
        resumed.train(TRAIN, resume=True, device='cpu')
    assert resumed.iteration == 4
    names = files(directory)
    assert left[0] not in names and '.ckpt_latest.pth.4242.tmp' not in names
    for name in [*others, '.ckpt_9.pth.0123456789ab.tmp']:
        assert name in names
    messages = [r.getMessage() for r in caplog.records
                if 'interrupted checkpoint write' in r.getMessage()]
    assert len(messages) == 1
    assert messages[0].startswith('Removed 2 temporary file(s)')
    assert left[0] in messages[0] and str(directory) in messages[0]


def test_resume_auto_starts_a_new_run_or_continues_the_last_one(tmp_path):
    torch.manual_seed(0)
    first = sgd_trainer(tmp_path, Regression(), epochs=1)
    first.train(TRAIN, resume='auto', device='cpu')  # nothing to resume
    assert first.iteration == 2
    again = sgd_trainer(tmp_path, Regression(), epochs=2)
    again.train(TRAIN, resume='auto', device='cpu')  # continues at 2
    assert again.iteration == 4
    torch.manual_seed(0)
    reference = sgd_trainer(tmp_path / 'reference', Regression(), epochs=2)
    reference.train(TRAIN, device='cpu')
    assert_same_parameters(again.model, reference.model)
    assert load_checkpoint(tmp_path / 'checkpoints' / 'ckpt_latest.pth')[
        'iteration'] == 4
    with pytest.raises(ValueError, match="resume must be True, False or "
                                         "'auto', found 'yes'"):
        sgd_trainer(tmp_path, Regression(), epochs=3).train(
            TRAIN, resume='yes', device='cpu')


# --- exact resume ---------------------------------------------------------

def shuffled_loader():
    generator = torch.Generator().manual_seed(3)
    examples = [{'x': torch.randn(4, generator=generator),
                 'y': torch.randn(1, generator=generator)} for _ in range(12)]
    return torch.utils.data.DataLoader(examples, batch_size=4, shuffle=True)


def dropout_adam_trainer(storage_dir, stop_trigger, seed):
    torch.manual_seed(seed)
    trainer = pa.Trainer(
        Regression(dropout=0.5), storage_dir,
        pa.optimizer.Adam(lr=0.01, gradient_clipping=0.1),
        stop_trigger=stop_trigger, progress=False)
    trainer.register_validation_hook(VALIDATION)
    trainer.register_lr_scheduler(functools.partial(
        torch.optim.lr_scheduler.StepLR, step_size=1, gamma=0.5), interval='epoch')
    return trainer


def assert_same_training_state(trainer, reference):
    assert (trainer.iteration, trainer.epoch) == (reference.iteration, reference.epoch)
    assert trainer.optimizer.lr == reference.optimizer.lr
    assert_same_parameters(trainer.model, reference.model)
    state, reference_state = (t.optimizer.state_dict()['state'] for t in (trainer, reference))
    for key in reference_state:
        for name, value in reference_state[key].items():
            assert torch.equal(state[key][name], value), (key, name)


def test_resume_after_two_epochs_equals_an_uninterrupted_run_bitwise(tmp_path):
    reference = dropout_adam_trainer(tmp_path / 'reference', (4, 'epoch'), seed=0)
    reference.train(shuffled_loader(), device='cpu')

    dropout_adam_trainer(tmp_path / 'run', (2, 'epoch'), seed=0).train(
        shuffled_loader(), device='cpu')
    resumed = dropout_adam_trainer(tmp_path / 'run', (4, 'epoch'), seed=1234)
    resumed.train(shuffled_loader(), resume=True, device='cpu')

    assert (reference.iteration, reference.epoch) == (12, 4)
    assert reference.optimizer.lr == pytest.approx(0.01 * 0.5 ** 4)
    assert_same_training_state(resumed, reference)


def test_resume_inside_a_shuffled_epoch_equals_an_uninterrupted_run_bitwise(tmp_path):
    """Interrupted after 5 of 12 steps: the resumed epoch must keep its order."""
    reference = dropout_adam_trainer(tmp_path / 'reference', (4, 'epoch'), seed=0)
    reference.train(shuffled_loader(), device='cpu')

    interrupted = dropout_adam_trainer(tmp_path / 'run', (5, 'iteration'), seed=0)
    interrupted.train(shuffled_loader(), device='cpu')
    assert (interrupted.epoch, interrupted.epoch_position) == (1, 2)
    resumed = dropout_adam_trainer(tmp_path / 'run', (4, 'epoch'), seed=1234)
    resumed.train(shuffled_loader(), resume=True, device='cpu')

    assert_same_training_state(resumed, reference)


def test_resume_inside_an_epoch_of_a_list_with_dropout_is_bitwise_exact(tmp_path):
    data = batches(3, seed=4)
    reference = dropout_adam_trainer(tmp_path / 'reference', (3, 'epoch'), seed=0)
    reference.train(data, device='cpu')

    dropout_adam_trainer(tmp_path / 'run', (4, 'iteration'), seed=0).train(data, device='cpu')
    resumed = dropout_adam_trainer(tmp_path / 'run', (3, 'epoch'), seed=1234)
    resumed.train(data, resume=True, device='cpu')

    assert (reference.iteration, reference.epoch) == (9, 3)
    assert_same_training_state(resumed, reference)


def scored_backoff_trainer(storage_dir, scores, epochs):
    torch.manual_seed(0)
    trainer = sgd_trainer(storage_dir, ScoredRegression(scores), epochs=epochs)
    trainer.register_validation_hook(
        [VALIDATION[0]], metric='score', n_back_off=1, back_off_patience=2,
        early_stopping_patience=2, lr_update_factor=0.5)
    return trainer


def test_resume_restores_ranking_and_a_pending_backoff(tmp_path):
    # best at iteration 4; the 4th validation (iteration 8) asks for a backoff,
    # which happens at the next step -- after the interruption.
    sequence = [3., 2., 4., 5., 6., 7.]
    reference = scored_backoff_trainer(tmp_path / 'reference', iter(sequence), epochs=20)
    reference.train(TRAIN, device='cpu')

    scores = iter(sequence)
    interrupted = scored_backoff_trainer(tmp_path / 'run', scores, epochs=4)
    interrupted.train(TRAIN, device='cpu')
    assert interrupted.optimizer.lr == 0.1  # the backoff is still pending
    resumed = scored_backoff_trainer(tmp_path / 'run', scores, epochs=20)
    resumed.train(TRAIN, resume=True, device='cpu')

    expected_ranking = [(2, 3.), (4, 2.), (6, 4.), (8, 5.), (10, 6.), (12, 7.)]
    for trainer in (reference, resumed):
        ranking = json.loads(
            (trainer.checkpoint_dir / 'ckpt_ranking.json').read_text())
        assert [(e['iteration'], e['value']) for e in ranking['checkpoints']] \
            == expected_ranking
        assert ranking['best_iteration'] == 4
        assert (trainer.iteration, trainer.epoch) == (12, 6)  # early stopping
        assert trainer.optimizer.lr == pytest.approx(0.05)  # one backoff
    assert_same_parameters(resumed.model, reference.model)


# --- storage dir checks ---------------------------------------------------

def test_resume_without_a_checkpoint_raises_before_writing_anything(tmp_path):
    missing = tmp_path / 'missing'
    with pytest.raises(FileNotFoundError, match='ckpt_latest.pth'):
        sgd_trainer(missing, Regression(), epochs=1).train(TRAIN, resume=True, device='cpu')
    assert not missing.exists()

    empty = tmp_path / 'empty'
    (empty / 'checkpoints').mkdir(parents=True)
    (empty / 'notes.txt').write_text('nothing trained yet')
    before = snapshot(empty)
    with pytest.raises(FileNotFoundError, match='ckpt_latest.pth'):
        sgd_trainer(empty, Regression(), epochs=1).train(TRAIN, resume=True, device='cpu')
    assert snapshot(empty) == before


def test_resume_from_a_dangling_latest_link_raises_file_not_found(tmp_path):
    torch.manual_seed(0)
    sgd_trainer(tmp_path, Regression(), epochs=1).train(TRAIN, device='cpu')
    (tmp_path / 'checkpoints' / 'ckpt_2.pth').unlink()
    before = snapshot(tmp_path)
    with pytest.raises(FileNotFoundError, match='ckpt_2.pth'):
        sgd_trainer(tmp_path, Regression(), epochs=2).train(TRAIN, resume=True, device='cpu')
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize('leftover', ['a finished run', 'config.json', 'checkpoints'])
def test_a_storage_dir_with_a_run_is_refused_without_resume(tmp_path, leftover):
    if leftover == 'a finished run':
        torch.manual_seed(0)
        sgd_trainer(tmp_path, Regression(), epochs=1).train(TRAIN, device='cpu')
    elif leftover == 'config.json':
        (tmp_path / 'config.json').write_text('{}')
    else:
        (tmp_path / 'checkpoints').mkdir()
    before = snapshot(tmp_path)

    with pytest.raises(FileExistsError, match='resume=True'):
        sgd_trainer(tmp_path, Regression(), epochs=2).train(TRAIN, device='cpu')
    assert snapshot(tmp_path) == before


def test_an_existing_directory_without_a_run_is_accepted(tmp_path):
    (tmp_path / 'notes.txt').write_text('an empty experiment folder')
    torch.manual_seed(0)
    sgd_trainer(tmp_path, Regression(), epochs=1).train(TRAIN, device='cpu')
    assert (tmp_path / 'config.json').is_file()
    assert (tmp_path / 'notes.txt').read_text() == 'an empty experiment folder'
