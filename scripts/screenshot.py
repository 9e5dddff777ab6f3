"""Log in to a running torg as a demo user and save a screenshot of one page (for the README).

    .venv/bin/python scripts/screenshot.py http://127.0.0.1:8000/reports/stock/ docs/screenshot.png

Uses Debian's Chromium through Playwright (no browser download), like the browser tests.
"""
from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the page to capture, e.g. http://127.0.0.1:8000/reports/stock/")
    parser.add_argument("output", help="the PNG file to write, e.g. docs/screenshot.png")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--language", default="ru", choices=["ru", "en"])
    parser.add_argument("--width", type=int, default=1440)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    parts = urlsplit(args.url)
    base = f"{parts.scheme}://{parts.netloc}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
                                    args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height},
                                locale="ru-RU" if args.language == "ru" else "en-US")
        page.goto(f"{base}/login/")
        page.fill("input[name=username]", args.user)
        page.fill("input[name=password]", args.password)
        page.click("form:has(input[name=password]) [type=submit]")
        page.wait_for_load_state("networkidle")
        if "/login/" in page.url:
            raise SystemExit(f"could not log in as {args.user!r}: check the login and the password")
        page.goto(args.url)
        page.wait_for_load_state("networkidle")
        page.screenshot(path=args.output)
        browser.close()
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
