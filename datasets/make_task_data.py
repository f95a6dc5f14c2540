"""Write the two small synthetic datasets of the classify and text tasks (standard library only).

    python datasets/make_task_data.py            # writes both beside this script
    python datasets/make_task_data.py --out DIR

- ``sensor_activity.csv``: 3,000 rows of three sensor-like channels (``ax``, ``ay``, ``az``)
  recorded during bouts of four activities (``activity``: rest, walk, run, climb), 40 to 120
  rows each, in random order. The waveform's shape depends on the activity: rest is flat
  noise, walk a slow sine on ``ax``, run a fast, larger sine on ``ax`` and ``ay``, climb a
  sawtooth on ``az`` with a slow drift on ``ax``. Each channel has Gaussian noise, and each
  bout its own random phase and amplitude (+-20 %).
- ``tiny_grammar.txt``: about 60 KB of English-like sentences drawn from a small hand-written
  grammar (subject, verb, object, optional place and time phrases), one per line.

Both use one seeded ``random.Random``, so the files are the same on every machine.
"""

from __future__ import annotations

import argparse
import math
import random
from pathlib import Path

ACTIVITIES = ("rest", "walk", "run", "climb")


def sensor_rows(rng: random.Random, n_rows: int = 3000) -> list[tuple]:
    rows: list[tuple] = []
    t = 0
    while t < n_rows:
        activity = rng.choice(ACTIVITIES)
        length = min(rng.randint(40, 120), n_rows - t)
        phase = rng.uniform(0, 2 * math.pi)
        amp = rng.uniform(0.8, 1.2)
        for i in range(length):
            if activity == "rest":
                ax, ay, az = 0.0, 0.0, 0.0
            elif activity == "walk":
                ax, ay, az = amp * math.sin(2 * math.pi * i / 20 + phase), 0.3 * amp * math.sin(2 * math.pi * i / 40 + phase), 0.0
            elif activity == "run":
                w = 2 * math.pi * i / 8 + phase
                ax, ay, az = 2.0 * amp * math.sin(w), 1.2 * amp * math.cos(w), 0.2
            else:  # climb
                saw = ((i + phase * 3) % 15) / 15 - 0.5
                ax, ay, az = 0.5 * amp * math.sin(2 * math.pi * i / 60 + phase), 0.0, 2.0 * amp * saw
            rows.append((t, ax + rng.gauss(0, 0.15), ay + rng.gauss(0, 0.15), az + rng.gauss(0, 0.15), activity))
            t += 1
    return rows


GRAMMAR = {
    "SENTENCE": [["SUBJECT", "VERB", "OBJECT", "END"], ["SUBJECT", "VERB", "OBJECT", "PLACE", "END"],
                 ["TIME", ",", "SUBJECT", "VERB", "OBJECT", "END"], ["SUBJECT", "IVERB", "PLACE", "END"]],
    "SUBJECT": [["DET", "NOUN"], ["DET", "ADJ", "NOUN"], ["NAME"]],
    "OBJECT": [["DET", "NOUN"], ["DET", "ADJ", "NOUN"]],
    "PLACE": [["PREP", "DET", "PLACE_NOUN"]],
    "TIME": [["in the morning"], ["at night"], ["every day"], ["after the rain"], ["on sunday"]],
    "DET": [["the"], ["a"], ["my"], ["that"]],
    "ADJ": [["small"], ["old"], ["quiet"], ["green"], ["happy"], ["tired"]],
    "NOUN": [["cat"], ["dog"], ["bird"], ["farmer"], ["teacher"], ["child"], ["river"], ["lamp"]],
    "NAME": [["anna"], ["tom"], ["lena"], ["omar"]],
    "VERB": [["sees"], ["likes"], ["follows"], ["paints"], ["finds"], ["carries"]],
    "IVERB": [["sleeps"], ["sings"], ["waits"], ["runs"]],
    "PREP": [["near"], ["under"], ["behind"], ["inside"]],
    "PLACE_NOUN": [["house"], ["bridge"], ["garden"], ["market"], ["forest"]],
    "END": [["."]],
}  # fmt: skip


def sentence(rng: random.Random) -> str:
    words: list[str] = []

    def expand(symbol: str) -> None:
        if symbol not in GRAMMAR:
            words.append(symbol)
            return
        for part in rng.choice(GRAMMAR[symbol]):
            expand(part)

    expand("SENTENCE")
    text = " ".join(words).replace(" .", ".").replace(" ,", ",")
    return text[0].upper() + text[1:]


def corpus(rng: random.Random, n_chars: int = 60_000) -> str:
    lines, size = [], 0
    while size < n_chars:
        line = sentence(rng)
        lines.append(line)
        size += len(line) + 1
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent), help="folder to write to (default: this script's)")
    args = parser.parse_args()
    out = Path(args.out)
    rng = random.Random(20241125)
    with (out / "sensor_activity.csv").open("w", encoding="utf-8", newline="\n") as f:
        f.write("t,ax,ay,az,activity\n")
        for t, ax, ay, az, activity in sensor_rows(rng):
            f.write(f"{t},{ax:.4f},{ay:.4f},{az:.4f},{activity}\n")
    (out / "tiny_grammar.txt").write_text(corpus(rng), encoding="utf-8", newline="\n")
    print(f"wrote {out / 'sensor_activity.csv'} and {out / 'tiny_grammar.txt'}")


if __name__ == "__main__":
    main()
