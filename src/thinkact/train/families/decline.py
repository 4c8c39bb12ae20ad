"""Decline: questions no tool here can answer get a short, honest refusal that says what the
model can do, and no tool call. Held-out questions are other requests of the same kinds."""

from __future__ import annotations

import random

from thinkact.train.trajectory import DECLINE, Builder, Split, Trajectory, distractor, pick
from thinkact.train.world import WorldTools

CAN_DO = ("I can compute with python, look up countries and cities in the facts database, "
          "search the field notes, and read and write files.")
# (why it is out of reach, train questions, held-out questions)
KINDS = (
    ("that needs live data I have no access to",
     ("What is the weather in Paris tomorrow?", "What is the price of gold right now?",
      "Who won the football match last night?", "What are today's top news stories?"),
     ("Will it rain in Tokyo this weekend?", "How is the stock market doing today?")),
    ("I do not write creative texts",
     ("Write me a poem about the sea.", "Tell me a story about a dragon.",
      "Compose a song for my mother's birthday."),
     ("Write a short essay on friendship.", "Make up a fairy tale about a fox.")),
    ("I cannot translate between languages",
     ("Translate 'good morning' into Japanese.", "How do you say thank you in Swahili?"),
     ("Translate this sentence into German: the house is red.",)),
    ("I cannot act in the world for you",
     ("Book me a flight to Rome.", "Order a pizza for me.", "Send an email to my boss."),
     ("Reserve a table for two tonight.", "Call a taxi to my house.")),
    ("that is a matter of opinion or advice I cannot check",
     ("Should I quit my job?", "What is the meaning of life?", "Which religion is true?"),
     ("Is it a good idea to buy a house now?", "Who is the best singer ever?")),
    ("I have no information about people",
     ("What is my neighbour's phone number?", "How old is the president's daughter?"),
     ("Where does my teacher live?",)),
)
THINK = ("The user asks something {why}. None of my tools can do it, so I say so briefly and "
         "say what I can do.",
         "This is out of scope: {why}. I should decline honestly rather than guess.")


def decline(world: WorldTools, rng: random.Random, split: Split) -> Trajectory:
    why, train, test = rng.choice(KINDS)
    question = pick(rng, split, train, test)
    b = Builder(world, "decline", distractor(rng, split) + question)
    return b.finish(rng.choice(THINK).format(why=why), f"{DECLINE}: {why}. {CAN_DO}", DECLINE)
