"""A real headless browser for the tests of pages: Debian's chromium, driven through Debian's
chromium-driver by Selenium, with no network of its own (the flags below, which the report's
test found to work here as root) and a log of every request the page makes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT = 60.0
"""How long a condition may take to hold before the test fails (the machines are shared)."""


class Browser:
    """One browser window (1400×1000)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def open(self, url: str) -> None:
        """Load ``url`` and wait until the view page has drawn its table and first plot."""
        self.driver.get_log("performance")  # what the browser itself loaded before (its new tab page)
        self.driver.get(url)
        self.until("return window.reproView && window.reproView.ready !== null")

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def until(self, script: str, *args: Any) -> Any:
        """Wait until the JavaScript ``script`` returns something truthy; return it."""
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT, poll_frequency=0.05).until(lambda _: self.js(script, *args))

    def show_run(self, run_id: str, ready: str = "pre.log") -> None:
        """Go to a run's page and wait until it is that run's (the page changes on ``hashchange``,
        a later task: the previous run's page is there until then) and shows ``ready``."""
        self.js("location.hash = '#run=' + arguments[0]", run_id)
        self.until(
            "var h = document.querySelector('#run-page h2 .mono');"
            "return h !== null && h.textContent === arguments[0] && document.querySelector(arguments[1]) !== null",
            run_id,
            "#run-page " + ready,
        )

    def until_text(self, selector: str, text: str) -> None:
        """Wait until the element at ``selector`` shows ``text``."""
        self.until(
            "var e = document.querySelector(arguments[0]); return e && e.innerText.indexOf(arguments[1]) >= 0",
            selector,
            text,
        )

    def text(self, selector: str) -> str:
        return str(self.js("var e = document.querySelector(arguments[0]); return e ? e.innerText : ''", selector))

    def rows(self, marked: str = "") -> list[str]:
        """The run ids of the table's rows in sight (with the class ``marked``, if given), in order."""
        rows = f"document.querySelectorAll('#runs tbody tr[data-run]{'.' + marked if marked else ''}')"
        return list(self.js(f"return Array.from({rows}).map(function (r) {{ return r.getAttribute('data-run'); }})"))

    def filter(self, text: str) -> None:
        """Type ``text`` into the filter box, and wait until the table shows its outcome."""
        self.js(
            "var f = document.getElementById('filter'); f.value = arguments[0]; f.dispatchEvent(new Event('input'));",
            text,
        )
        self.until("return window.reproView.query === arguments[0]", text)

    def requests(self, page: str) -> list[str]:
        """Every URL that a document at ``page`` (any fragment) asked for since it was opened,
        but the page itself (Chromium's network log)."""
        found = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") != "Network.requestWillBeSent":
                continue
            params = message["params"]
            url, document = params["request"]["url"], params.get("documentURL", "")
            if document.split("#")[0] == page and url.split("#")[0] != page:
                found.append(url)
        return found

    def screenshot(self, path: Path) -> None:
        self.driver.save_screenshot(str(path))


@contextmanager
def browser(profile: Path) -> Iterator[Browser]:
    """A headless Chromium with an empty profile at ``profile``."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.fail("the page tests need Debian's chromium and chromium-driver: sudo scripts/setup-host")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1000"]:
        options.add_argument(flag)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        yield Browser(driver)
    finally:
        driver.quit()
