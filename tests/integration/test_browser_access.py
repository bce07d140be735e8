"""In Chromium: no page has a serious accessibility problem (axe-core), and a group photo's
result works on a phone: no sideways scroll, labels beside the faces never over them, the
faces in sight while their cards scroll, a tap on a face to its card and back.

axe-core is installed by `make setup-test` (npm) at the version the Makefile names.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness import photos
from harness.stack import ROOT, Stack
from tests.integration.test_browser import SIDEWAYS, chromium, shoot, signed_up_page  # noqa: F401
from tests.integration.test_browser_feedback import make_staff, wait_for_status

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.real_estimator]

AXE_VERSION = re.search(r"^AXE_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)[1]  # type: ignore[index]
AXE = ROOT / ".cache" / f"axe-{AXE_VERSION}" / "node_modules" / "axe-core" / "axe.min.js"
PHONE, LAPTOP = {"width": 390, "height": 844}, {"width": 1280, "height": 900}
SERIOUS = """async () => (await axe.run(document, { resultTypes: ["violations"] })).violations
  .filter((v) => v.impact === "serious" || v.impact === "critical")
  .map((v) => v.impact + " " + v.id + ": " + v.help + " at " + v.nodes.map((n) => n.target.join(" ")).join(", "))"""
RECT = "(el) => { const r = el.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }"


def axe_problems(page: Any, name: str) -> list[str]:
    """axe-core's serious and critical findings on the page as it is, at a laptop's and a phone's width."""
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed: run `make setup-test` (it installs {AXE.relative_to(ROOT)})")
    problems = []
    for size in (LAPTOP, PHONE):
        page.set_viewport_size(size)
        page.wait_for_timeout(300)  # charts redraw at the new size
        page.add_script_tag(path=str(AXE))
        problems += [f"{name} at {size['width']} px: {problem}" for problem in page.evaluate(SERIOUS)]
    page.set_viewport_size(LAPTOP)
    return problems


def upload(page: Any, stack: Stack, data: bytes, faces: int) -> None:
    page.goto(f"{stack.base_url}/upload/")
    page.set_input_files("#id_image", {"name": "group.jpg", "mimeType": "image/jpeg", "buffer": data})
    page.click("#upload-submit")
    page.wait_for_url(re.compile(r"/p/[0-9a-f-]{36}/$"))
    page.wait_for_function(f"() => document.querySelectorAll('.face-card').length === {faces}")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.face-chart canvas')].every((c) => window.Chart && Chart.getChart(c))"
    )
    page.wait_for_timeout(500)  # the rings' animation


def rects(page: Any, selector: str) -> list[list[float]]:
    return [el.evaluate(RECT) for el in page.query_selector_all(selector) if el.is_visible()]


def overlapping(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def test_no_page_has_a_serious_accessibility_problem(chromium: Any, real_stack: Stack) -> None:  # noqa: F811
    base = real_stack.base_url
    visitor = chromium.new_page(viewport=LAPTOP)
    visitor.goto(f"{base}/")
    problems = axe_problems(visitor, "home")
    visitor.close()

    page = signed_up_page(chromium, real_stack)
    problems += axe_problems(page, "upload")
    upload(page, real_stack, photos.group_photo(3), faces=3)
    page.fill(".fb-age", "44")
    page.press(".fb-age", "Enter")
    wait_for_status(page, "Thank you")
    page.check(".fb-keep")
    wait_for_status(page, "kept to help improve")
    for opened in ("#how-to-read summary", ".face-details summary", "#delete summary", "#result-details summary"):
        page.click(opened)
    problems += axe_problems(page, "result")
    page.goto(f"{base}/live/")
    page.click("#stream-start")
    page.wait_for_function("() => document.getElementById('stream-status').textContent === 'Live'")
    problems += axe_problems(page, "live")
    page.goto(f"{base}/my-data/")
    problems += axe_problems(page, "my data")

    make_staff(real_stack, page)
    page.goto(f"{base}/review/")
    page.wait_for_selector("#review-item:not([hidden])")
    page.wait_for_function("() => document.getElementById('review-crop').naturalWidth > 0")
    problems += axe_problems(page, "review")
    page.goto(f"{base}/review/dashboard/")
    page.wait_for_selector("#dashboard-table")
    problems += axe_problems(page, "dashboard")
    page.close()
    assert problems == [], "axe-core found:\n" + "\n".join(problems)


def test_a_group_photo_on_a_phone_keeps_the_faces_in_sight_and_uncovered(
    chromium: Any,  # noqa: F811
    real_stack: Stack,
) -> None:
    page = signed_up_page(chromium, real_stack)
    page.emulate_media(reduced_motion="reduce")  # jumps, not smooth scrolls, for the measurements
    upload(page, real_stack, photos.group_photo(3), faces=3)
    for size in (LAPTOP, PHONE):
        page.set_viewport_size(size)
        page.wait_for_timeout(300)
        assert page.evaluate(SIDEWAYS) <= 0, f"the group result scrolls sideways at {size['width']} px"
        faces, labels = rects(page, "#photo .box"), rects(page, "#photo .box-label")
        assert len(faces) == 3
        covered = [(label, face) for label in labels for face in faces if overlapping(label, face)]
        assert covered == [], f"labels over faces at {size['width']} px"
    page.set_viewport_size(LAPTOP)
    page.wait_for_timeout(300)
    assert len(rects(page, "#photo .box-label")) == 3  # room for every label on a laptop
    page.click("#photo .box >> nth=2")  # a face on the photo leads to its card ...
    page.wait_for_function("() => location.hash === '#face-3'")
    top, bottom = page.eval_on_selector("#photo", RECT)[1::2]
    assert top >= 0 and bottom <= LAPTOP["height"], "the photo scrolled away from its cards"

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    assert page.locator(".strip-face").count() == 3 and page.is_visible("#face-strip")
    page.click(".strip-face >> nth=2")  # ... and on a phone, a face in the strip
    page.wait_for_function("() => location.hash === '#face-3'")
    strip, card = page.eval_on_selector("#face-strip", RECT), page.eval_on_selector("#face-3", RECT)
    assert -1 <= strip[1] <= 1, "the strip of faces is not kept at the top"
    assert strip[3] - 1 <= card[1] < PHONE["height"], "the card is not in sight below the strip"
    middles = page.eval_on_selector_all(
        ".strip-face canvas", "(cs) => cs.map((c) => [...c.getContext('2d').getImageData(48, 48, 1, 1).data])"
    )
    assert len(middles) == 3 and all(pixel[:3] != [11, 15, 25] for pixel in middles)  # a face, not the empty backdrop
    page.click("#face-3 .to-photo")  # back to the face on the photo, marked
    page.wait_for_function("() => document.querySelector('#photo .box[data-face=\"2\"]').classList.contains('current')")
    top = page.eval_on_selector("#photo", RECT)[1]
    assert -1 <= top < PHONE["height"] / 2
    shoot(page, "result-group")
    page.close()


def test_a_three_face_result_on_a_laptop_is_under_2000_px_tall_with_each_age_beside_its_ring(
    chromium: Any,  # noqa: F811
    real_stack: Stack,
) -> None:
    page = signed_up_page(chromium, real_stack)
    page.set_viewport_size(LAPTOP)
    upload(page, real_stack, photos.group_photo(3), faces=3)
    page.wait_for_timeout(300)
    height = page.evaluate("() => document.documentElement.scrollHeight")
    shoot(page, "result-group-compact")
    assert height < 2000, f"a three-face result is {height} px tall on a laptop"
    for size in (LAPTOP, PHONE):  # compact on a phone too: the ring and the age side by side
        page.set_viewport_size(size)
        page.wait_for_timeout(300)
        for card in range(1, 4):
            ring = page.eval_on_selector(f"#face-{card} .face-chart", RECT)
            age = page.eval_on_selector(f"#face-{card} .face-age", RECT)
            assert ring[2] <= age[0] and ring[1] < age[3] and age[1] < ring[3], f"face {card} at {size['width']} px"
    page.close()


def test_the_upload_page_shows_where_the_keyboard_is(chromium: Any, real_stack: Stack) -> None:  # noqa: F811
    page = signed_up_page(chromium, real_stack)
    for _ in range(30):  # from the top of the page to the file input, as a keyboard user goes
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.id") == "id_image":
            break
    assert page.evaluate("() => document.activeElement.id") == "id_image"
    outline = page.eval_on_selector("#dropzone", "(el) => getComputedStyle(el).outlineStyle")
    assert outline == "solid", "the focused file input's drop zone shows no focus ring"
    page.close()
