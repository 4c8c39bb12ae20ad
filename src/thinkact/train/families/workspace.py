"""Files: write to the workspace, read it back, compute on what was read, check.

Held-out questions use other file names, value ranges and wordings.
"""

from __future__ import annotations

import random

from thinkact.train.trajectory import Builder, Split, Trajectory, distractor, entities, pick
from thinkact.train.world import WorldTools

NAMES = {"train": ("numbers.txt", "data.txt", "list.txt", "values.txt", "notes.txt"),
         "test": ("scores.txt", "input.txt", "items.txt")}
SITES = ("number_file", "word_file")  # a held-out name is held out at one of the two


def file_names(split: Split, site: str) -> list[str]:
    return entities(split, SITES.index(site), NAMES["train"] + NAMES["test"], NAMES["test"], str)


def number_file(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    lo, hi = (1, 99) if split == "train" else (100, 999)
    nums = [rng.randint(lo, hi) for _ in range(rng.randint(3, 6))]
    name = rng.choice(file_names(split, "number_file"))
    listed = ", ".join(map(str, nums))
    q = pick(rng, split, ("Write the numbers {l} to {f}, one per line, then read the file back "
                          "and tell me their sum.", "Save {l} in {f} (one per line), read it "
                          "again and add the numbers up."),
             ("Put {l} into a file called {f}, one number per line; then read that file and "
              "give me the total.",)).format(l=listed, f=name)
    b = Builder(world, "files", distractor(rng, split) + q)
    return _round_trip(b, name, [str(n) for n in nums], "sum",
                       f"sum(int(line) for line in open('{name}'))",
                       " + ".join(map(str, nums)), "add the numbers from the question",
                       f"I wrote {name} and read it back; its numbers add up to {{v}}.")


def _round_trip(b: Builder, name: str, lines: list[str], what: str, compute: str, check: str,
                how: str, answer: str) -> Trajectory:
    """write ``lines`` to ``name`` → read it back → ``compute`` on the file → ``check``."""
    b.call(f"Plan: write the {len(lines)} lines to {name}, read it back, {what} them in "
           f"python, then check: {how}.", "files", action="write", path=name,
           content="".join(f"{line}\n" for line in lines))
    b.call(f"{name} is written. Read it back to see what it holds.", "files", action="read",
           path=name)
    total = b.call(f"The file holds {', '.join(lines)}, one per line. Now the {what} in "
                   "python.", "python", code=f"print({compute})")
    again = b.call(f"That gives {total}. Check: {how}.", "python", code=f"print({check})")
    if again != total:
        raise ValueError(f"{what}: the file and the check disagree")
    return b.finish(f"Both give {total}. The answer is {total}.", answer.format(v=total), total)


def word_file(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    from thinkact.train.tasks import WORDS

    words = rng.sample(WORDS, rng.randint(3, 5))
    name = rng.choice(file_names(split, "word_file")).replace(".txt", "-words.txt")
    listed = ", ".join(words)
    q = pick(rng, split, ("Write the words {l} to {f}, one per line. Then read it and count "
                          "the letters in all of them together.",),
             ("Store {l} in {f}, one word per line, read it back and tell me how many "
              "letters the words have in total.",)).format(l=listed, f=name)
    b = Builder(world, "files", distractor(rng, split) + q)
    return _round_trip(b, name, words, "letter count",
                       f"sum(len(line.strip()) for line in open('{name}'))",
                       f"len({''.join(words)!r})", "the length of the words joined",
                       f"The words in {name} have {{v}} letters in total.")


def files(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    return (number_file if rng.random() < 0.65 else word_file)(world, rng, split)
