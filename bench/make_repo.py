#!/usr/bin/env python3
"""Writes a `git fast-import` stream for a synthetic ML repository to stdout.

usage: make_repo.py COMMITS [FIRST [AUTHORS [ASSETS [SEED [MAX_FILES]]]]]
  FIRST: number of the first commit, to extend a repo (default 1)
  AUTHORS: number of authors (default 50)
  ASSETS: 0 (default) for the layout below; N > 0 spreads the files over N asset directories
          `assets/aK/` (each with the eight sub-directories below, 12 files each)
  SEED: another repository of the same shape (default 0: the original one); the authors are
        the same people, as in an organisation's repositories
  MAX_FILES: files a commit changes at most (default 4; at least 1)

Deterministic: commit i always has the same author, files and message. 50 authors; each commit
changes 1-4 of 1,200 files spread over code, tests, docs, data, evaluation, notebooks and CI;
every 7th commit carries a Reviewed-by trailer and every 11th a Co-authored-by trailer.
"""
import os
import random
import sys

DIRS = [("src/pkg", "py"), ("tests", "py"), ("docs", "md"), ("data", "csv"), ("eval", "py"),
        ("notebooks", "ipynb"), (".github/workflows", "yml"), ("configs", "yaml")]
FILES = [f"{d}/f{i}.{ext}" for d, ext in DIRS for i in range(150)]


def main():
    global FILES
    commits = int(sys.argv[1])
    first = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    authors = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    assets = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    seed = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    max_files = int(sys.argv[6]) if len(sys.argv) > 6 else 4
    if assets:
        FILES = [f"assets/a{k}/{d}/f{i}.{ext}" for k in range(assets) for d, ext in DIRS
                 for i in range(12)]
    out = sys.stdout.buffer
    # MAKE_REPO_START moves every commit's time (a history that ends now, for windows).
    start = int(os.environ.get("MAKE_REPO_START", 1_700_000_000))
    for i in range(first, first + commits):
        rng = random.Random(i if seed == 0 else i * 1_000_003 + seed)
        author = rng.randrange(authors)
        who = f"Dev {author} <dev{author}@example.com>"
        at = start + i * 300
        msg = f"Change {i}\n"
        if i % 7 == 0 or i % 11 == 0:
            msg += "\nDetails.\n\n"
            if i % 7 == 0:
                r = (author + 1) % authors
                msg += f"Reviewed-by: Dev {r} <dev{r}@example.com>\n"
            if i % 11 == 0:
                c = (author + 2) % authors
                msg += f"Co-authored-by: Dev {c} <dev{c}@example.com>\n"
        data = msg.encode()
        out.write(f"commit refs/heads/main\nmark :{i}\nauthor {who} {at} +0000\ncommitter {who} {at} +0000\n".encode())
        out.write(f"data {len(data)}\n".encode() + data)
        if i > 1:
            out.write(f"from :{i - 1}\n".encode() if i > first else b"from refs/heads/main^0\n")
        for path in rng.sample(FILES, rng.randint(1, max_files)):
            body = "".join(f"line {j} of {path} at {i if j == i % 20 else 0}\n" for j in range(20)).encode()
            out.write(f"M 100644 inline {path}\ndata {len(body)}\n".encode() + body + b"\n")
    out.flush()


if __name__ == "__main__":
    main()
