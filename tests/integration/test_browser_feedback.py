"""In Chromium: a person answers "About right?" with consent; staff review it with one key.

Screenshots at 1280 and 390 px wide are kept under test-artifacts/ (neither may scroll sideways).
"""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import psycopg
import pytest

from harness.stack import ROOT, Stack
from tests.integration.test_browser import (  # noqa: F401
    WIDTHS,
    chromium,
    expect_result,
    shoot,
    signed_up_page,
    upload_face,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.real_estimator]
AGE = 87  # unusual, to find this answer among others in the shared review queue
# What staff's review and a shadow version would leave, written straight to the database: the
# page's answer accepted, and a retired version (nothing serves it) that scored its face.
REVIEWED_AND_SHADOWED = """
from estimator.models import Face, Feedback, ModelVersion, ShadowFace
active = ModelVersion.objects.get(state="active")
version, _ = ModelVersion.objects.get_or_create(version="browser-test-retired", defaults={
    "state": "retired", "meta": active.meta, "files": active.files, "registered_by": "test_browser_feedback"})
Feedback.objects.filter(face__prediction_id="{prediction}").update(state="accepted")
for face in Face.objects.filter(prediction_id="{prediction}"):
    ShadowFace.objects.get_or_create(face=face, model_version=version.version,
        defaults={"age": face.age + 1, "age_low": face.age_low, "age_high": face.age_high})
"""
# Each visible cell of each table: how it is drawn, and the column name drawn before it.
CELLS = """() => [...document.querySelectorAll('#dashboard-table, #versions-table, #comparison-table')].map((t) => ({
  table: t.id, sideways: t.scrollWidth - t.parentElement.clientWidth,
  head: t.tHead.getBoundingClientRect().height,
  rows: [...t.querySelectorAll('tbody tr, tfoot tr')].map((r) => getComputedStyle(r).display),
  cells: [...t.querySelectorAll('td[data-label], tfoot th[data-label]')].filter((c) => c.offsetParent)
    .map((c) => [c.dataset.label, getComputedStyle(c, '::before').content]),
}))"""


def wait_for_status(page: Any, *parts: str) -> None:
    """Until the first face's answer line says all of ``parts``."""
    page.wait_for_function(
        "(parts) => { const s = document.querySelector('.fb-status').textContent;"
        " return parts.every((p) => s.includes(p)); }",
        arg=list(parts),
    )


def kept_in_database(stack: Stack, page: Any) -> bool:
    prediction_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    rows = stack.sql(
        "SELECT fb.consent_to_train, fb.crop <> '' FROM estimator_feedback fb JOIN estimator_face f"
        " ON f.id = fb.face_id WHERE f.prediction_id = %s",
        prediction_id,
    )
    return bool(rows) and all(consent and crop for consent, crop in rows)


def test_a_face_is_kept_only_by_ticking_its_box_after_answering_and_never_again_by_itself(
    chromium: Any,  # noqa: F811
    real_stack: Stack,
) -> None:
    page = signed_up_page(chromium, real_stack)
    upload_face(page)
    expect_result(page, "feedback-consent-before.png")
    # Before an answer there is nothing to keep: the box waits, and says why.
    assert page.is_disabled(".fb-keep") and page.is_visible(".fb-keep-hint")

    page.click(".fb-yes")  # an answer without consent: numbers only
    wait_for_status(page, "Saved: about right", "Kept as numbers only")
    assert not page.is_checked(".fb-keep") and page.is_enabled(".fb-keep")
    assert not kept_in_database(real_stack, page)

    page.check(".fb-keep")  # the deliberate act: kept at once, and said so
    wait_for_status(page, "This face is kept to help improve the model")
    assert kept_in_database(real_stack, page)

    page.click(".fb-remove")  # removing the answer removes the face and unticks the box
    wait_for_status(page, "Your answer was removed, and the kept face deleted.")
    assert not page.is_checked(".fb-keep") and page.is_disabled(".fb-keep")
    assert real_stack.sql(
        "SELECT count(*) FROM estimator_feedback fb JOIN estimator_face f ON f.id = fb.face_id"
        " WHERE f.prediction_id = %s",
        page.url.rstrip("/").rsplit("/", 1)[-1],
    ) == [(0,)]

    page.fill(".fb-age", "41")  # answering again gives no consent by itself
    page.click(".fb-no")
    wait_for_status(page, "the real age is 41", "Kept as numbers only")
    assert not page.is_checked(".fb-keep") and not kept_in_database(real_stack, page)

    page.check(".fb-keep")  # ticked, then unticked: removed at once, and said so
    wait_for_status(page, "kept to help improve")
    page.uncheck(".fb-keep")
    wait_for_status(page, "Removed: the kept face was deleted.")
    assert not kept_in_database(real_stack, page)
    page.reload()  # the page starts from what is stored
    wait_for_status(page, "the real age is 41", "Kept as numbers only")
    assert not page.is_checked(".fb-keep")
    shoot(page, "feedback-consent-after")
    page.close()


def make_staff(stack: Stack, page: Any) -> str:
    username = (page.text_content("nav a[href='/accounts/profile/']") or "").strip()
    with psycopg.connect(stack.database_url) as conn:
        conn.execute("UPDATE accounts_user SET is_staff = true WHERE username = %s", (username,))
    return username


def test_a_person_answers_with_consent_and_staff_accept_it_with_one_key(
    chromium: Any,  # noqa: F811
    real_stack: Stack,
) -> None:
    page = signed_up_page(chromium, real_stack)
    upload_face(page)
    expect_result(page, "feedback-result-before.png")
    assert page.is_checked(".fb-keep") is False  # consent is opt-in
    page.click(".consent-details summary")
    assert "not your photo" in (page.text_content(".consent-text") or "")
    page.fill(".fb-age", str(AGE))
    page.press(".fb-age", "Enter")  # the age first, then Enter sends it
    wait_for_status(page, "Thank you")
    page.check(".fb-keep")
    wait_for_status(page, "Thank you", "kept to help improve")
    status = page.text_content(".fb-status") or ""
    assert f"the real age is {AGE}" in status and "kept to help improve the model" in status
    shoot(page, "feedback-answered")
    page.reload()  # the answer is stored: the page starts from it
    page.wait_for_function(
        "() => document.querySelector('.fb-status') && document.querySelector('.fb-status').textContent"
    )
    assert f"the real age is {AGE}" in (page.text_content(".fb-status") or "")
    assert page.is_checked(".fb-keep")
    page.goto(f"{real_stack.base_url}/my-data/")
    page.wait_for_function("() => [...document.querySelectorAll('.kept-faces img')].every((i) => i.naturalWidth > 0)")
    assert page.text_content("#kept-count") == "1"
    shoot(page, "my-data")
    page.close()

    staff_page = signed_up_page(chromium, real_stack)
    staff_name = make_staff(real_stack, staff_page)
    staff_page.goto(f"{real_stack.base_url}/review/")
    staff_page.wait_for_selector("#review-item:not([hidden])")
    for _ in range(50):  # other tests' answers may wait ahead of this one
        if staff_page.text_content("#review-answer") == f"Real age {AGE}":
            break
        staff_page.keyboard.press("s")
        staff_page.wait_for_timeout(100)
    assert staff_page.text_content("#review-answer") == f"Real age {AGE}"
    staff_page.wait_for_function("() => document.getElementById('review-crop').naturalWidth === 128")
    staff_page.wait_for_function(
        "() => { const c = document.getElementById('review-chart'); return !!(window.Chart && Chart.getChart(c)); }"
    )
    assert re.fullmatch(r"\d+ years \(likely \d+ to \d+\)", staff_page.text_content("#review-estimate") or "")
    assert staff_page.is_visible("#review-criteria >> text=Reject")  # what each verdict means, on the page
    crop = staff_page.eval_on_selector("#review-crop", "(el) => [el.clientWidth, getComputedStyle(el).imageRendering]")
    assert crop == [256, "pixelated"]  # twice the crop's 128 px, unsmoothed
    shoot(staff_page, "review")
    count = re.fullmatch(r"Face \d+ of (\d+) waiting, 0 reviewed", staff_page.text_content("#review-count") or "")
    assert count, staff_page.text_content("#review-count")
    waiting = int(count[1])
    staff_page.keyboard.press("a")
    staff_page.wait_for_function("() => document.getElementById('review-status').textContent === 'Saved: accepted.'")
    staff_page.wait_for_function("() => document.getElementById('review-count').textContent.endsWith(' 1 reviewed')")
    after = staff_page.text_content("#review-count") or ""
    assert re.fullmatch(rf"(Face \d+ of {waiting - 1}|None) waiting, 1 reviewed", after), after
    assert staff_page.is_visible("#review-status")  # "Saved" stays in sight, even after the last face
    [(state, reviewer)] = real_stack.sql(
        "SELECT fb.state, u.username FROM estimator_feedback fb JOIN accounts_user u ON u.id = fb.reviewer_id"
        " WHERE fb.true_age = %s",
        AGE,
    )
    assert (state, reviewer) == ("accepted", staff_name)
    staff_page.goto(f"{real_stack.base_url}/review/dashboard/")
    staff_page.wait_for_selector("#dashboard-table")
    shoot(staff_page, "dashboard")
    assert staff_page.locator("nav a[href='/review/']").count() == 1
    staff_page.goto(f"{real_stack.base_url}/privacy/")
    shoot(staff_page, "privacy")
    staff_page.close()


def test_after_the_photo_is_deleted_the_result_page_keeps_the_ages_and_offers_no_keeping(
    chromium: Any,  # noqa: F811
    real_stack: Stack,
) -> None:
    page = signed_up_page(chromium, real_stack)
    upload_face(page)
    expect_result(page, "feedback-result-before-retention.png")
    prediction_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    with psycopg.connect(real_stack.database_url) as conn:
        conn.execute(
            "UPDATE estimator_prediction SET created_at = now() - interval '40 days' WHERE id = %s", (prediction_id,)
        )
    subprocess.run(
        [sys.executable, "manage.py", "delete_expired_photos"], cwd=ROOT, env=real_stack.env, check=True, timeout=120
    )
    page.reload()
    page.wait_for_selector(".face-card .feedback")
    assert "Photo deleted after 30 days" in (page.text_content("#photo") or "")
    assert page.locator(".fb-keep").count() == 0
    assert "can no longer be kept" in (page.text_content(".feedback") or "")
    page.click(".fb-yes")
    page.wait_for_function("() => document.querySelector('.fb-status').textContent.startsWith('Thank you')")
    assert "Kept as numbers only." in (page.text_content(".fb-status") or "")
    shoot(page, "result-photo-deleted")
    page.close()


def test_the_dashboard_on_a_phone_stacks_table_rows_into_labelled_lines_and_its_chart_keeps_points_off_the_axis(
    chromium: Any,  # noqa: F811
    real_stack: Stack,
) -> None:
    page = signed_up_page(chromium, real_stack)
    upload_face(page)
    expect_result(page, "dashboard-phone-result.png")
    page.fill(".fb-age", "52")
    page.press(".fb-age", "Enter")
    wait_for_status(page, "the real age is 52")
    prediction = page.url.rstrip("/").rsplit("/", 1)[-1]
    script = REVIEWED_AND_SHADOWED.replace("{prediction}", prediction)
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT, env=real_stack.env, check=True, timeout=120
    )
    make_staff(real_stack, page)
    page.goto(f"{real_stack.base_url}/review/dashboard/")
    (laptop, _), (phone, _) = WIDTHS
    page.set_viewport_size({"width": phone, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    tables = page.evaluate(CELLS)
    assert [t["table"] for t in tables] == ["dashboard-table", "versions-table", "comparison-table"]
    for table in tables:
        assert table["sideways"] <= 0, f"{table['table']} scrolls sideways at {phone} px"
        assert table["head"] <= 1 and set(table["rows"]) == {"block"}, f"{table['table']} is not stacked"
        assert table["cells"] and all(drawn == f'"{label}"' for label, drawn in table["cells"]), table["cells"]
    # The weekly chart: each week a point, off the y axis even when it is the only one, and a
    # legend of points, not of a bar chart's boxes.
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('dashboard-chart'))")
    chart = page.evaluate(
        "() => { const c = Chart.getChart(document.getElementById('dashboard-chart'));"
        " const first = c.getDatasetMeta(0).data.find((p) => !p.skip);"
        " return [first.x - c.chartArea.left, c.options.plugins.legend.labels.usePointStyle]; }"
    )
    assert chart[0] > 20 and chart[1] is True, chart
    shoot(page, "dashboard-phone")
    page.set_viewport_size({"width": laptop, "height": 900})  # a laptop keeps the tables as tables
    page.wait_for_timeout(300)
    assert all(t["head"] > 1 and t["sideways"] <= 0 for t in page.evaluate(CELLS))
    page.close()
