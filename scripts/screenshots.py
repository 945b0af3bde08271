"""Regenerate the screenshots of every page in ``docs/screenshots/`` (full page, 1400 px wide).

    python scripts/screenshots.py [--accounts 2000] [--out docs/screenshots]

The same kind of server as the browser journeys (``tests/e2e/helpers.py``): a demo store built in
a temporary folder, ``streamlit run app.py`` from a folder of links to the code with the app's own
``.streamlit/config.toml`` (production settings: no error details), and Debian's chromium. Pages
are found on disk (``app.py`` and ``pages/*.py``), so a new page gets its screenshot without an
edit here; the Account page is shown for the first account of the At risk list. A page that
shows a Streamlit exception or throws in the browser stops the script: a screenshot of an error
is worse than none. Needs the dev requirements and chromium (``apt-get install chromium``).
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from e2e.helpers import (Session, browser_problem, build_demo, chromium, make_site,  # noqa: E402
                         server_env, streamlit_server)
from scoring.portfolio import SECTIONS  # noqa: E402

# Screenshot args on top of config.toml: no "Deploy" button in the pictures.
SERVER_ARGS = ("--client.toolbarMode", "minimal")


def pages() -> list[tuple[str, str]]:
    """(file slug, URL path) of every page, in the menu's order: Portfolio first, then its movers
    section (a tab, opened by its link)."""
    found = [("portfolio", "/"), ("portfolio-movers", "/?" + urlencode({"view": SECTIONS[-1]}))]
    for script in sorted(ROOT.glob("pages/*.py"), key=lambda p: (int(p.name.split("_")[0]), p.name)):
        name = re.sub(r"^\d+_", "", script.stem)  # Streamlit's URL path: the name without "N_"
        found.append((name.lower().replace("_", "-"), "/" + name))
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=2000, help="demo size (default: the demo's own 2,000)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = ap.parse_args(argv)
    problem = browser_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cs-screenshots-") as tmp:
        folder = Path(tmp)
        print(f"building the demo ({args.accounts:,} accounts)…", flush=True)
        db = build_demo(folder, accounts=args.accounts)
        site = make_site(folder)
        env = server_env(site / "home", CS_DB=str(db), CS_STATE=str(db.with_name("cs.state.sqlite")))
        with streamlit_server(site, env=env, args=SERVER_ARGS) as server, chromium() as browser:
            session = Session.open(browser, server.url)
            written = []
            for slug, path in pages():
                app = session.new_app()
                if slug == "account":
                    path += "?account=" + first_at_risk(session)
                app.goto(path)
                target = args.out / f"{slug}.png"
                app.full_page_screenshot(target)
                session.check()
                app.page.close()
                written.append(target)
                print(f"  {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}", flush=True)
            session.close()
    print(f"{len(written)} screenshots in {time.monotonic() - started:.0f} s")
    return 0


def first_at_risk(session: Session) -> str:
    """The id of the first account on the At risk list (the one a CSM would open first)."""
    from urllib.parse import parse_qs, urlsplit

    app = session.new_app().goto("/At_risk")
    rows = app.grid_rows(app.page.get_by_test_id("stDataFrame"))
    app.page.close()
    return parse_qs(urlsplit(rows[0]["Account"]).query)["account"][0]


if __name__ == "__main__":
    sys.exit(main())
