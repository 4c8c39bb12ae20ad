"""Synthetic tool-use tasks: what the bundled tiny model learns to do.

Each task is a question whose answer a small model cannot compute in its head but can get
exactly from one ``python`` call: arithmetic, counting letters, lengths, sorting, sums,
reversals. A :class:`Task` carries the question, the code that answers it, and the real
output of that code, so an episode is *copy work*: copy the operands into the code, copy the
printed result into the answer. That is learnable by a model of about a million parameters on
two CPU cores, and it exercises the whole think → call → observe → think → answer chain.

Questions are phrased many ways; the code and the answer wording follow from the question.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

WORDS = (
    "apple", "banana", "cherry", "dragon", "eagle", "forest", "garden", "harbor", "island",
    "jungle", "kitten", "lemon", "mango", "needle", "orange", "pepper", "quartz", "rabbit",
    "silver", "tomato", "umbrella", "violin", "window", "yellow", "zebra", "strawberry",
    "mississippi", "balloon", "committee", "bookkeeper", "coffee", "letter", "pizza", "puzzle",
    "summer", "river", "mountain", "planet", "rocket", "butter", "cookie", "dinner", "engine",
    "flower", "guitar", "hammer", "insect", "jacket", "kettle", "ladder", "marble", "number",
    "pencil", "rainbow", "saddle", "teacher", "turtle", "valley", "walnut", "banana", "papaya",
    "pineapple", "tennessee", "parallel", "assessment", "bubble", "giraffe", "kangaroo",
    "octopus", "thinking", "python", "answer", "model", "token", "kernel", "bottle", "castle",
    "desert", "finger", "honey", "lizard",
)

Code = str


@dataclass(frozen=True)
class Task:
    """One question with the python code that answers it and what that code prints."""

    kind: str
    question: str
    subject: str  # how the reasoning and the answer name what was asked
    code: Code
    output: str  # exactly what the python tool returns (stdout)

    @property
    def result(self) -> str:
        return self.output.strip()


def _run(code: Code) -> str:
    """What ``code`` prints, run here (the generators only build trusted expressions)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(code, {"__builtins__": {"print": print, "len": len, "sorted": sorted,
                                     "sum": sum, "range": range}})
    return buf.getvalue()


def _number(rng: random.Random) -> int:
    return rng.choice((rng.randint(2, 9), rng.randint(10, 99), rng.randint(10, 99),
                       rng.randint(100, 999), rng.randint(100, 9999)))


def _expression(rng: random.Random) -> str:
    n = rng.choice((2, 2, 3, 3, 4))
    parts = [str(_number(rng))]
    for _ in range(n - 1):
        parts += [rng.choice(("+", "-", "*", "*")), str(_number(rng))]
    if n >= 3 and rng.random() < 0.25:
        parts = ["(", *parts[:3], ")", *parts[3:]]
    spaced = rng.random() < 0.8
    text = " ".join(parts) if spaced else "".join(parts)
    return text.replace("( ", "(").replace(" )", ")")


ARITH_QUESTIONS = (
    "What is {e}?", "What is {e}? Use the python tool to check.", "Compute {e}.",
    "Calculate {e} using python.", "How much is {e}?", "Please work out {e}.", "{e} = ?",
    "Evaluate {e} and check it with python.", "what's {e}", "Can you tell me what {e} is?",
    "I need the value of {e}.", "Use python to compute {e}.",
)


def arithmetic(rng: random.Random) -> Task:
    e = _expression(rng)
    code = f"print({e})"
    return Task("arithmetic", rng.choice(ARITH_QUESTIONS).format(e=e), e, code, _run(code))


def count_letter(rng: random.Random) -> Task:
    word = rng.choice(WORDS)
    letter = rng.choice(word) if rng.random() < 0.85 else rng.choice("aeiourstxz")
    q = rng.choice((
        "How many times does the letter '{c}' appear in '{w}'?",
        "How many {c}'s are in the word {w}?", "Count the letter {c} in \"{w}\".",
        "How many '{c}' are there in {w}? Check with python.",
    )).format(c=letter, w=word)
    code = f'print("{word}".count("{letter}"))'
    return Task("count", q, f"the number of '{letter}' in '{word}'", code, _run(code))


def length(rng: random.Random) -> Task:
    word = rng.choice(WORDS)
    q = rng.choice(("How many letters does '{w}' have?", "What is the length of the word {w}?",
                    "How long is the string \"{w}\"?", "Count the characters in {w}.")
                   ).format(w=word)
    code = f'print(len("{word}"))'
    return Task("length", q, f"the length of '{word}'", code, _run(code))


def sort_numbers(rng: random.Random) -> Task:
    nums = [rng.randint(0, 99 if rng.random() < 0.7 else 999) for _ in range(rng.randint(3, 7))]
    listed = ", ".join(map(str, nums))
    q = rng.choice(("Sort these numbers: {l}", "Put {l} in ascending order.",
                    "Sort {l} from smallest to largest.", "Order these numbers: {l}.")
                   ).format(l=listed)
    code = f"print(sorted([{listed}]))"
    return Task("sort", q, f"{listed} sorted", code, _run(code))


def range_sum(rng: random.Random) -> Task:
    n = rng.randint(5, 5000)
    q = rng.choice(("What is the sum of the numbers from 1 to {n}?", "Add up 1 through {n}.",
                    "What is 1 + 2 + ... + {n}?", "Sum all integers from 1 to {n}.")
                   ).format(n=n)
    code = f"print(sum(range(1, {n} + 1)))"
    return Task("sum", q, f"the sum of 1 to {n}", code, _run(code))


def reverse(rng: random.Random) -> Task:
    word = rng.choice(WORDS)
    q = rng.choice(("Reverse the word '{w}'.", "What is {w} spelled backwards?",
                    "Write \"{w}\" in reverse.")).format(w=word)
    code = f'print("{word}"[::-1])'
    return Task("reverse", q, f"'{word}' reversed", code, _run(code))


GENERATORS: dict[str, tuple[float, Callable[[random.Random], Task]]] = {
    "arithmetic": (0.45, arithmetic),
    "count": (0.12, count_letter),
    "length": (0.1, length),
    "sort": (0.12, sort_numbers),
    "sum": (0.11, range_sum),
    "reverse": (0.1, reverse),
}


def random_task(rng: random.Random) -> Task:
    """A task drawn from :data:`GENERATORS` by weight."""
    names = list(GENERATORS)
    weights = [GENERATORS[n][0] for n in names]
    return GENERATORS[rng.choices(names, weights)[0]][1](rng)
