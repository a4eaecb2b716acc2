"""The static leaderboard page, loaded in headless Chromium: rows, sorting, details, escaping, no network.

Needs the Debian packages ``chromium`` and ``chromium-driver`` (installed here with apt-get when
missing and running as root) and ``selenium`` (the ``dev`` extra). Without a browser the test fails
rather than skips, unless ``EMOREALM_SKIP_BROWSER_TESTS=1`` says so explicitly.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from emorealm.leaderboard.render import render_html, write_site
from emorealm.leaderboard.store import read_leaderboard
from emorealm.leaderboard.submit import SubmitOptions, submit
from emorealm.leaderboard.views import ranked_rows

from support.results_fixtures import make_run

EVIL = '<script>window.__pwned = 1; document.title = "pwned"</script><img src=x onerror="window.__pwned = 2">'


def _ensure_chromium() -> tuple[str, str]:
    if os.environ.get("EMOREALM_SKIP_BROWSER_TESTS") == "1":
        pytest.skip("EMOREALM_SKIP_BROWSER_TESTS=1")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (browser and driver) and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver",
                       shell=True, check=False, capture_output=True, timeout=900)
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        driver = shutil.which("chromedriver")
    if not (browser and driver):
        pytest.fail("headless Chromium is needed: apt-get install chromium chromium-driver "
                    "(or set EMOREALM_SKIP_BROWSER_TESTS=1 to skip on purpose)")
    return browser, driver


@pytest.fixture(scope="module")
def browser():
    path, driver_path = _ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_AVOID_STATS", "true")
    profile = tempfile.mkdtemp(prefix="emorealm-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = path
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-default-apps", f"--user-data-dir={profile}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=driver_path), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("site")
    lb = tmp / "lb.json"
    opts = SubmitOptions(submitter='lab <b>"x"</b>', allow_smoke=True)
    for i, (name, skill) in enumerate([("alpha-7b", 0.8), (EVIL, 0.5), ("[gamma] & co", 0.2)]):
        submit(make_run(tmp / f"r{i}", model=f"m{i}", n=14, seed=i, skill=skill),
               lb, SubmitOptions(**{**opts.__dict__, "model_name": name}))
    board = read_leaderboard(lb)
    return board, write_site(board, tmp / "site")


def _column(drv, key):
    idx = drv.execute_script(
        "return Array.prototype.indexOf.call(document.querySelectorAll('#board thead th'),"
        " document.querySelector('#board thead th[data-key=\"' + arguments[0] + '\"]'))", key)
    return [td.get_attribute("data-value") or td.text
            for td in drv.find_elements("css selector", f"#board tbody tr td:nth-child({idx + 1})")]


def _click_header(drv, key):
    drv.find_element("css selector", f'#board thead th[data-key="{key}"] button').click()


@pytest.mark.slow
def test_page_in_headless_chromium(browser, site):
    board, page = site
    browser.get(page.as_uri())
    drv = browser
    # rows present, ranked by average accuracy
    names = [td.text for td in drv.find_elements("css selector", "#board tbody td.model")]
    assert len(names) == 3
    by_avg = sorted(board["entries"], key=lambda e: -e["average_accuracy"])
    assert names == [e["model"]["name"] for e in by_avg]
    # ranks as `show` gives them (shared while the 95 % intervals overlap the row above)
    ranks = [str(r.rank) for r in ranked_rows(board)]
    assert [td.text for td in drv.find_elements("css selector", "#board tbody td:first-child")] == ranks
    cell = drv.find_element("css selector", '#board tbody td[data-value]').text
    assert re.fullmatch(r"\d+\.\d ± \d+\.\d", cell)
    # the hostile name is text: nothing ran, no element was created from it
    assert EVIL in names
    assert drv.execute_script("return window.__pwned === undefined")
    assert drv.title == board["title"]
    assert drv.find_elements("css selector", "#board img, #board tbody script") == []

    # sorting by clicking a header: best first, then reversed
    _click_header(drv, "dfew.uar")
    uar = [float(v) for v in _column(drv, "dfew.uar")]
    assert uar == sorted(uar, reverse=True)
    assert drv.find_element("css selector", '#board thead th[data-key="dfew.uar"]').get_attribute("aria-sort") == "descending"
    _click_header(drv, "dfew.uar")
    assert [float(v) for v in _column(drv, "dfew.uar")] == sorted(uar)
    _click_header(drv, "_model")
    model_order = [td.text for td in drv.find_elements("css selector", "#board tbody td.model")]
    assert model_order == sorted(model_order, key=str.lower)

    # model details on click (user strings still as text)
    row = drv.find_elements("css selector", "#board tbody tr")[model_order.index(EVIL)]
    row.click()
    assert drv.find_element("css selector", "#details").is_displayed()
    assert drv.find_element("css selector", "#details-title").text == EVIL
    assert 'lab <b>"x"</b>' in drv.find_element("css selector", "#details-fields").text
    assert drv.execute_script("return window.__pwned === undefined")

    # per-task bar chart: one bar per entry with the chosen metric
    assert len(drv.find_elements("css selector", "#chart .bar")) == 3
    # no network: the page fetched nothing, and logged no error
    assert drv.execute_script("return performance.getEntriesByType('resource').length") == 0
    severe = [m for m in drv.get_log("browser") if m["level"] == "SEVERE"]
    assert severe == []


def test_page_is_self_contained_and_escapes_user_strings(site):
    board, page = site
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # nothing to fetch
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]*\bsrc=", html)
    assert "<script>window.__pwned" not in html  # the hostile name never appears as markup
    assert "\\u003cscript\\u003ewindow.__pwned" in html
    assert html.count("<script>") == 1 and "Content-Security-Policy" in html
    assert render_html(board) != ""
