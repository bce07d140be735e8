"""A person in Chromium: signs up, uploads a face (or takes one with the camera), sees the result.

Drives Debian's Chromium through Playwright (never a downloaded browser) against the real
stack; screenshots are kept under test-artifacts/, every page at 1280 and 390 px wide.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from harness import photos
from harness.stack import ROOT, Stack

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.real_estimator]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
WIDTHS = ((1280, 900), (390, 844))  # a laptop and a phone
SIDEWAYS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# Elements that stick out of the page's first card (a tall photo, a wide chart or table).
OUTSIDE_CARD = """() => {
  const card = document.querySelector('main .card'), edge = card.getBoundingClientRect();
  return [...card.querySelectorAll('*')].filter((el) => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && (box.right > edge.right + 0.5 || box.left < edge.left - 0.5);
  }).map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' ' + (el.getAttribute('class') || ''));
}"""


def shoot(page: Any, name: str) -> None:
    """Full-page screenshots at a laptop's and a phone's width; neither may scroll sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)  # the charts resize on the next frame
        assert page.evaluate(SIDEWAYS) <= 0, f"{name} scrolls sideways at {width} px: {page.evaluate(OUTSIDE_CARD)}"
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def write_y4m(jpeg: bytes, path: Path) -> None:
    """One frame of video (YUV 4:2:0) for Chromium's fake camera."""
    rgb = np.asarray(Image.open(__import__("io").BytesIO(jpeg)).convert("RGB"), np.float32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
    h, w = y.shape

    def half(plane: Any) -> Any:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [np.clip(p, 0, 255).round().astype(np.uint8).tobytes() for p in (y, half(cb), half(cr))]
    path.write_bytes(f"YUV4MPEG2 W{w} H{h} F30:1 Ip A1:1 C420jpeg\n".encode() + b"FRAME\n" + b"".join(planes))


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium chromium-driver)")
    from playwright.sync_api import sync_playwright

    camera = tmp_path_factory.mktemp("camera") / "face.y4m"
    write_y4m(photos.face_photo(640, 480), camera)
    args = [
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield browser
        browser.close()


def signed_up_page(chromium: Any, stack: Stack) -> Any:
    page = chromium.new_page(viewport={"width": 1200, "height": 900})
    page.set_default_timeout(120_000)
    page.goto(f"{stack.base_url}/accounts/signup/")
    name = f"browser_{uuid.uuid4().hex[:8]}"
    page.fill("#id_username", name)
    page.fill("#id_email", f"{name}@example.com")
    page.fill("#id_password1", "correct horse battery 9")
    page.fill("#id_password2", "correct horse battery 9")
    page.click("#signup-form button[type=submit]")
    page.wait_for_url(re.compile(r"/upload/$"))
    return page


def expect_result(page: Any, screenshot: str) -> str:
    page.wait_for_url(re.compile(r"/p/[0-9a-f-]{36}/$"))
    page.wait_for_selector(".face-card .face-age")
    page.wait_for_function(
        "() => { const c = document.querySelector('.face-chart canvas');"
        " return !!(c && window.Chart && Chart.getChart(c) && Chart.getChart(c).data.labels.length === 8); }"
    )
    page.wait_for_timeout(500)  # let the pie's animation finish for the picture
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
    assert page.text_content("#status") == "Done"
    assert page.locator("#photo .box").count() == 1
    assert page.text_content("#model-version").startswith("Age model ")
    age_text: str = page.text_content(".face-age") or ""
    return age_text


def upload_face(page: Any) -> None:
    """Choose a 640x480 photo of a real face on the upload page and send it."""
    face = {"name": "astronaut.jpg", "mimeType": "image/jpeg", "buffer": photos.face_photo(640, 480)}
    page.set_input_files("#id_image", face)
    page.click("#upload-submit")


def test_a_person_signs_up_uploads_a_face_and_sees_the_age_and_pie_chart(chromium: Any, real_stack: Stack) -> None:
    page = signed_up_page(chromium, real_stack)
    upload_face(page)
    age = expect_result(page, "result-upload.png")
    assert re.fullmatch(r"\d{1,3} years", age)
    assert re.fullmatch(r"80% likely between \d+ and \d+ years", page.text_content(".face-range") or "")
    page.close()


def test_a_person_takes_a_photo_with_the_camera_and_sees_the_age(chromium: Any, real_stack: Stack) -> None:
    page = signed_up_page(chromium, real_stack)
    page.click("#camera-start")
    page.wait_for_function("() => document.getElementById('camera-video').videoWidth > 0")
    page.screenshot(path=str(ARTIFACTS / "camera.png"))
    page.click("#camera-snap")  # a look first: nothing is sent until the person says so
    page.wait_for_selector("#camera-shot:not([hidden])")
    assert page.is_hidden("#camera-video") and page.is_visible("#camera-retake")
    page.click("#camera-retake")
    assert page.is_visible("#camera-video") and page.is_hidden("#camera-shot")
    page.click("#camera-snap")
    page.click("#camera-use")
    age = expect_result(page, "result-camera.png")
    assert re.fullmatch(r"\d{1,3} years", age)
    page.close()


def test_a_person_goes_live_and_sees_an_age_follow_the_face(chromium: Any, real_stack: Stack) -> None:
    page = signed_up_page(chromium, real_stack)
    page.click("nav >> text=Live")
    page.wait_for_url(re.compile(r"/live/$"))
    page.click("#stream-start")
    page.wait_for_function("() => / years, likely /.test(document.getElementById('stream-faces').textContent)")
    shown = page.text_content("#stream-faces li") or ""
    assert re.fullmatch(r"Face 1: \d{1,3} years, likely \d+\u2013\d+", shown), shown
    page.wait_for_function("() => parseFloat(document.getElementById('stat-rate').textContent) > 0")
    assert page.text_content("#stream-status") == "Live"
    assert page.text_content("#stat-model").startswith("age101")
    # the overlay has drawn the box and its label: some of its pixels are the accent colour
    drawn = page.evaluate(
        "() => { const c = document.getElementById('stream-overlay');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0) n++; return n; }"
    )
    assert drawn > 500
    page.screenshot(path=str(ARTIFACTS / "live.png"), full_page=True)
    page.click("#stream-keep")
    page.wait_for_selector("#stream-kept a")
    page.click("#stream-kept a")
    age = expect_result(page, "result-live-kept.png")
    assert re.fullmatch(r"\d{1,3} years", age)
    # the frame the stream scored, kept as a live frame (its faces found as the stream found them)
    kept = page.url.rstrip("/").rsplit("/", 1)[-1]
    assert real_stack.sql("SELECT source, width FROM estimator_prediction WHERE id = %s", kept) == [("live", 640)]
    page.close()


def test_the_live_page_fits_a_phone(chromium: Any, real_stack: Stack) -> None:
    page = signed_up_page(chromium, real_stack)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{real_stack.base_url}/live/")
    page.click("#stream-start")
    page.wait_for_function("() => parseFloat(document.getElementById('stat-rate').textContent) > 0")
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    page.screenshot(path=str(ARTIFACTS / "live-phone.png"), full_page=True)
    assert not page.is_visible("#stat-rate")  # figures for engineers wait under Details
    page.click("#stream-stop")  # stopped: nothing measured is left showing
    assert [page.text_content(f"#stat-{name}") for name in ("rate", "latency", "faces", "model")] == ["\u2013"] * 4
    assert page.locator("#stream-faces li").count() == 0 and page.text_content("#stream-status") == "Camera off"
    page.close()


def count_predictions(stack: Stack, page: Any) -> int:
    username = (page.text_content("nav a[href='/accounts/profile/']") or "").strip()
    [(count,)] = stack.sql(
        "SELECT count(*) FROM estimator_prediction p JOIN accounts_user u ON u.id = p.owner_id WHERE u.username = %s",
        username,
    )
    return int(count)


def test_deleting_from_my_predictions_asks_on_the_page_keep_it_keeps_and_no_browser_dialog_opens(
    chromium: Any, real_stack: Stack
) -> None:
    page = signed_up_page(chromium, real_stack)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    upload_face(page)
    page.wait_for_selector(".face-card .face-age")
    page.goto(f"{real_stack.base_url}/predictions/")
    tile = page.locator(".tile")
    assert tile.count() == 1 and not page.is_visible(".tile .delete-box")
    page.click(".tile .delete-confirm summary")  # the question, on the page
    assert "This cannot be undone." in (page.text_content(".tile .delete-box") or "")
    assert page.is_visible(".tile >> text=Delete for good") and page.is_visible(".tile >> text=Keep it")
    shoot(page, "history-delete-asked")
    page.click(".tile >> text=Keep it")  # cancel: the photo stays, the keyboard goes back to the question
    assert not page.is_visible(".tile .delete-box")
    assert page.evaluate("() => document.activeElement.tagName") == "SUMMARY"
    page.reload()
    assert page.locator(".tile").count() == 1 and count_predictions(real_stack, page) == 1
    page.click(".tile .delete-confirm summary")
    page.click(".tile >> text=Delete for good")  # confirm: gone
    page.wait_for_selector(".messages >> text=The prediction and its photo were deleted.")
    assert page.locator(".tile").count() == 0 and count_predictions(real_stack, page) == 0
    assert dialogs == [], f"a browser dialog opened: {dialogs}"
    page.close()


def test_deleting_on_the_result_page_asks_on_the_page_and_no_browser_dialog_opens(
    chromium: Any, real_stack: Stack
) -> None:
    page = signed_up_page(chromium, real_stack)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    upload_face(page)
    page.wait_for_selector(".face-card .face-age")
    page.click("#delete summary")
    assert page.is_visible("#delete-confirm") and "This cannot be undone." in (page.text_content("#delete") or "")
    page.click("#delete-cancel")
    assert not page.is_visible("#delete-confirm") and count_predictions(real_stack, page) == 1
    page.click("#delete summary")
    page.click("#delete-confirm")
    page.wait_for_url(re.compile(r"/predictions/$"))
    assert count_predictions(real_stack, page) == 0
    assert dialogs == [], f"a browser dialog opened: {dialogs}"
    page.close()


def test_a_logged_out_visitor_sees_why_to_log_in_and_readable_form_errors(chromium: Any, real_stack: Stack) -> None:
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{real_stack.base_url}/")
    shoot(page, "home")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator("#menu-button").count() == 0  # three links: they fit on one line
    assert page.locator("#site-nav").bounding_box()["height"] < 48
    page.goto(f"{real_stack.base_url}/predictions/")
    assert page.text_content("#login-needed") == "Please log in to see that page."
    shoot(page, "login-needed")
    page.goto(f"{real_stack.base_url}/accounts/signup/")
    shoot(page, "signup")
    page.fill("#id_username", f"weak_{uuid.uuid4().hex[:8]}")
    page.fill("#id_password1", "123")
    page.fill("#id_password2", "123")
    page.click("#signup-form button[type=submit]")
    error = page.locator(".errorlist li").first
    assert "too short" in (error.text_content() or "")
    assert error.evaluate("(el) => getComputedStyle(el).color") == "rgb(180, 35, 24)"  # --danger, not grey
    shoot(page, "signup-errors")
    page.goto(f"{real_stack.base_url}/accounts/password_reset/")
    shoot(page, "password-reset")
    page.close()


def test_every_member_page_fits_a_laptop_and_a_phone(chromium: Any, real_stack: Stack, tmp_path: Path) -> None:
    page = signed_up_page(chromium, real_stack)
    base = real_stack.base_url
    shoot(page, "upload")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.is_visible("#menu-button") and not page.is_visible("#site-nav")  # collapsed, not three lines
    page.click("#menu-button")
    assert page.is_visible("#site-nav >> text=My predictions")
    assert page.get_attribute("#menu-button", "aria-expanded") == "true"
    page.screenshot(path=str(ARTIFACTS / "menu-open-390.png"), full_page=True)
    page.keyboard.press("Escape")
    assert not page.is_visible("#site-nav")
    assert page.is_visible("text=Tap to choose a photo") and not page.is_visible("text=Drop a photo here")
    assert page.is_disabled("#upload-submit")  # nothing to send yet
    shoot(page, "upload-no-photo")
    assert page.is_visible("text=Drop a photo here")  # back at 1280 px
    text = {"name": "notes.jpg", "mimeType": "image/jpeg", "buffer": photos.text_named_jpg()}
    page.set_input_files("#id_image", text)
    page.wait_for_selector("#upload-error:not([hidden])")
    assert "“notes.jpg” cannot be read as a photo" in (page.text_content("#upload-error") or "")
    assert page.is_disabled("#upload-submit") and page.is_visible("#dropzone-text")  # no picture to show
    small = {"name": "me.jpg", "mimeType": "image/jpeg", "buffer": photos.face_photo(320, 240)}
    page.set_input_files("#id_image", small)
    page.wait_for_selector("#preview:not([hidden])")
    assert page.is_enabled("#upload-submit") and page.is_hidden("#upload-error")
    assert (page.text_content("#chosen-name") or "").startswith("me.jpg (") and page.is_visible("#change-photo")
    shoot(page, "upload-chosen")

    page.click("#camera-start")
    page.wait_for_function("() => document.getElementById('camera-video').videoWidth > 0")
    assert not page.is_visible("#dropzone") and not page.is_visible("#upload-submit")
    assert not page.is_visible("#camera-start")
    shoot(page, "camera")
    page.click("#camera-stop")
    assert page.is_visible("#dropzone") and page.is_visible("#upload-submit")
    assert page.is_visible("#chosen")  # the photo chosen before the camera is still the one to send

    portrait = tmp_path / "portrait.jpg"
    portrait.write_bytes(photos.face_photo(480, 720))
    page.set_input_files("#id_image", str(portrait))
    page.click("#upload-submit")
    expect_result(page, "result-portrait.png")
    legend = [[cell.strip() for cell in row] for row in page.eval_on_selector_all(
        ".face-spread .groups-table tbody tr", "(rows) => rows.map((r) => [...r.cells].map((c) => c.textContent))"
    )]  # fmt: skip
    assert [row[0] for row in legend] == ["0-2", "3-6", "7-14", "15-23", "24-34", "35-44", "45-59", "60+"]
    assert all(re.fullmatch(r"<1%|\d{1,3}%", row[1]) for row in legend), legend
    # One age per face: the table marks the group that holds it, and so does the ring.
    age = int((page.text_content(".face-age") or "").split()[0])
    [(marked, mark)] = [(row[0], row[2]) for row in legend if row[2]]
    low, _, high = marked.rstrip("+").partition("-")
    assert mark == f"← {age} years" and int(low) <= age <= (int(high) if high else 200)
    ring = "() => Chart.getChart(document.querySelector('.face-chart canvas')).data.datasets[0].offset"
    offsets = page.evaluate(ring)
    assert [label for label, offset in zip([row[0] for row in legend], offsets, strict=True) if offset] == [marked]
    if page.locator(".face-details").count():  # the API has the second opinion's groups: under Details
        assert not page.is_visible(".second-opinion")
        page.click(".face-details summary")
        assert re.search(r"say about \d+ years", page.text_content(".face-details") or "")
        assert page.locator(".second-opinion tbody tr").count() == 8
    page.click("#how-to-read summary")
    assert "about 8 times in 10" in (page.text_content("#how-to-read") or "")
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(300)
        assert page.evaluate(OUTSIDE_CARD) == [], f"the result card overflows at {width} px"
    shoot(page, "result-portrait")

    page.goto(f"{base}/predictions/")
    assert page.text_content(".tile time") == "just now"
    shoot(page, "history")
    page.goto(f"{base}/accounts/profile/")
    curl = page.locator("#curl-example")
    assert curl.evaluate("(el) => el.scrollWidth <= el.clientWidth"), "the curl example is cut off"
    shoot(page, "profile")
    page.goto(f"{base}/api/v1/docs/")
    detail = page.locator(".opblock-get .opblock-summary-path[data-path='/api/v1/predictions/{prediction_id}/']")
    detail.click()
    example = page.locator(".opblock-get.is-open .responses-wrapper .highlight-code").first
    example.wait_for()
    assert "34.1" in (example.text_content() or "") and "9223372036854775807" not in (page.content())
    shoot(page, "api-docs")
    for name, path in [
        ("live", "/live/"), ("my-data", "/my-data/"), ("privacy", "/privacy/"),
        ("password-change", "/accounts/password_change/"), ("delete-account", "/accounts/delete/"),
        ("not-found", f"/p/{uuid.uuid4()}/"),
    ]:  # fmt: skip
        page.goto(base + path)
        shoot(page, name)
    page.close()
