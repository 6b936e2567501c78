#!/usr/bin/env python3
"""Hostile checkpoints through the command line: 200 corruptions, each with its checksum
recomputed (so that the edit itself is what the reader meets), through `propel evaluate` and
`propel train --resume`. Every run must end within 10 s with exit status 0 (an edit that happens
to be valid) or 1 and one line that names the file; never a signal, a sanitizer report or a hang.

    corrupt_checkpoints_test.py PROPEL_BINARY DATA_DIR WORK_DIR [COUNT]
"""

import os
import random
import struct
import subprocess
import sys
import zlib

propel, data, work = sys.argv[1], sys.argv[2], sys.argv[3]
count = int(sys.argv[4]) if len(sys.argv) > 4 else 200
os.makedirs(work, exist_ok=True)
os.chdir(work)
digits = os.path.join(data, "digits.csv")
rng = random.Random(14)


def run(args):
    return subprocess.run([propel] + args, capture_output=True, text=True, timeout=10,
                          errors="replace")


def seal(b):
    b = bytearray(b)
    b[-4:] = struct.pack("<I", zlib.crc32(bytes(b[:-4])))
    return bytes(b)


# Sound checkpoints to corrupt: SGD, momentum and Adam, saved with their trainers.
common = ["--data", digits, "--layers", "8", "--quiet", "--plot", "", "--normalize", "none"]
sources = {}
for opt in ("sgd", "momentum", "adam"):
    name = "good-%s.ckpt" % opt
    r = run(["train"] + common + ["--epochs", "1", "--optimizer", opt, "--save", name])
    assert r.returncode == 0, r.stderr
    sources[opt] = open(name, "rb").read()

# Field offsets of these files (docs/checkpoints.md): 64 inputs, one hidden layer of 8, 10 outputs.
params = 8 * 65 + 10 * 9
arena = 24 + 4 + 8 + 8 + 4 + 16 + 8
flag = arena + 4 * params
fields = [(24, "<I"), (28, "<Q"), (36, "<Q"), (44, "<I"), (48, "<Q"), (56, "<I"), (60, "<f"),
          (64, "<Q"), (flag, "<I"), (flag + 4, "<I")] + \
         [(flag + 8 + 4 * i, "<f") for i in range(7)] + \
         [(flag + 36, "<Q"), (flag + 44, "<Q"), (flag + 52, "<Q")]
specials = {"<I": [0, 1, 2, 5, 9, 10, 0xFFFFFFFF, 0x80000000],
            "<Q": [0, 1, 2 ** 53 + 1, 2 ** 62, 2 ** 63 - 1, 2 ** 64 - 1],
            "<f": [float("nan"), float("inf"), -float("inf"), -1.0, 0.0, 1.0, 2.0, 1e30, -1e-30]}


def corrupt(b):
    b = bytearray(b)
    kind = rng.randrange(6)
    if kind == 0:  # a field to a special value
        at, fmt = rng.choice(fields)
        struct.pack_into(fmt, b, at, rng.choice(specials[fmt]))
    elif kind == 1:  # a parameter or a state value non-finite or negative
        at = rng.randrange(arena, len(b) - 8) // 4 * 4
        struct.pack_into("<f", b, at, rng.choice(specials["<f"]))
    elif kind == 2:  # random bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b) - 4)
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 3:  # truncation (the resealed tail is then the last four bytes left)
        b = b[:rng.randrange(12, len(b))]
    elif kind == 4:  # junk appended or inserted
        at = rng.randrange(len(b) - 4)
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        b = b[:at] + junk + b[at:]
    else:  # a random byte range overwritten
        at = rng.randrange(len(b) - 4)
        for i in range(at, min(len(b) - 4, at + rng.randint(1, 32))):
            b[i] = rng.randrange(256)
    return seal(b) if len(b) >= 4 else bytes(b)


failures = []
outcomes = {0: 0, 1: 0}
for n in range(count):
    opt = rng.choice(sorted(sources))
    path = "bad-%03d.ckpt" % n
    with open(path, "wb") as f:
        f.write(corrupt(sources[opt]))
    for args in (["evaluate", path, digits],
                 ["train"] + common + ["--epochs", "2", "--resume", path, "--save", ""]):
        try:
            r = run(args)
        except subprocess.TimeoutExpired:
            failures.append("%s: hung (10 s): %s" % (path, " ".join(args)))
            continue
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        if r.returncode not in (0, 1):
            failures.append("%s: exit %d: %s" % (path, r.returncode, r.stderr[-2000:]))
        elif r.returncode == 1 and (len(lines) != 1 or path not in lines[0]):
            failures.append("%s: message does not name the file in one line: %r" % (path, lines))
        elif "runtime error" in r.stderr or "Sanitizer" in r.stderr:
            failures.append("%s: sanitizer report: %s" % (path, r.stderr[-2000:]))
        outcomes[r.returncode] = outcomes.get(r.returncode, 0) + 1
    os.remove(path)

print("%d corrupted checkpoints x (evaluate, train --resume): %d refused, %d accepted" %
      (count, outcomes.get(1, 0), outcomes.get(0, 0)))
for f in failures[:20]:
    print("FAIL:", f)
sys.exit(1 if failures else 0)
