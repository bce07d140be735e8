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
from tests.integration.test_browser import chromium, expect_result, shoot, signed_up_page, upload_face  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.real_estimator]
AGE = 87  # unusual, to find this answer among others in the shared review queue


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
    page.check(".fb-keep")
    page.click(".fb-no")
    page.wait_for_function("() => document.querySelector('.fb-status').textContent.startsWith('Thank you')")
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
    shoot(staff_page, "review")
    waiting = int((staff_page.text_content("#review-count") or "").split(" to go")[0])
    staff_page.keyboard.press("a")
    staff_page.wait_for_function("() => document.getElementById('review-status').textContent === 'Saved: accepted.'")
    staff_page.wait_for_function("() => document.getElementById('review-count').textContent.endsWith(' 1 reviewed')")
    assert staff_page.text_content("#review-count") == f"{waiting - 1} to go, 1 reviewed"
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
