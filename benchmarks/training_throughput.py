"""Training throughput (issue #21 item 2): where a step's time goes, and samples/s.

Prints, for the graphene preset at width 8, 96² crops, 4 crops of one image per step: the
imaging of one training item (exit wave → random microscope → LCN → crops; `TrainingImages.sample`,
with and without the exact augmentation), the network's forward + backward + Adam step on a
fixed batch, and whole `train` steps with the items imaged in this process vs one data worker
ahead of the network (`data_workers=1`), as crops/s and their ratio, measured in one run.

    python benchmarks/training_throughput.py [--steps 60] [--busy 1]
"""

import argparse
import tempfile
import time

import torch
from contention import run

from atomscope.learning.data import TrainingImages, generate
from atomscope.learning.model import FusionNet
from atomscope.learning.randomize import GRAPHENE_80KV
from atomscope.learning.train import TrainConfig, loss_function, train

CROP, WIDTH, CROPS = 96, 8, 4


def per_second(function, repeats: int) -> float:
    function(0)
    start = time.perf_counter()
    for i in range(1, repeats + 1):
        function(i)
    return repeats / (time.perf_counter() - start)


def measure(steps: int, data) -> None:
    torch.set_num_threads(1)
    for augment in (False, True):
        images = TrainingImages(data, GRAPHENE_80KV, CROP, 0, crops=CROPS, augment=augment)
        items = per_second(images.sample, 20)
        print(f"imaging one item (augment={augment}): {1000 / items:.0f} ms, "
              f"{items * CROPS:.1f} crops/s")  # fmt: skip
    x, y = (torch.from_numpy(a) for a in images.sample(0))
    net = FusionNet(width=WIDTH)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)

    def step(_):
        loss, _ = loss_function(net(x), y, net.parameters(), 1e-5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    network = per_second(step, 20)
    print(f"network step ({CROPS} crops of {CROP}², width {WIDTH}, 1 thread): "
          f"{1000 / network:.0f} ms, {network * CROPS:.1f} crops/s")  # fmt: skip
    rates = {}
    for workers in (0, 1):
        config = TrainConfig(
            iterations=steps, batch_size=CROPS, crops_per_image=CROPS, crop=CROP, width=WIDTH,
            checkpoint_every=steps, augment=True,
        )  # fmt: skip
        start = time.perf_counter()
        train(config, tempfile.mkdtemp(), data, progress=False, data_workers=workers)
        rates[workers] = steps * CROPS / (time.perf_counter() - start)
        print(f"train, data_workers={workers}: {rates[workers]:.1f} crops/s "
              f"({rates[workers] / CROPS:.2f} steps/s, checkpoint included)")  # fmt: skip
    print(f"one data worker ahead of the network: {rates[1] / rates[0]:.2f}× the crops/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    args, _ = parser.parse_known_args()
    data = generate("graphene", 4, rng=0)
    run(lambda: measure(args.steps, data))


if __name__ == "__main__":
    main()
