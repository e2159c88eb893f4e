#!/usr/bin/env python3
"""Checks mlsteward's git numbers on a real repository against answers computed independently
with the `git` program, following the README's rules (not mlsteward's code):

- commit outcomes (merge, revert, reverted, bot, empty, whitespace_only, credited), from
  `git rev-list`, `git diff-tree --raw`, `git cat-file` and `git merge-base --is-ancestor`;
- credited commits per person on the repository asset, with identities joined by `.mailmap`
  (git's own `%aN`/`%aE` and `git check-mailmap`) and the automatic rules (same email, same
  name of two or more words, GitHub noreply address = @handle).

Usage: bench/check_history.py REPO [BRANCH]
Runs `target/debug/mlsteward collect-once` (build it first) on a throwaway config and store,
prints both answers side by side, and exits 1 on any difference.
"""

import collections
import os
import re
import subprocess
import sys
import tempfile

REVERT_LINE = re.compile(r"^\s*This reverts commit ([0-9a-fA-F]{7,40})(?![0-9a-fA-F])")
NOREPLY = re.compile(r"^(?:(\d+)\+)?([A-Za-z0-9][A-Za-z0-9-]*)@users\.noreply\.github\.com$", re.I)


def git(repo, *args, stdin=None):
    return subprocess.run(
        ["git", "-C", repo, *args], input=stdin, capture_output=True, check=True
    ).stdout


AI_AGENTS = re.compile(r"^(noreply@anthropic\.com|.*\+copilot@users\.noreply\.github\.com|cursoragent@cursor\.com)$")


def is_bot(name, email):
    """The README's default bot patterns: the `[bot]` suffix and AI coding agents."""
    email = email.lower()
    return (name.lower().endswith("[bot]") or re.search(r"\[bot\]@", email) is not None
            or AI_AGENTS.match(email) is not None)


def main():
    repo = os.path.abspath(sys.argv[1])
    branch = sys.argv[2] if len(sys.argv) > 2 else "HEAD"
    shas = git(repo, "rev-list", branch).decode().split()
    meta = {}
    fmt = "%H%x00%P%x00%aN%x00%aE%x00%an%x00%ae%x00%(trailers:key=Co-authored-by,valueonly,separator=%x1f)%x00%B%x1e"
    for rec in git(repo, "log", "--format=" + fmt, branch).decode("utf-8", "replace").split("\x1e"):
        rec = rec.lstrip("\n")
        if not rec:
            continue
        sha, parents, name, email, raw_name, raw_email, co, body = rec.split("\x00", 7)
        co = [c.strip() for c in co.split("\x1f") if c.strip()]
        meta[sha] = dict(parents=parents.split(), name=name, email=email, body=body, co=co)
    assert len(meta) == len(shas), (len(meta), len(shas))

    # Changed files of every non-merge commit (first parent; roots against nothing).
    changes = {}
    raw = git(repo, "log", "--no-renames", "--raw", "--root", "--no-abbrev", "--no-merges",
              "--format=%x1e%H", branch).decode("utf-8", "replace")
    for chunk in raw.split("\x1e")[1:]:
        lines = chunk.strip("\n").split("\n")
        sha, entries = lines[0], []
        for line in lines[1:]:
            if not line.startswith(":"):
                continue
            info, path = line.split("\t", 1)
            old_mode, new_mode, old_id, new_id, status = info[1:].split()
            if "160000" in (old_mode, new_mode) and {old_mode, new_mode} <= {"160000", "000000"}:
                continue  # gitlinks are never changes
            entries.append((old_mode, new_mode, old_id, new_id, status, path))
        changes[sha] = entries

    cat = subprocess.Popen(["git", "-C", repo, "cat-file", "--batch"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)

    def blob(oid):
        cat.stdin.write(oid.encode() + b"\n")
        cat.stdin.flush()
        header = cat.stdout.readline().split()
        if len(header) < 3:  # missing (a partial clone): mlsteward credits such a commit as is
            return None
        size = int(header[2])
        data = cat.stdout.read(size)
        cat.stdout.read(1)
        return data

    def squeeze(data):
        return re.sub(rb"[ \t\n\r\x0b\x0c]", b"", data)

    def whitespace_only(entries):
        for old_mode, new_mode, old_id, new_id, status, _ in entries:
            if status != "M" or old_mode != new_mode or old_mode not in ("100644", "100755"):
                return False
            a, b = blob(old_id), blob(new_id)
            if a is None or b is None or squeeze(a) != squeeze(b):
                return False
        return True

    def resolve(short):
        try:
            return git(repo, "rev-parse", "--verify", "-q", short + "^{commit}").decode().strip()
        except subprocess.CalledProcessError:
            return None

    def is_ancestor(a, b):
        return subprocess.run(["git", "-C", repo, "merge-base", "--is-ancestor", a, b]).returncode == 0

    def paths_of(sha):
        if sha in changes:
            return {e[5] for e in changes[sha]}
        # A merge's changes are those against its first parent (what `git revert -m 1` undoes).
        parents = git(repo, "rev-list", "--parents", "-n", "1", sha).decode().split()[1:]
        base = [parents[0]] if parents else []
        out = git(repo, "diff-tree", "--no-renames", "-r", "--root", "--name-only", "--no-commit-id",
                  *base, sha)
        return set(out.decode("utf-8", "replace").split("\n")) - {""}

    edges = []  # (revert, target)
    for sha, m in meta.items():
        if len(m["parents"]) > 1:
            continue
        seen = set()
        for line in m["body"].split("\n"):
            hit = REVERT_LINE.match(line)
            if not hit:
                continue
            target = resolve(hit.group(1))
            if not target or target == sha or target in seen:
                continue
            if is_ancestor(target, sha) and paths_of(target) & paths_of(sha):
                seen.add(target)
                edges.append((sha, target))
    reverts_of = collections.defaultdict(list)
    for r, t in edges:
        reverts_of[t].append(r)
    memo = {}

    def stands(r):
        if r not in memo:
            memo[r] = False
            memo[r] = not any(stands(x) for x in reverts_of.get(r, []))
        return memo[r]

    reverted = {t for t, rs in reverts_of.items() if any(stands(r) for r in rs)}
    is_revert = {r for r, _ in edges}

    outcome = {}
    for sha, m in meta.items():
        if len(m["parents"]) > 1:
            outcome[sha] = "merge"
        elif sha in is_revert:
            outcome[sha] = "revert"
        elif sha in reverted:
            outcome[sha] = "reverted"
        elif is_bot(m["name"], m["email"]):
            outcome[sha] = "bot"
        elif not changes.get(sha):
            outcome[sha] = "empty"
        elif whitespace_only(changes[sha]):
            outcome[sha] = "whitespace_only"
        else:
            outcome[sha] = "credited"
    expected = collections.Counter(outcome.values())

    # People: author and co-authors of credited commits, mailmapped by git, then joined.
    coauthors = {}
    to_map = set()
    for sha, m in meta.items():
        if outcome[sha] != "credited":
            continue
        found = []
        for value in m["co"]:  # git's own trailer parsing
            mm = re.match(r"^(.*?)\s*<([^>]*)>\s*$", value)
            if mm and mm.group(2):
                found.append(f"{mm.group(1)} <{mm.group(2)}>")
        coauthors[sha] = found
        to_map.update(found)
    mapped = {}
    if to_map:
        ordered = sorted(to_map)
        out = git(repo, "check-mailmap", "--stdin", stdin="\n".join(ordered).encode()).decode("utf-8", "replace")
        for src, dst in zip(ordered, out.split("\n")):
            mapped[src] = dst
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    name_uses = collections.defaultdict(collections.Counter)
    last_use = {}
    signers = {}
    order = {sha: i for i, sha in enumerate(shas)}  # newest first
    for sha, m in meta.items():
        if len(m["parents"]) > 1:
            continue
        people = []
        if not is_bot(m["name"], m["email"]):
            people.append((m["name"], m["email"]))
        for c in coauthors.get(sha, []):
            mm = re.match(r"^(.*?)\s*<([^>]*)>\s*$", mapped.get(c, c))
            if mm and not is_bot(mm.group(1), mm.group(2)):
                people.append((mm.group(1), mm.group(2)))
        signers[sha] = people
        for name, email in people:
            if not email:  # no email: the person is known by name alone
                email = "name:" + name.lower()
            find(email)
            name_uses[email][name] += 1
            last_use[(email, name)] = min(last_use.get((email, name), 1 << 60), order[sha])
    by_lower = {}
    by_name = {}
    for email in list(name_uses):
        by_lower.setdefault(email.lower(), email)
        union(email, by_lower[email.lower()])
        for name in name_uses[email]:
            words = name.lower().split()
            if len(words) >= 2:
                key = " ".join(words)
                by_name.setdefault(key, email)
                union(email, by_name[key])
        hit = NOREPLY.match(email)
        if hit:
            union(email, "handle:" + hit.group(2).lower())
    groups = collections.defaultdict(list)
    for email in name_uses:
        groups[find(email)].append(email)
    display = {}
    for root, emails in groups.items():
        tally = collections.Counter()
        for e in emails:
            tally.update(name_uses[e])
        best = max(tally.items(), key=lambda kv: (kv[1], -min(last_use[(e, kv[0])] for e in emails if (e, kv[0]) in last_use)))
        display[root] = best[0]
    # Distinct credited commits per person; people who share a display name share one series
    # (the README's rule), so their counts add up.
    credited = collections.defaultdict(set)
    for sha, people in signers.items():
        if outcome[sha] != "credited":
            continue
        for name, email in people:
            credited[find(email or "name:" + name.lower())].add(sha)
    expected_people = collections.Counter()
    for root, commits in credited.items():
        expected_people[display[root]] += len(commits)
    cat.stdin.close()

    # mlsteward's answers.
    binary = os.path.join(os.path.dirname(__file__), "..", "target", "debug", "mlsteward")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "c.yaml")
        with open(cfg, "w") as f:
            f.write("recognition:\n  top_n: 100000\nsources:\n  - name: r\n    type: git\n"
                    f"    path: {repo}\n" + (f"    branch: {branch}\n" if branch != "HEAD" else ""))
        out = subprocess.run([binary, "collect-once", "--config.file", cfg, "--storage.path",
                              os.path.join(tmp, "s.db"), "--log.level", "warn"],
                             capture_output=True, check=True).stdout.decode()
    got = collections.Counter()
    got_people = collections.Counter()
    for line in out.split("\n"):
        m = re.match(r'mlsteward_git_commits\{source="r",outcome="(\w+)"\} (\d+)', line)
        if m:
            got[m.group(1)] = int(m.group(2))
        m = re.match(r'mlsteward_credited_commits_total\{asset="r",contributor="((?:[^"\\]|\\.)*)"\} (\d+)', line)
        if m:
            got_people[m.group(1).replace('\\"', '"').replace("\\\\", "\\")] += int(m.group(2))
    bad = 0
    print(f"{repo} ({len(shas)} commits, {len(edges)} revert edges)")
    for k in sorted(set(expected) | set(got)):
        mark = "" if expected[k] == got[k] else "   <-- differs"
        bad += bool(mark)
        print(f"  {k:16} git {expected[k]:6}  mlsteward {got[k]:6}{mark}")
    diffs = [(n, expected_people[n], got_people[n]) for n in set(expected_people) | set(got_people)
             if expected_people[n] != got_people[n]]
    print(f"  people: git {len(expected_people)}, mlsteward {len(got_people)}; "
          f"{len(diffs)} with a different credited-commit count")
    for n, e, g in sorted(diffs, key=lambda d: -abs(d[1] - d[2]))[:15]:
        print(f"    {n!r}: git {e}, mlsteward {g}")
    bad += len(diffs)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
