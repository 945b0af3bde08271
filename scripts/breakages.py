"""Break the product on purpose, one way at a time, and confirm the browser journeys notice.

    python scripts/breakages.py [--only B1,B3] [--jobs N] [--keep]

Reads the list in ``tests/e2e/BREAKAGES.md`` (what to break, how, and which tests must then
fail). It never modifies this working tree: it copies it to a scratch folder, runs every named
test there unbroken first (they must pass, or the table would mean nothing), then for each entry
takes a fresh copy, applies the substitution (it must match exactly once), runs the named tests
with ``CS_REQUIRE_BROWSER=1`` and reads their outcomes from a JUnit report. A breakage is
detected when every test it names failed (a failure or an error, not a skip). It prints a table
and exits 1 if any breakage went undetected or could not be applied, 2 if the baseline failed.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "tests" / "e2e" / "BREAKAGES.md"
JOURNEYS = "tests/e2e/test_journeys.py"
# Not copied: history, data, benchmark output, screenshots, virtual environments, caches.
SKIP_TOP = {".git", "data", ".venv", "venv", "bench/out", "docs/screenshots"}
SKIP_ANYWHERE = {"__pycache__", ".pytest_cache", ".hypothesis"}
RUN_TIMEOUT_S = 1200

HEADING = re.compile(r"^### (B\d+)\. (.+)$")
SUBSTITUTION = re.compile(r"^- in `([^`]+)` replace (`+)(.+?)\2 with (`+)(.*?)\4\s*$")
TESTS = re.compile(r"^- (must fail|after): (.+)$")


@dataclass
class Breakage:
    id: str
    title: str
    path: str = ""
    old: str = ""
    new: str = ""
    must_fail: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    breakage: Breakage
    result: str  # detected, NOT DETECTED, cannot apply, error
    detail: str
    seconds: float


def node_id(name: str) -> str:
    return name if "::" in name else f"{JOURNEYS}::{name}"


def parse(text: str) -> list[Breakage]:
    """The entries of BREAKAGES.md; a malformed entry is an error, never skipped."""
    out: list[Breakage] = []
    for line in text.splitlines():
        if m := HEADING.match(line):
            out.append(Breakage(m.group(1), m.group(2)))
        elif out and (m := SUBSTITUTION.match(line)):
            out[-1].path, out[-1].old, out[-1].new = m.group(1), m.group(3), m.group(5)
        elif out and (m := TESTS.match(line)):
            names = [node_id(n) for n in re.findall(r"`([^`]+)`", m.group(2))]
            (out[-1].must_fail if m.group(1) == "must fail" else out[-1].after).extend(names)
    for b in out:
        if not (b.path and b.old and b.must_fail):
            raise SystemExit(f"error: {LIST.name}: entry {b.id} needs '- in ... replace ... with ...' "
                             "and '- must fail: ...'")
    return out


def _skip(folder: str, names: list[str]) -> set[str]:
    rel = Path(folder).resolve().relative_to(ROOT).as_posix()
    return {n for n in names if n in SKIP_ANYWHERE or (f"{rel}/{n}" if rel != "." else n) in SKIP_TOP}


def copy_tree(dest: Path, source: Path = ROOT) -> Path:
    """A copy of the working tree (``source``: a copy made before) without data or caches."""
    shutil.copytree(source, dest, ignore=_skip if source == ROOT else None, symlinks=True)
    return dest


def apply(tree: Path, b: Breakage) -> None:
    target = tree / b.path
    text = target.read_text(encoding="utf-8")
    n = text.count(b.old)
    if n != 1:
        raise ValueError(f"`{b.old}` matches {n} times in {b.path} (expected exactly once)")
    target.write_text(text.replace(b.old, b.new), encoding="utf-8")


def run_tests(tree: Path, tests: list[str], report: Path) -> tuple[dict[str, str], dict[str, str], str]:
    """Run ``tests`` in ``tree``: (outcome by node id, first line of each failure's message,
    output tail). Outcomes: passed, failed, error, skipped, missing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CS_")}
    env.update(CS_REQUIRE_BROWSER="1", PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
                           f"--junitxml={report}", *tests], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)
    tail = (done.stdout + done.stderr)[-3000:]
    outcomes = {t: "missing" for t in tests}
    why: dict[str, str] = {}
    if report.exists():
        for case in ET.parse(report).iter("testcase"):
            # classname "tests.e2e.test_journeys" (module tests; no class in the journeys)
            nid = case.get("classname", "").replace(".", "/") + ".py::" + case.get("name", "")
            kinds = {child.tag for child in case}
            for child in case:
                if child.tag in ("failure", "error") and nid not in why:
                    why[nid] = " ".join((child.get("message") or "").split())[:110]
            result = ("failed" if "failure" in kinds else "error" if "error" in kinds else
                      "skipped" if "skipped" in kinds else "passed")
            if nid in outcomes:
                # a teardown error is reported as a second <testcase>: the worse outcome counts
                outcomes[nid] = result if outcomes[nid] in ("missing", "passed") else outcomes[nid]
    return outcomes, why, tail


def check(b: Breakage, scratch: Path, base: Path) -> Outcome:
    started = time.monotonic()
    tree = copy_tree(scratch / b.id, base)
    try:
        apply(tree, b)
    except ValueError as exc:
        return Outcome(b, "cannot apply", str(exc), time.monotonic() - started)
    try:
        outcomes, why, tail = run_tests(tree, [*b.after, *b.must_fail], scratch / f"{b.id}.xml")
    except subprocess.TimeoutExpired:
        return Outcome(b, "error", f"timed out after {RUN_TIMEOUT_S} s", time.monotonic() - started)
    failed = {t: outcomes[t] in ("failed", "error") for t in b.must_fail}
    detail = ", ".join(f"{t.split('::')[-1]} {outcomes[t]}" for t in b.must_fail)
    if all(failed.values()):
        return Outcome(b, "detected", why.get(b.must_fail[0], ""), time.monotonic() - started)
    if any(outcomes[t] == "missing" for t in b.must_fail):
        return Outcome(b, "error", detail + "\n" + tail, time.monotonic() - started)
    return Outcome(b, "NOT DETECTED", detail, time.monotonic() - started)


def table(rows: list[Outcome]) -> str:
    head = ["id", "breakage", "file", "must fail", "result", "time", "how (first failure's message)"]
    body = [[o.breakage.id, o.breakage.title, o.breakage.path,
             ", ".join(t.split("::")[-1] for t in o.breakage.must_fail),
             o.result, f"{o.seconds:.0f} s", o.detail.splitlines()[0] if o.detail else ""]
            for o in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, body)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated ids (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="breakages checked at once (each runs a server "
                                                       "and a browser; default 1)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = ap.parse_args(argv)
    entries = parse(LIST.read_text(encoding="utf-8"))
    if args.only:
        wanted = set(args.only.split(","))
        entries = [b for b in entries if b.id in wanted]
    scratch = Path(tempfile.mkdtemp(prefix="cs-breakages-"))
    started = time.monotonic()
    try:
        base = copy_tree(scratch / "unbroken")
        tests = list(dict.fromkeys(t for b in entries for t in [*b.after, *b.must_fail]))
        print(f"unbroken copy in {scratch}: running {len(tests)} test(s) once…", flush=True)
        outcomes, _, tail = run_tests(base, tests, scratch / "unbroken.xml")
        bad = {t: o for t, o in outcomes.items() if o != "passed"}
        if bad:
            print(f"error: unbroken, these tests do not pass, so breakages prove nothing: {bad}\n{tail}",
                  file=sys.stderr)
            return 2
        print(f"  all pass ({time.monotonic() - started:.0f} s); now {len(entries)} breakage(s)…", flush=True)
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            rows = []
            for o in pool.map(lambda b: check(b, scratch, base), entries):
                print(f"  {o.breakage.id}: {o.result} ({o.seconds:.0f} s)", flush=True)
                rows.append(o)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(table(rows))
    missed = [o for o in rows if o.result != "detected"]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} breakages detected in {time.monotonic() - started:.0f} s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
