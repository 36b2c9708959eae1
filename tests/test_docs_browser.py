"""The built docs site in a real headless browser (Debian's chromium, driven by
selenium through chromedriver; scripts/install_browser.sh installs both, and
`make test` runs it first): the home page and a pattern page render, with a
title and a visible heading and not the 404 page, and every internal link and
anchor of every built page, read from the DOM the browser rendered, resolves."""
from __future__ import annotations

import functools
import http.server
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.test_docs_build import build_site

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Chromium's own connections (updates, sync, QUIC probes) are refused on a closed
# network, slowly: these flags keep it to the pages it is asked for.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900")
SITE_NAME = "training-patterns"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
  """The built site, served on localhost: (directory, base URL)."""
  root = tmp_path_factory.mktemp("docs") / "site"
  proc = build_site(root)
  assert proc.returncode == 0, proc.stderr[-3000:]
  handler = functools.partial(_QuietHandler, directory=str(root))
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  yield root, f"http://127.0.0.1:{server.server_address[1]}/"
  server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
  def log_message(self, *args):
    pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
  for tool in (CHROMIUM, CHROMEDRIVER):
    assert Path(tool).is_file(), f"{tool} missing: run scripts/install_browser.sh"
  options = webdriver.ChromeOptions()
  options.binary_location = CHROMIUM
  for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
    options.add_argument(flag)
  driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
  driver.set_page_load_timeout(30)
  yield driver
  driver.quit()


@pytest.mark.parametrize("page", ["", "patterns/checkpoints/"])
def test_a_page_renders_with_its_title_and_heading(site, browser, page):
  _, base = site
  browser.get(base + page)
  assert SITE_NAME in browser.title
  heading = browser.find_element(By.TAG_NAME, "h1")
  assert heading.is_displayed() and heading.text.strip()
  assert not heading.text.startswith("404"), f"{page or 'home'}: the 404 page"
  assert browser.find_element(By.CSS_SELECTOR, ".md-header__title").is_displayed()
  assert browser.find_elements(By.CSS_SELECTOR, "nav.md-nav a")  # the nav rendered


def test_every_internal_link_of_the_built_site_resolves(site, browser):
  root, base = site
  pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html")
                 if p.name != "404.html")
  assert len(pages) >= 5
  targets: dict[str, set[str]] = {}  # URL without fragment -> pages linking to it
  fragments: dict[tuple[str, str], set[str]] = {}
  for page in pages:
    browser.get(urllib.parse.urljoin(base, page))
    links = browser.execute_script(
        "return [...document.querySelectorAll('a[href], link[href], img[src], script[src]')]"
        ".map(e => e.href || e.src)")
    for link in links:
      url, _, fragment = link.partition("#")
      if not url.startswith(base):
        continue  # another site (none is followed on a closed network)
      targets.setdefault(url, set()).add(page)
      if fragment:
        fragments.setdefault((url, urllib.parse.unquote(fragment)), set()).add(page)
  broken = {}
  bodies = {}
  for url, linked_from in targets.items():
    try:
      with urllib.request.urlopen(url, timeout=10) as response:
        bodies[url] = response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
      broken[url] = f"{e.code}, linked from {sorted(linked_from)[:3]}"
  assert not broken, f"broken internal links: {broken}"
  missing = {f"{url}#{fragment}": sorted(linked_from)[:3]
             for (url, fragment), linked_from in fragments.items()
             if not re.search(rf'\bid="{re.escape(fragment)}"', bodies[url])}
  assert not missing, f"links to anchors that do not exist: {missing}"

