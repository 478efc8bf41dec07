"""A rater rates a case in headless Chromium (the page, its scripts and the server)."""

from __future__ import annotations

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



@pytest.fixture()
def served(unrated_workspace):
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(unrated_workspace.path, token="e2e-token"),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/?token=e2e-token"
    server.should_exit = True
    thread.join(10)



@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="Debian's chromium is not installed (make browser installs it)")
def test_a_rater_rates_a_case_in_headless_chromium(served, unrated_workspace, tmp_path):
    from playwright.sync_api import sync_playwright

    case = unrated_workspace.case_ids()[0]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1600, "height": 900})
        page.goto(served)
        page.wait_for_selector('#case-title[data-rater=""]')  # opened for no rater yet
        page.fill("#rater", "Dr Browser")
        page.dispatch_event("#rater", "change")  # reloads the case for this rater
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
        for axis in ("axial", "coronal", "sagittal"):
            page.wait_for_function(
                f"document.querySelector('figure[data-axis={axis}] img').naturalWidth > 0")
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
