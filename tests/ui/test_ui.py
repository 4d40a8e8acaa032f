"""The web UI in headless Chromium: every page loads without a console error, and shows what
was seeded. Screenshots go to target/ui-screenshots/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

HOSTILE = "<script>alert(1)</script>"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "target" / "ui-screenshots"


def open_page(browser, url: str, shot: str) -> None:
    """Loads `url`, saves its screenshot, and fails on an error page or a SEVERE console entry."""
    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(url)
    browser.save_screenshot(str(SCREENSHOTS / f"{shot}.png"))
    title = browser.title
    assert not title[:1].isdigit(), f"{url} is an error page: {title}: {browser.find_element(By.TAG_NAME, 'main').text}"
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, f"{url}: console errors {severe}"


def pages(s) -> dict[str, str]:
    a, b = s.run_ids["ridge-a"], s.run_ids["ridge-b"]
    return {
        "experiments": "/ui/experiments",
        "runs": f"/ui/experiments/{s.experiment_id}",
        "runs-filtered": f"/ui/experiments/{s.experiment_id}?filter={quote('metrics.rmse < 0.5')}&order={quote('metrics.rmse ASC')}",
        "run": f"/ui/runs/{a}",
        "compare": f"/ui/compare?run={a}&run={b}",
        "models": "/ui/models",
        "model": f"/ui/models/{s.model}",
        "pipelines": "/ui/pipelines",
        "pipeline": f"/ui/pipelines/{s.pipeline}",
        "pipeline-run": f"/ui/pipeline-runs/{s.pipeline_run_id}",
        "lineage": f"/ui/lineage?subject={s.pipeline_run_id}",
        "endpoints": "/ui/endpoints",
        "monitors": "/ui/monitors",
        "monitor": f"/ui/monitors/{s.monitor}",
        "decisions": "/ui/decisions",
        "hostile-experiment": f"/ui/experiments/{s.hostile_experiment_id}",
    }


PAGE_NAMES = ["experiments", "runs", "runs-filtered", "run", "compare", "models", "model", "pipelines", "pipeline",
              "pipeline-run", "lineage", "endpoints", "monitors", "monitor", "decisions", "hostile-experiment"]


@pytest.mark.parametrize("shot", PAGE_NAMES)
def test_every_page_loads_without_console_errors(browser, seeded, shot):
    open_page(browser, seeded.url + pages(seeded)[shot], shot)


def test_every_page_is_listed(seeded):
    assert sorted(pages(seeded)) == sorted(PAGE_NAMES)


def test_the_root_redirects_to_the_ui(browser, seeded):
    browser.get(seeded.url + "/")
    assert browser.current_url == seeded.url + "/ui/"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Experiments"


def test_the_runs_table_lists_the_seeded_runs_and_filters(browser, seeded):
    open_page(browser, f"{seeded.url}/ui/experiments/{seeded.experiment_id}", "runs-table")
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody td:nth-child(2) a")]
    assert sorted(names) == ["ridge-a", "ridge-b", "ridge-c"]
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "thead th")]
    assert "param alpha" in headers and "metric rmse" in headers
    box = browser.find_element(By.NAME, "filter")
    box.send_keys("metrics.rmse < 0.5")
    box.submit()
    WebDriverWait(browser, 10).until(lambda b: "filter=" in b.current_url)
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody td:nth-child(2) a")]
    assert names == ["ridge-a"], "only ridge-a ends below 0.5 (0.42)"


def test_selected_runs_compare_with_their_histories(browser, seeded):
    open_page(browser, f"{seeded.url}/ui/experiments/{seeded.experiment_id}", "before-compare")
    boxes = browser.find_elements(By.CSS_SELECTOR, "input[type=checkbox][name=run]")
    boxes[0].click()
    boxes[1].click()
    browser.find_element(By.CSS_SELECTOR, "input[type=submit][value='Compare selected runs']").click()
    WebDriverWait(browser, 10).until(lambda b: b.title.startswith("Comparing 2 runs"))
    browser.save_screenshot(str(SCREENSHOTS / "compare-from-selection.png"))
    lines = browser.find_elements(By.CSS_SELECTOR, "svg#compare-rmse polyline.series")
    assert len(lines) == 2
    assert all(len(line.get_attribute("points").split()) == 5 for line in lines), "5 steps each"


def test_the_dag_shows_the_steps_with_their_status(browser, seeded):
    open_page(browser, f"{seeded.url}/ui/pipeline-runs/{seeded.pipeline_run_id}", "dag")
    steps = browser.find_elements(By.CSS_SELECTOR, ".dag svg g.step")
    assert sorted(g.get_attribute("data-step") for g in steps) == ["prepare", "train"]
    assert all("status-succeeded" in g.get_attribute("class") for g in steps)
    fills = {g.find_element(By.TAG_NAME, "rect").get_attribute("fill") for g in steps}
    assert fills == {"#c8e6c9"}, "succeeded steps are filled green"
    assert steps[0].is_displayed() and steps[0].size["width"] > 0


def test_the_monitor_chart_draws_the_drift_share(browser, seeded):
    open_page(browser, f"{seeded.url}/ui/monitors/{seeded.monitor}", "monitor-chart")
    line = browser.find_element(By.CSS_SELECTOR, "svg#drift-share polyline.series")
    points = line.get_attribute("points").split()
    # Evaluated at 2025-01-02 (one window) then at 2025-01-06 (four more): five windows.
    assert len(points) == 5
    # Each point is its window's recorded share (from the API), on a y axis from 0 to 1:
    # SVG y = 210 - 196 * share (the plot spans y 14..210 of the 240 px chart).
    windows = requests.get(f"{seeded.url}/api/2.0/esteira/monitors/results", params={"name": seeded.monitor}).json()
    shares = [w["summary"]["drift_share"] for w in windows["windows"]]
    assert shares[0] == 0 and shares[-1] == 1, shares  # day 0 as in training; day 4 price and promo moved
    ys = [float(p.split(",")[1]) for p in points]
    assert ys == pytest.approx([210 - 196 * share for share in shares], abs=0.06)
    assert line.size["width"] > 100, "the line is laid out across the chart"
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table td:first-child")]
    assert "price" in cells and "promo" in cells
    # The per-column history: price drifts from day 2 (the third window) on, promo from day 3.
    history = browser.find_element(By.XPATH, "//h2[text()='Drift per column over time']/following-sibling::table[1]")
    verdicts = {row.find_elements(By.TAG_NAME, "td")[0].text: [td.text for td in row.find_elements(By.TAG_NAME, "td")[1:]]
                for row in history.find_elements(By.CSS_SELECTOR, "tbody tr")}
    assert verdicts["price"][2:] == ["drifted"] * 3 and verdicts["promo"][3:] == ["drifted"] * 2, verdicts


def test_a_hostile_name_is_shown_as_text(browser, seeded):
    open_page(browser, f"{seeded.url}/ui/experiments", "hostile")
    assert HOSTILE in browser.find_element(By.TAG_NAME, "main").text
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018  (reading it is what raises)
    assert not browser.find_elements(By.CSS_SELECTOR, "main script")


def test_the_ledger_shows_each_decision_with_its_reasons(browser, seeded):
    open_page(browser, f"{seeded.url}/ui/decisions", "ledger")
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody tr")
    outcomes = [row.find_elements(By.TAG_NAME, "td")[2].text for row in rows]
    # One decision per window. The share reaches 1 only in the last windows (days 3 and 4):
    # the first retrains, the second is within the 2-day cooldown.
    assert outcomes[:2] == ["cooldown", "retrain"], outcomes
    assert set(outcomes[2:]) == {"avoided"}, outcomes
    assert all("ui-inputs: drift_share >= 1" in row.text for row in rows)
