"""A rater rates a case in headless Chromium (the page, its scripts and the server)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest

from scorekit.data.ratings import BOTH, NONE, OVER, UNDER
from scorekit.web.app import create_app

CHROMIUM = Path("/usr/bin/chromium")



# -- end to end in a real browser ---------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



@contextlib.contextmanager
def serving(workspace_path):
    """The app on a free local port, with a token; yields the page's address."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(workspace_path, token="e2e-token"),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/?token=e2e-token"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture()
def served(unrated_workspace):
    with serving(unrated_workspace.path) as url:
        yield url


def chromium(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"])



@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="Debian's chromium is not installed (make browser installs it)")
def test_a_rater_rates_a_case_in_headless_chromium(served, unrated_workspace, tmp_path):
    from playwright.sync_api import sync_playwright

    case = unrated_workspace.case_ids()[0]
    with sync_playwright() as p:
        browser = chromium(p)
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.goto(served)
        page.wait_for_selector('#case-title[data-rater=""]')  # opened for no rater yet
        page.fill("#rater", "Dr Browser")
        page.locator("#rater").blur()  # its one change event reloads the case for the rater
        page.wait_for_selector('#case-title[data-rater="Dr Browser"]')  # form rebuilt
        page.wait_for_selector(f"text={case} (1 of 2)")
        left = page.locator('fieldset[data-region="humerus_left"]')
        right = page.locator('fieldset[data-region="humerus_right"]')
        left.locator('input[value="5"]').check()
        assert left.locator("select.error").input_value() == "none"  # q = 5 ⇒ none
        left.locator('input[value="3"]').check()
        left.locator("select.error").select_option("under")
        right.locator("select.error").select_option("none")
        assert right.locator('input[value="5"]').is_checked()  # none ⇒ q = 5
        page.locator("figure[data-axis=axial]").hover()
        page.mouse.wheel(0, 300)  # scroll a few slices
        for axis in ("axial", "coronal", "sagittal"):  # polled here: the CSP forbids eval
            image = page.locator(f"figure[data-axis={axis}] img")
            deadline = time.monotonic() + 30
            while image.evaluate("img => img.naturalWidth") == 0:
                assert time.monotonic() < deadline, f"no {axis} slice shown"
                time.sleep(0.1)
        page.screenshot(path=str(tmp_path / "rating-form.png"), full_page=True)
        page.click("#submit")
        page.wait_for_selector(f"text=Saved 2 ratings for {case}.")
        assert "1 / 2 cases rated" in page.inner_text("#progress")
        # The second case by keyboard alone: quality, error, Enter; Enter on the last saves.
        second = unrated_workspace.case_ids()[1]
        page.wait_for_selector(f"text={second} (2 of 2)")
        page.locator("#case-title").click()  # focus leaves the rater field
        for key in ("2", "o", "Enter", "4", "b"):
            page.keyboard.press(key)
        assert page.locator("fieldset.region.current").get_attribute(
            "data-region") == "humerus_right"
        page.keyboard.press("Enter")
        page.wait_for_selector(f"text=Saved 2 ratings for {second}.")
        browser.close()
    stored = {r.region: r for r in unrated_workspace.ratings.all(case)}
    assert (stored["humerus_left"].quality, stored["humerus_left"].error) == (3, UNDER)
    assert (stored["humerus_right"].quality, stored["humerus_right"].error) == (5, NONE)
    assert stored["humerus_left"].rater == "Dr Browser"
    assert stored["humerus_left"].seconds > 0
    assert (tmp_path / "rating-form.png").stat().st_size > 10_000
    by_keyboard = {r.region: r for r in unrated_workspace.ratings.all(second)}
    assert (by_keyboard["humerus_left"].quality, by_keyboard["humerus_left"].error) == (2, OVER)
    assert (by_keyboard["humerus_right"].quality, by_keyboard["humerus_right"].error) == (4, BOTH)


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="Debian's chromium is not installed (make browser installs it)")
def test_hostile_region_names_and_comments_show_as_text_and_never_run(unrated_workspace,
                                                                       tmp_path):
    from playwright.sync_api import sync_playwright

    from scorekit.data.labelmap import LabelMap
    from scorekit.data.workspace import Workspace

    hostile = '<img src=x onerror="window.pwned=1">'
    source = unrated_workspace.cases()[0]
    initial = source.initial()
    renamed = LabelMap(initial.array, initial.geometry,
                       regions={v: hostile if n == "humerus_left" else n
                                for v, n in initial.regions.items()})
    ws = Workspace.create(tmp_path / "ws")
    ws.add_case("case_1", source.image(), renamed)
    comment = "<script>window.pwned=2</script><b onmouseover=alert(3)>x</b>"
    with serving(ws.path) as url, sync_playwright() as p:
        browser = chromium(p)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector('#case-title[data-rater=""]')  # opened for no rater yet
        page.fill("#rater", "Dr Careful")
        page.locator("#rater").blur()  # its one change event reloads the case for the rater
        page.wait_for_selector('#case-title[data-rater="Dr Careful"]')
        names = page.locator("fieldset.region .name").all_inner_texts()
        assert hostile in names and page.locator("img[src=x]").count() == 0
        region = page.locator("fieldset.region").first
        region.locator('input[value="3"]').check()
        region.locator("select.error").select_option("under")
        region.locator(".comment").fill(comment)
        page.locator("fieldset.region").nth(1).locator('input[value="5"]').check()
        page.click("#submit")
        page.wait_for_selector("#status.ok, #status.error")
        assert page.inner_text("#status") == "Saved 2 ratings for case_1."
        page.reload()  # the rater is remembered by the browser
        page.wait_for_selector('#case-title[data-rater="Dr Careful"]')
        assert page.locator("fieldset.region .comment").first.input_value() == comment
        assert page.evaluate("window.pwned") is None
        assert page.locator("b[onmouseover]").count() == 0
        browser.close()
    assert {r.comment for r in ws.ratings.all("case_1")} >= {comment}
