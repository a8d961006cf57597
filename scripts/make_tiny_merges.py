#!/usr/bin/env python3
"""Learns a small byte-level BPE merges list in CLIP's merges-file format, for test fixtures.

The corpus is built here from a few hundred English object names and prompt templates (typed for this
project). Words are split as CLIP's tokenizer splits ASCII text (lower-cased; letter runs, single
digits, runs of other non-space characters, and the 's 't 're 've 'm 'll 'd contractions), each word's
bytes go through CLIP's byte-to-unicode table and its last symbol gets "</w>"; then the most frequent
adjacent pair is merged, repeatedly (ties broken by the pair's text, so the output is deterministic).
A merge whose result is already a vocabulary entry is skipped, so every id is distinct.

Output: a header line, then one "a b" merge per line, no trailing newline (CLIP's Python tokenizer
would otherwise read an empty last merge). With K merges the tokenizer's vocabulary is
256 bytes + 256 end-of-word bytes + K merges + <|startoftext|> + <|endoftext|> = 514 + K ids.

    make_tiny_merges.py --out tiny_merges.txt [--num-merges 400] [--show "a photo of a dog."]
"""

import argparse
import collections
import re
import sys
from typing import Dict, List, Tuple

WORDS = """
airplane apple backpack banana baseball bat basket bear bed bee bench bicycle bird boat book bottle bowl
box bread bridge broccoli bus butterfly cake camel camera candle car carrot castle cat chair cheese
cherry chicken clock cloud computer couch cow crab crocodile cup deer desk dog dolphin donkey door
dragonfly duck eagle elephant envelope feather fence fish flower fork fox frog giraffe glass goat
guitar hammer hat helicopter horse house jellyfish kangaroo key keyboard kite knife ladder lamp leaf
lemon leopard lion lizard lobster motorcycle mountain mouse mushroom octopus orange owl panda parrot
pear pencil penguin piano pig pillow pizza plate pumpkin rabbit raccoon rainbow refrigerator rhinoceros
river road rocket rose sandwich scissors shark sheep ship shoe skateboard snail snake snowman sofa
spider spoon squirrel starfish strawberry sunflower swan table teapot telephone television tent tiger
tomato tractor train tree truck turtle umbrella vase violin watch waterfall whale wheel window wolf
zebra
"""

PHRASES = """
golden retriever; tabby cat; school bus; fire truck; pickup truck; sports car; grand piano;
coffee mug; traffic light; stop sign; parking meter; hot dog; ice cream; teddy bear; hair drier;
wine glass; tennis racket; cell phone; baseball glove; polar bear; brown bear; red fox; sea lion;
hermit crab; great white shark; bald eagle; barn owl; green lizard; garden snail; paper towel;
mountain bike; steam locomotive; sailing boat; space shuttle; cherry tomato; bell pepper; apple pie;
french fries; chocolate cake; orange juice; street sign; water bottle; running shoe; rocking chair
"""

TEMPLATES = """
a photo of a {}.
a photo of the {}.
a bad photo of a {}.
a good photo of the {}.
a close-up photo of a {}.
a bright photo of the {}.
a dark photo of a {}.
a blurry photo of the {}.
a cropped photo of a {}.
a photo of a small {}.
a photo of a big {}.
a photo of my {}.
a photo of one {}.
a black and white photo of the {}.
a painting of a {}.
a drawing of the {}.
a sketch of a {}.
a sculpture of the {}.
a cartoon {}.
a toy {}.
an origami {}.
a plastic {}.
itap of a {}.
art of the {}.
there is a {} in the scene.
this is a picture of a {}.
a low resolution photo of the {}.
a jpeg corrupted photo of a {}.
the {} in a video game.
a tattoo of a {}.
"""

SENTENCES = """
We'll test the tokenizer on numbers like 2024, 7 and 365; it's fine if they split into digits.
The quick brown fox jumps over the lazy dog while the cat sleeps in the sun.
A zero-shot classifier compares an image embedding with one text embedding per class.
Prompts such as "a photo of a dog" are averaged over several templates before they're compared.
I'm sure you've seen photos of cats, dogs, birds, cars, trees and houses on the internet!
"""

WORD_RE = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+")


def bytes_to_unicode() -> Dict[int, str]:
    """CLIP/GPT-2's reversible byte -> printable character table."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    table = {b: chr(b) for b in keep}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TABLE = bytes_to_unicode()


def corpus_lines() -> List[str]:
    names = WORDS.split() + [p.strip() for p in PHRASES.replace("\n", " ").split(";") if p.strip()]
    templates = [t.strip() for t in TEMPLATES.strip().splitlines() if t.strip()]
    lines = [t.format(n) for n in names for t in templates]
    lines += [s.strip() for s in SENTENCES.strip().splitlines() if s.strip()]
    return lines


def words_of(text: str) -> List[str]:
    return WORD_RE.findall(" ".join(text.lower().split()))


def symbols_of(word: str) -> Tuple[str, ...]:
    chars = [BYTE_TABLE[b] for b in word.encode("utf-8")]
    return tuple(chars[:-1] + [chars[-1] + "</w>"])


def base_vocab() -> List[str]:
    chars = list(BYTE_TABLE.values())
    return chars + [c + "</w>" for c in chars]


def learn_merges(lines: List[str], num_merges: int) -> List[Tuple[str, str]]:
    counts = collections.Counter(symbols_of(w) for line in lines for w in words_of(line))
    words = dict(counts)
    vocab = set(base_vocab())
    merges: List[Tuple[str, str]] = []
    while len(merges) < num_merges:
        pairs: Dict[Tuple[str, str], int] = collections.Counter()
        for word, freq in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += freq
        candidates = [(-n, p) for p, n in pairs.items() if n >= 2 and p[0] + p[1] not in vocab]
        if not candidates:
            break
        _, best = min(candidates)
        merges.append(best)
        joined = best[0] + best[1]
        vocab.add(joined)
        new_words: Dict[Tuple[str, ...], int] = {}
        for word, freq in words.items():
            out: List[str] = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == best[0] and word[i + 1] == best[1]:
                    out.append(joined)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            key = tuple(out)
            new_words[key] = new_words.get(key, 0) + freq
        words = new_words
    return merges


def encode(text: str, merges: List[Tuple[str, str]]) -> List[int]:
    """CLIP-style BPE ids of ASCII text (no ftfy cleaning; for showing and checking a merges list)."""
    vocab = base_vocab() + [a + b for a, b in merges] + ["<|startoftext|>", "<|endoftext|>"]
    ids = {tok: i for i, tok in enumerate(vocab)}
    rank = {m: i for i, m in enumerate(merges)}
    out: List[int] = []
    for word in words_of(text):
        parts = list(symbols_of(word))
        while len(parts) > 1:
            pair = min(zip(parts, parts[1:]), key=lambda p: rank.get(p, float("inf")))
            if pair not in rank:
                break
            merged: List[str] = []
            i = 0
            while i < len(parts):
                if i + 1 < len(parts) and (parts[i], parts[i + 1]) == pair:
                    merged.append(pair[0] + pair[1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = merged
        out.extend(ids[p] for p in parts)
    return out


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="merges file to write (plain text)")
    ap.add_argument("--num-merges", type=int, default=400, help="merges to learn (default 400)")
    ap.add_argument("--show", action="append", default=[], help="print the ids of this text (repeatable)")
    args = ap.parse_args(argv)
    lines = corpus_lines()
    merges = learn_merges(lines, args.num_merges)
    if len(merges) < args.num_merges:
        print("warning: the corpus only supports %d merges" % len(merges), file=sys.stderr)
    body = ["#version: 0.2 - clipzs tiny test merges (%d merges, scripts/make_tiny_merges.py)" % len(merges)]
    body += ["%s %s" % m for m in merges]
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(body))
    vocab_size = 514 + len(merges)
    print("wrote %s: %d merges from %d corpus lines; vocab_size %d (sot %d, eot %d)"
          % (args.out, len(merges), len(lines), vocab_size, vocab_size - 2, vocab_size - 1))
    for text in args.show:
        ids = [vocab_size - 2] + encode(text, merges) + [vocab_size - 1]
        print("%r -> %s" % (text, ids))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
