"""Dashboard load figures in Debian's chromium (Python Playwright): for All Scanned Images, the
first contentful paint, the time until the list is on the page (the app's `portcullis:listed`
mark: interactive from then on), and the page weight (document, script, style and the API
answer). Prints one line; run by benches/api.rs when PORTCULLIS_CHROMIUM is set.

Environment: BASE, READ (token), CHROMIUM, RUNS.
"""

import os
import statistics

from playwright.sync_api import sync_playwright

BASE = os.environ["BASE"]
RUNS = int(os.environ.get("RUNS", "5"))

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=os.environ["CHROMIUM"], args=["--no-sandbox"])
    ctx = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(f"{BASE}/login", wait_until="networkidle")
    page.get_by_label("API token").fill(os.environ["READ"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_selector("tbody tr")
    fcp, listed, weight = [], [], []
    for _ in range(RUNS):
        page.goto(f"{BASE}/", wait_until="load")
        # Polled from here: the page's CSP forbids the eval that wait_for_function uses.
        for _ in range(600):
            if page.evaluate("() => performance.getEntriesByName('portcullis:listed').length > 0"):
                break
            page.wait_for_timeout(50)
        t = page.evaluate("""() => ({
            fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
            listed: performance.getEntriesByName('portcullis:listed')[0].startTime,
            bytes: performance.getEntriesByType('navigation')[0].encodedBodySize
              + performance.getEntriesByType('resource').reduce((a, r) => a + r.encodedBodySize, 0),
        })""")
        fcp.append(t["fcp"])
        listed.append(t["listed"])
        weight.append(t["bytes"])
    browser.close()
print(
    f"dashboard (All Scanned Images, 100 a page): first contentful paint median {statistics.median(fcp):.0f} ms, "
    f"list on the page (interactive) median {statistics.median(listed):.0f} ms, page weight {max(weight) / 1024:.0f} KB "
    f"(targets: first paint <= 300 ms, page <= 200 KB; {RUNS} loads)"
)
