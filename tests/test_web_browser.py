"""End to end in a real headless Chromium: draw digits stroke by stroke, read the page.

Needs Debian's chromium (``.ci/run`` installs it with apt-get) and Playwright
for Python, which drives that browser (no browser download). Screenshots go
to ``test-artifacts/``.
"""

import socket
import threading
import time
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
uvicorn = pytest.importorskip("uvicorn", reason="the web extras are not installed")

from digitnet.web.app import create_app  # noqa: E402

from drawing import STROKES  # noqa: E402
from web_helpers import REPO, SHIPPED  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
# As the machine notes advise: no sandbox as root, and no background traffic
# to Google's hosts on a closed network.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def server_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(SHIPPED), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(server_url):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server_url)
        page.wait_for_selector("#confusion td")          # the inspection part has loaded
        yield page
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def draw(page, digit: int, region=(0.2, 0.15, 0.6, 0.7)) -> None:
    """Draw ``digit`` on the pad with the mouse, one stroke at a time, like a person.

    ``region``: (left, top, width, height) of the digit, as shares of the pad.
    """
    box = page.locator("#pad").bounding_box()
    left, top = box["x"] + region[0] * box["width"], box["y"] + region[1] * box["height"]
    width, height = region[2] * box["width"], region[3] * box["height"]
    for stroke in STROKES[digit]:
        x, y = stroke[0]
        page.mouse.move(left + x * width, top + y * height)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(left + x * width, top + y * height, steps=4)
        page.mouse.up()


def seen_ink(page) -> float:
    """Share of lit pixels in the page's picture of the 28x28 input."""
    return page.evaluate("""() => {
        const c = document.getElementById('seen'), g = c.getContext('2d');
        const d = g.getImageData(0, 0, c.width, c.height).data;
        let lit = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 100) lit++;
        return lit / (d.length / 4);
    }""")


def shown_digit(page) -> str:
    page.wait_for_selector("body[data-state='idle']")
    return page.locator("#prediction").get_attribute("data-digit")


@pytest.mark.parametrize("digit", [7, 0, 4, 1, 3])
def test_drawing_a_digit_shows_the_right_prediction_and_the_insides(page, digit):
    page.click("#clear")
    draw(page, digit)
    assert shown_digit(page) == str(digit)
    assert page.locator("#prediction").inner_text() == str(digit)
    bars = page.locator("#bars .bar")
    assert bars.count() == 10 and "top" in bars.nth(digit).get_attribute("class")
    # The 28x28 input and one picture per hidden layer are painted.
    assert 0.03 < seen_ink(page) < 0.6
    hidden = page.locator("#layers figure")
    model_hidden = page.evaluate("fetch('/api/model').then(r => r.json()).then(m => m.sizes.length - 2)")
    assert hidden.count() == model_hidden
    assert "units active" in hidden.first.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"draw-{digit}.png"), full_page=True)


def test_undo_and_clear(page):
    page.click("#clear")
    draw(page, 1)
    assert shown_digit(page) == "1"
    draw(page, 0)                                           # scribble over it
    shown_digit(page)
    page.click("#undo")                                     # the 0 goes, the 1 stays
    assert shown_digit(page) == "1"
    page.click("#clear")
    assert page.locator("#prediction").inner_text() == "?"
    assert seen_ink(page) == 0 and page.locator("#layers figure").count() == 0


def test_confusion_cell_click_shows_its_test_images(page):
    cells = page.locator("#confusion td")
    assert cells.count() == 100
    cell = page.locator("#confusion td[data-true='3'][data-predicted='3']")
    count = int(cell.inner_text())
    cell.click()
    page.wait_for_function("document.getElementById('gallery-title').textContent.startsWith('True 3')")
    assert f"{count} test images" in page.locator("#gallery-title").inner_text()
    assert page.locator("#gallery img").count() == min(count, 60)
    page.screenshot(path=str(ARTIFACTS / "inspect.png"), full_page=True)


def test_probability_bars_show_their_length(page):
    """Each bar's rendered fill is its probability's share of the track (measured, not the style)."""
    page.click("#clear")
    draw(page, 7)
    assert shown_digit(page) == "7"
    page.wait_for_timeout(300)                                   # the bars' width transition
    measured = page.evaluate("""() => [...document.querySelectorAll('#bars .bar')].map(bar => [
        bar.querySelector('.fill').getBoundingClientRect().width,
        bar.querySelector('.track').getBoundingClientRect().width,
        parseFloat(bar.querySelector('.value').textContent) / 100])""")
    assert len(measured) == 10
    for fill, track, probability in measured:
        assert track > 50 and abs(fill / track - probability) < 0.02, measured
    assert max(fill for fill, _, _ in measured) > 0.5 * measured[0][1]   # the winner's bar is long


def test_several_digits_show_the_number_with_a_box_each(page):
    page.click("#clear")
    draw(page, 4, region=(0.05, 0.25, 0.28, 0.45))
    draw(page, 1, region=(0.38, 0.25, 0.24, 0.45))
    draw(page, 7, region=(0.68, 0.25, 0.28, 0.45))
    page.wait_for_selector("body[data-state='idle']")
    page.wait_for_function("document.getElementById('prediction').dataset.number === '417'", timeout=5000)
    assert page.locator("#prediction").inner_text() == "417"
    assert page.locator("#boxes").get_attribute("data-count") == "3"
    page.screenshot(path=str(ARTIFACTS / "number-417.png"), full_page=True)
    page.click("#clear")
    assert page.locator("#boxes").get_attribute("data-count") == "0"


def test_a_single_tap_is_no_digit(page):
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"])
    page.wait_for_selector("body[data-state='idle']")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('no digit')")
    assert page.locator("#prediction").inner_text() == "–"
    assert page.locator("#prediction").get_attribute("data-digit") == ""
