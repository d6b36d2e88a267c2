"""The dashboard in a real browser: Debian's chromium driven by Python Playwright.

Run by tests/dashboard.rs against a `serve` holding real scan results (the fixture images
portcullis/debian:lang, Fail, and :bookworm, Pass; lang also reported running). Prints one
`ok <check>` line per check; any failure raises, and the Rust test fails.

Environment: BASE (https://127.0.0.1:PORT), WRITE and READ (tokens), CHROMIUM (the browser),
OUT (where screenshots go), FAIL_DIGEST and PASS_DIGEST.
"""

import csv
import io
import os
import re

from playwright.sync_api import expect, sync_playwright

BASE = os.environ["BASE"]
OUT = os.environ["OUT"]
FAIL_DIGEST = os.environ["FAIL_DIGEST"]
PASS_DIGEST = os.environ["PASS_DIGEST"]
os.makedirs(OUT, exist_ok=True)


def ok(what):
    print(f"ok {what}", flush=True)


def shot(page, name):
    page.screenshot(path=os.path.join(OUT, f"{name}.png"), full_page=True)


def rows(page):
    """The image names listed, in order."""
    return page.locator("tbody tr td:nth-child(2)").all_inner_texts()


def login(page, token):
    page.goto(f"{BASE}/", wait_until="networkidle")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="All scanned images")).to_be_visible()


with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=os.environ["CHROMIUM"], args=["--no-sandbox"])
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Logged out, every page asks for a token; a wrong one is refused on the page.
    page.goto(f"{BASE}/exceptions", wait_until="networkidle")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fexceptions"))
    shot(page, "login")
    page.get_by_label("API token").fill("pcl_nope_nope")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("not a valid token")
    ok("a wrong token is refused on the login page")

    login(page, os.environ["WRITE"])
    cookies = ctx.cookies()
    session = [c for c in cookies if c["name"] == "portcullis_session"]
    assert session and session[0]["httpOnly"] and session[0]["secure"] and session[0]["sameSite"] == "Strict", cookies
    assert os.environ["WRITE"] not in page.url
    ok("logged in: the token is in a Secure, HttpOnly, SameSite=Strict cookie, not in the URL")

    # The list: both images, the failing one first (the default order is by result).
    expect(page.locator("tbody tr")).to_have_count(2)
    names = rows(page)
    assert "portcullis/debian:lang" in names[0] and "portcullis/debian:bookworm" in names[1], names
    expect(page.locator("tbody tr").first.locator(".badge")).to_have_text("Fail")
    expect(page.locator("tbody tr").nth(1).locator(".badge").first).to_have_text("Pass")
    expect(page.locator("#status")).to_contain_text("DB")
    page.locator("#db-sources summary").click()
    expect(page.locator("#db-sources")).to_contain_text("records")
    shot(page, "images")
    ok("All scanned images lists both, Fail first, with the DB's age in the header")

    # Sorting by a column, then turning it: the URL says so.
    page.get_by_role("button", name=re.compile("^Image")).click()
    expect(page).to_have_url(re.compile(r"sort=name"))
    page.get_by_role("button", name=re.compile("^Image")).click()
    expect(page).to_have_url(re.compile(r"sort=name&order=desc"))
    expect(page.locator("tbody tr").first).to_contain_text("debian:lang")
    page.get_by_role("button", name=re.compile("^Max CVSS")).click()
    expect(page).to_have_url(re.compile(r"sort=max_cvss"))
    expect(page.locator("tbody tr").first).to_contain_text("8.1")
    ok("sorting by a column, and turning the order, keeps it in the URL")

    # Filters, shareable: a fresh load of the URL shows the same view.
    page.get_by_label("Result").select_option("Pass")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"status=Pass"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr").first).to_contain_text("bookworm")
    page.reload(wait_until="networkidle")
    expect(page.locator("tbody tr")).to_have_count(1)
    ok("filtering by result; the filtered view is a link (reload shows the same)")

    # Searching a vulnerability by an alias, and a package by name.
    page.goto(f"{BASE}/", wait_until="networkidle")
    page.get_by_label("Vulnerability or package").fill("CVE-2023-43804")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"cve=CVE-2023-43804"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr").first).to_contain_text("debian:lang")
    page.get_by_label("Vulnerability or package").fill("werkzeug")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"package=werkzeug"))
    expect(page.locator("tbody tr")).to_have_count(1)
    ok("searching a CVE (an alias) and a package finds the image that has it")

    # Export of the current view.
    page.goto(f"{BASE}/?sort=status", wait_until="networkidle")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Export CSV").click()
    text = open(dl.value.path(), encoding="utf-8").read()
    table = list(csv.DictReader(io.StringIO(text)))
    assert {r["repository"] for r in table} == {"portcullis/debian"} and len(table) == 2, text
    assert {r["status"] for r in table} == {"Fail", "Pass"}, text
    ok("the current view exports as CSV")

    # Running images: where each runs.
    page.get_by_role("link", name="Running").click()
    expect(page.get_by_role("heading", name="Running images")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr").first).to_contain_text("shop/Deployment/web")
    shot(page, "running")
    ok("Running images shows the cluster, the workload and its instances")

    # One image: its vulnerabilities with CVSS and fixes, packages with where found, history.
    page.get_by_role("link", name=re.compile("debian:lang")).click()
    expect(page).to_have_url(re.compile(re.escape(FAIL_DIGEST.replace(":", "%3A")) + "|" + re.escape(FAIL_DIGEST)))
    vulns = page.locator("#vulnerabilities tbody tr")
    first = vulns.first
    expect(first).to_contain_text("PYSEC-2023-192")
    expect(first).to_contain_text("8.1")
    expect(first).to_contain_text("CVSS:3")
    expect(first).to_contain_text("urllib3")
    expect(page.get_by_role("heading", name=re.compile(r"^Packages"))).to_be_visible()
    expect(page.get_by_role("heading", name="Status history")).to_be_visible()
    shot(page, "image")
    ok("an image shows its vulnerabilities (CVSS, vector, fixes, where found), packages and history")

    # Exceptions from the image: the two above 7 are excepted; the result drops to Warn.
    for vid in ["PYSEC-2023-192", "PYSEC-2023-221"]:
        row = page.locator("#vulnerabilities tbody tr", has_text=vid)
        row.get_by_role("button", name="Add exception").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Applies to").select_option("repository")
        dialog.get_by_label("Justification").fill(f"{vid}: not reachable in this service")
        if vid == "PYSEC-2023-192":
            shot(page, "add-exception")
        dialog.get_by_role("button", name="Save exception").click()
        expect(page.get_by_role("dialog")).to_have_count(0, timeout=20000)
        expect(page.locator("#vulnerabilities tbody tr", has_text=vid)).to_contain_text("excepted", timeout=20000)
    for _ in range(30):
        page.reload(wait_until="networkidle")
        if page.locator(".fact .badge").first.inner_text() == "Warn":
            break
        page.wait_for_timeout(500)
    expect(page.locator(".fact .badge").first).to_have_text("Warn")
    ok("exceptions added from the image change its result (Fail to Warn)")

    page.get_by_role("link", name="Exceptions").click()
    expect(page.locator("#exceptions tbody tr")).to_have_count(2)
    expect(page.locator("#exceptions")).to_contain_text("token:write")
    page.once("dialog", lambda d: d.accept("reviewed: still not reachable"))
    page.locator("#exceptions tbody tr", has_text="PYSEC-2023-221").get_by_role("button", name="Edit").click()
    expect(page.locator("#exceptions")).to_contain_text("reviewed: still not reachable")
    shot(page, "exceptions")
    ok("Vulnerability Exceptions lists them with who made them; one is edited")

    # Thresholds: the change is previewed with how many results change, then saved.
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Fail at CVSS").fill("6")
    page.get_by_role("button", name="Review change").click()
    expect(page.get_by_role("alert")).to_contain_text("1 of 2 images change result")
    shot(page, "settings")
    page.get_by_role("button", name="Confirm and save").click()
    expect(page.get_by_text("Saved: results are relabelled")).to_be_visible()
    relabelled = False
    lang = page.locator("tbody tr", has_text="debian:lang").locator(".badge").first
    for _ in range(30):
        page.goto(f"{BASE}/?sort=status", wait_until="networkidle")
        if lang.inner_text() == "Fail":
            relabelled = True
            break
        page.wait_for_timeout(500)
    assert relabelled, "the threshold change did not relabel the image"
    ok("a threshold change is previewed, saved, and relabels the results")

    # Tokens for CI: made once, shown once, listed, revoked.
    page.get_by_role("link", name="Settings").click()
    page.get_by_label("Name").fill("ci-main")
    page.get_by_label("Scope").select_option("push")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_contain_text("pcl_")
    made = page.locator("#new-token").inner_text()
    expect(page.locator("#tokens")).to_contain_text("ci-main")
    expect(page.locator("#ci-command")).to_contain_text("--push " + BASE)
    page.once("dialog", lambda d: d.accept())
    page.locator("#tokens tr", has_text="ci-main").get_by_role("button", name="Revoke").click()
    expect(page.locator("#tokens tr", has_text="ci-main")).to_contain_text("revoked")
    page.reload(wait_until="networkidle")
    assert made not in page.content(), "a token shown again"
    ok("a CI token is made and shown once, listed, and revoked")

    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts")).to_be_visible()
    page.get_by_label("Name").fill("failing")
    page.get_by_label("Fires when any image matches").fill("result = Fail")
    page.get_by_role("button", name="Add rule").click()
    expect(page.locator("table").first).to_contain_text("result = Fail")
    shot(page, "alerts")
    page.get_by_role("link", name="Admission").click()
    expect(page.get_by_role("heading", name="Admission decisions")).to_be_visible()
    shot(page, "admission")
    ok("Alerts (rules and fired) and Admission pages show")

    # A change without the CSRF header is refused, even with the session cookie.
    status = page.evaluate("""async () => (await fetch('/api/v1/exceptions', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({id: 'CVE-1', scope: 'any'})})).status""")
    assert status == 403, status
    ok("a change without the CSRF header is refused")

    # Narrow screens: the list still reads, nothing spills sideways but the tables' own scroll.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{BASE}/", wait_until="networkidle")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.locator("tbody tr", has_text="debian:lang").locator(".badge").first).to_have_text("Fail")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 392, width
    shot(page, "images-390")
    ok("the list reads at 390 px wide")

    # Keyboard: the first Tab reaches the skip link, which moves focus to the content.
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{BASE}/", wait_until="networkidle")
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    ok("keyboard: a skip link first")

    # A read token sees everything and can change nothing.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    login(page, os.environ["READ"])
    page.goto(f"{BASE}/image/{FAIL_DIGEST}", wait_until="networkidle")
    expect(page.locator("#vulnerabilities tbody tr").first).to_be_visible()
    expect(page.get_by_role("button", name="Add exception")).to_have_count(0)
    page.goto(f"{BASE}/settings", wait_until="networkidle")
    expect(page.get_by_role("button", name="Review change")).to_have_count(0)
    status = page.evaluate("""async () => (await fetch('/api/v1/exceptions', {method: 'POST',
        headers: {'Content-Type': 'application/json', 'X-Portcullis-CSRF': '1'},
        body: JSON.stringify({id: 'CVE-1', scope: 'any'})})).status""")
    assert status == 403, status
    ok("a read token sees the pages, is offered no change, and its changes are refused (403)")

    assert not errors, errors
    ok("no script error on any page")
    browser.close()
