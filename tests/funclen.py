#!/usr/bin/env python3
"""Lengths of the C functions in lib/ and cmd/ (issue 10: "the function lengths
before and after").

How it counts: every file lib/**/*.c, lib/**/*.h, cmd/*.c, cmd/*.h,
include/**/*.h is read with comments, string and character literals and
preprocessor lines blanked out (newlines kept).  A function definition is a
`{` at file level whose preceding text (since the previous `;` or `}` at file
level) ends in a parenthesized parameter list (so not a struct or enum body)
and holds no `=` (so not an initializer).  Its name is the identifier before
that list; its length is the number of lines from the line holding the name to
the line of the closing `}`, both included (what Universal Ctags reports as
line..end with --fields=+ne).
Function bodies written inside #define macros are not counted.

    python3 tests/funclen.py               summary of the work tree
    python3 tests/funclen.py --rev REV     the same at a git revision
    python3 tests/funclen.py --over 60     also list every function over 60 lines
    python3 tests/funclen.py --max 150     exit 1 if any function is longer than 150
                                           (make test runs this, through tests/run.sh)
"""
import argparse
import os
import re
import subprocess
import sys

ROOTS = ("lib", "cmd", "include")


def list_files(rev):
    if rev:
        out = subprocess.run(["git", "ls-tree", "-r", "--name-only", rev, "--", *ROOTS],
                             check=True, capture_output=True, text=True).stdout
        names = out.split()
    else:
        names = []
        for root in ROOTS:
            for d, _, fs in os.walk(root):
                names += [os.path.join(d, f) for f in fs]
    return sorted(n for n in names if n.endswith((".c", ".h")))


def read(rev, name):
    if rev:
        return subprocess.run(["git", "show", f"{rev}:{name}"], check=True,
                              capture_output=True, text=True).stdout
    with open(name, encoding="utf-8") as f:
        return f.read()


def blank(src):
    """Comments, literals and preprocessor lines become spaces (newlines stay)."""
    out = []
    i, n = 0, len(src)
    line_start = True
    while i < n:
        c = src[i]
        if line_start and c in " \t":
            out.append(c)
            i += 1
            continue
        if line_start and c == "#":
            # A directive runs to an unescaped newline.
            while i < n and not (src[i] == "\n" and src[i - 1] != "\\"):
                out.append("\n" if src[i] == "\n" else " ")
                i += 1
            continue
        line_start = False
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
            continue
        if c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
            continue
        if c == "\n":
            line_start = True
        out.append(c)
        i += 1
    return "".join(out)


IDENT = re.compile(r"[A-Za-z_]\w*$")
NOT_FUNC = re.compile(r"=")


def function_name(head):
    """(name, offset of the name) in a file-level text that ends in a parameter
    list, or None."""
    head = head.rstrip()
    while head.endswith(")"):
        depth = 0
        for k in range(len(head) - 1, -1, -1):
            if head[k] == ")":
                depth += 1
            elif head[k] == "(":
                depth -= 1
                if depth == 0:
                    break
        else:
            return None
        before = head[:k].rstrip()
        m = IDENT.search(before)
        if not m:
            return None
        if m.group(0) == "__attribute__":
            head = before[:m.start()]
            continue
        return m.group(0), m.start()
    return None


def functions(name, src):
    """(file, function, first line, last line) for each definition in src."""
    text = blank(src)
    found = []
    depth = 0
    head_start = 0
    start = None
    for i, c in enumerate(text):
        if c == "{":
            if depth == 0:
                head = text[head_start:i]
                found_name = None if NOT_FUNC.search(head) else function_name(head)
                if found_name:
                    fname, k = found_name
                    start = (fname, text.count("\n", 0, head_start + k) + 1)
                else:
                    start = None
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                if start:
                    found.append((name, start[0], start[1], text.count("\n", 0, i) + 1))
                    start = None
                head_start = i + 1
        elif c == ";" and depth == 0:
            head_start = i + 1
    return found


SAMPLE = r"""/* a comment with { braces } and f(void) { */
struct point { int x, y; };
static const int table[] = {1, 2, 3};
#define BODY(x) static int x(void) { return 0; }
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    const char *s = "}{";
    char c = '}';
    (void)s, (void)c;
}

enum e { A, B };
struct point *make(enum e kind,
                   int n)
{
    if (n) {
        return 0; // } in a line comment
    }
    return 0;
}
"""


def self_test():
    """The counter on SAMPLE: say is lines 5-10, make 13-20; nothing else."""
    got = [(name, first, last) for _, name, first, last in functions("sample.c", SAMPLE)]
    want = [("say", 5, 10), ("make", 13, 20)]
    if got != want:
        print(f"funclen: self-test: found {got}, expected {want}", file=sys.stderr)
        return False
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rev", help="measure this git revision instead of the work tree")
    ap.add_argument("--over", type=int, help="list the functions longer than this")
    ap.add_argument("--max", type=int, help="fail if a function is longer than this")
    a = ap.parse_args()

    funcs = []
    for f in list_files(a.rev):
        funcs += functions(f, read(a.rev, f))
    lengths = sorted(((last - first + 1, f, name, first) for f, name, first, last in funcs),
                     reverse=True)
    total = sum(n for n, *_ in lengths)
    print(f"{len(lengths)} functions, {total} lines in them; "
          f"over 60 lines: {sum(n > 60 for n, *_ in lengths)}, "
          f"over 100: {sum(n > 100 for n, *_ in lengths)}, "
          f"over 150: {sum(n > 150 for n, *_ in lengths)}; "
          f"longest: {lengths[0][0] if lengths else 0}")
    if a.over is not None:
        for n, f, name, first in lengths:
            if n > a.over:
                print(f"{n:5d}  {f}:{first}  {name}")
    if a.max is not None:
        counter_ok = self_test()
        bad = [(n, f, name, first) for n, f, name, first in lengths if n > a.max]
        for n, f, name, first in bad:
            print(f"funclen: {f}:{first}: {name} has {n} lines, more than {a.max}: split it "
                  "along its seams (see tests/funclen.py)", file=sys.stderr)
        failed = bool(bad) or not counter_ok
        # the closing line tests/run.sh sums
        print(f"{0 if failed else 1} passed, {1 if failed else 0} failed")
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
