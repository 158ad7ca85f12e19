"""Generation time per structure: random_particle (~2000 atoms) and random_graphene (the seed's
43.2 × 43.2 Å training cell), best of several runs. Issue #4 target: particle well under 1 s.
"""

import time

from contention import run

from atomscope.structures import random_graphene, random_particle


def best_of(function, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main():
    seconds, particle = best_of(
        lambda: random_particle("Au", 0, radius=18, growth=0.3, temperature=1.0), 5
    )
    print(
        f"random_particle: {len(particle)} Au atoms in {seconds * 1e3:.0f} ms "
        f"(target < 1000 ms; ratio {seconds / 1.0:.2f} of target)"
    )
    seconds, sheet = best_of(lambda: random_graphene(43.2, 0, num_holes=2), 5)
    print(f"random_graphene: 43.2 × 43.2 Å, {len(sheet)} C atoms in {seconds * 1e3:.0f} ms")
    seconds, sheet = best_of(lambda: random_graphene(122.4, 0, num_holes=0), 2)
    print(f"random_graphene: 122.4 × 122.4 Å, {len(sheet)} C atoms in {seconds * 1e3:.0f} ms")


if __name__ == "__main__":
    run(main)
