#!/usr/bin/env python3
"""tests/lint/style.py: the style rules clang-format 14 cannot check
(doc/style.md), run by `make lint`:

  braces   every body of if, else, for, while and do is a braced block
  failure  failure is tested as `< 0`, never `== -1`
  cites    every doc/NAME.md a file cites exists in the tree

Usage: style.py FILE...   Prints file:line: rule: text; exits 1 on any.
"""
import os
import re
import sys


def strip(src):
    """Blank out comments, string and character literals (keep lines)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", src[i + 1:j]) + c)
            i = j + 1
        elif c == "#" and (i == 0 or src[i - 1] == "\n"):
            # preprocessor line (with continuations): not C statements
            j = i
            while True:
                k = src.find("\n", j)
                if k < 0:
                    k = n
                    break
                if src[k - 1] != "\\":
                    break
                j = k + 1
            out.append(re.sub(r"[^\n]", " ", src[i:k]))
            i = k
        else:
            out.append(c)
            i += 1
    return "".join(out)


def skip_ws(s, i):
    while i < len(s) and s[i] in " \t\n":
        i += 1
    return i


def close_paren(s, i):
    """s[i] == '('; index after the matching ')'."""
    depth = 0
    while i < len(s):
        if s[i] == "(":
            depth += 1
        elif s[i] == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def lineno(s, i):
    return s.count("\n", 0, i) + 1


KW = re.compile(r"\b(if|for|while|else|do)\b")


def check_braces(path, s, problems):
    for m in KW.finditer(s):
        kw, i = m.group(1), m.end()
        if kw in ("if", "for", "while"):
            j = skip_ws(s, i)
            if j >= len(s) or s[j] != "(":
                continue
            j = skip_ws(s, close_paren(s, j))
            if kw == "while" and j < len(s) and s[j] == ";":
                continue  # the tail of do { } while (...);
        else:
            j = skip_ws(s, i)
            if kw == "else" and s.startswith("if", j) and \
                    not (s[j + 2:j + 3].isalnum() or s[j + 2:j + 3] == "_"):
                continue  # else if: checked as an if
        if j < len(s) and s[j] != "{":
            problems.append("%s:%d: braces: %s body without braces" %
                            (path, lineno(s, m.start()), kw))


def check_failure(path, s, problems):
    for m in re.finditer(r"==\s*-1\b", s):
        problems.append("%s:%d: failure: write `< 0`, not `== -1`" %
                        (path, lineno(s, m.start())))


def check_cites(path, raw, top, problems):
    for m in re.finditer(r"\bdoc/([A-Za-z0-9_-]+\.md)", raw):
        if not os.path.exists(os.path.join(top, "doc", m.group(1))):
            problems.append("%s:%d: cites: doc/%s does not exist" %
                            (path, lineno(raw, m.start()), m.group(1)))
    for m in re.finditer(r"\b(DESIGN|STYLE|perf-baseline|rfc8823-notes|"
                         r"anchors)\.md\b", raw):
        problems.append("%s:%d: cites: %s is not in the tree (doc/)" %
                        (path, lineno(raw, m.start()), m.group(0)))


def main(argv):
    top = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    problems = []
    for path in argv[1:]:
        with open(path, encoding="utf-8", errors="replace") as f:
            raw = f.read()
        check_cites(path, raw, top, problems)
        if path.endswith((".c", ".h")):
            s = strip(raw)
            check_braces(path, s, problems)
            check_failure(path, s, problems)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
