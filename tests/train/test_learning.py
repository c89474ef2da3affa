"""The Trainer learns: 4 Gaussian clusters in 8-D, far above chance."""
import torch

import padertorch_audio as pa
from padertorch_audio.train import optimizer as optimizers


class Classifier(pa.Model):
    """A small MLP 8 -> 16 -> 4 with a cross-entropy loss."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))

    def forward(self, example):
        return self.net(example['features'])

    def review(self, example, output):
        accuracy = (output.argmax(-1) == example['label']).float().mean()
        return {'loss': torch.nn.functional.cross_entropy(output, example['label']),
                'scalars': {'accuracy': accuracy}}


def gaussian_clusters(n, generator):
    """n examples of 4 unit-variance clusters, means 4 * sqrt(2) apart."""
    means = 4. * torch.eye(4, 8)
    labels = torch.randint(0, 4, (n,), generator=generator)
    features = means[labels] + torch.randn(n, 8, generator=generator)
    return features, labels


def test_the_trainer_learns_to_classify_gaussian_clusters(tmp_path):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    features, labels = gaussian_clusters(200, generator)
    test_features, test_labels = gaussian_clusters(200, generator)
    batches = [{'features': features[i:i + 16], 'label': labels[i:i + 16]}
               for i in range(0, 200, 16)]

    model = Classifier()
    with torch.no_grad():
        accuracy_before = (model.net(test_features).argmax(-1)
                           == test_labels).float().mean().item()
    trainer = pa.Trainer(model, tmp_path, optimizers.Adam(lr=0.01),
                         stop_trigger=(10, 'epoch'), progress=False)
    trainer.register_validation_hook(
        [{'features': test_features, 'label': test_labels}],
        metric='accuracy', maximize=True)
    trainer.train(batches, device='cpu')

    model.eval()
    with torch.no_grad():
        accuracy = (model.net(test_features).argmax(-1)
                    == test_labels).float().mean().item()
    assert accuracy_before < 0.6
    assert accuracy > 0.9  # chance: 0.25
    assert trainer.validation_hook.best_value > 0.9
