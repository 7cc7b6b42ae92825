"""End to end in a real headless Chromium: start `streamlit run app.py`, launch the demo from the browser, watch the
live view update, open the results (Figure 2 and Table 1), visit every page without an exception, and save a PNG
screenshot of each page under docs/screenshots/ (shown in the README). A second walk builds a partition by clicking
the picture, reloads, and runs a granularity sweep on the demo to its comparison view.

Uses Debian's chromium (`apt-get install chromium`), never `playwright install`. When the demo zoo is not built,
the toy world stands in for it through $MANIFOLDMIX_DEMO_CONFIG.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO / "docs" / "screenshots"
PAGES = ("ingredients", "datasets", "partition", "run", "results", "experiments", "paper")

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # .ci/run installs it: a missing browser in CI is a failure, not a skip
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium)", pytrace=False)
    pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)", allow_module_level=True)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright, pointed at the system Chromium."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--no-first-run"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1000}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(tmp_path: Path, toy_world: Path, toy_as_demo: bool) -> Iterator[str]:
    """`streamlit run app.py` on a free loopback port, with its own runs root; yields the base URL."""
    env = {**os.environ, "MANIFOLDMIX_RUNS": str(tmp_path / "runs"), "MANIFOLDMIX_UPLOADS": str(tmp_path / "uploads"),
           "MANIFOLDMIX_ROOTS": os.pathsep.join([str(REPO / "data"), str(toy_world.parent)])}
    if toy_as_demo:
        env["MANIFOLDMIX_DEMO_CONFIG"] = str(toy_world)
    port = free_port()
    started = time.time()
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                "--server.address", "127.0.0.1", "--server.headless", "true"],
                               cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.time() - started < 60, "streamlit did not come up within 60 s"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def server(tmp_path, toy_world):
    """The app on the shipped demo (the toy world stands in when the demo zoo is not built)."""
    from manifoldmix_core.demo.paths import demo_ready
    with streamlit_server(tmp_path, toy_world, toy_as_demo=not demo_ready()) as url:
        yield url


BUSY = ('[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"], '
        '[data-testid="stSpinner"], [data-testid="stCacheSpinner"]')


def settle(page, quiet_s: float = 1.5, timeout_s: float = 90) -> None:
    """Wait until Streamlit has shown no running script or spinner for quiet_s seconds."""
    page.wait_for_selector('[data-testid="stApp"]')
    deadline, quiet_since = time.time() + timeout_s, time.time()
    while time.time() < deadline:
        if page.locator(BUSY).count():
            quiet_since = time.time()
        elif time.time() - quiet_since >= quiet_s:
            return
        page.wait_for_timeout(250)
    raise AssertionError("the page kept running for more than 90 s")


def no_exception(page) -> None:
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def flowchart_text_px(page) -> float:
    """Height in pixels of the smallest text in the Algorithm 1 flowchart as drawn (the page scales it to its column)."""
    texts = page.locator('[data-testid="stGraphVizChart"] svg text').all()
    assert texts, "no Algorithm 1 flowchart on the page"
    return min(t.bounding_box()["height"] for t in texts)


def test_demo_run_live_view_results_and_every_page(server, page):
    page.goto(server)
    page.get_by_text("ManifoldMix Studio", exact=True).first.wait_for(timeout=30_000)
    settle(page)
    no_exception(page)
    assert flowchart_text_px(page) >= 12  # glyphs 12 px tall or more, readable on a projector: they were 8 px
    shoot(page, "start")

    page.get_by_role("button", name="Run the demo").click()
    page.wait_for_url(re.compile(r"/run\?run=.*-demo"), timeout=30_000)
    metric = page.locator('[data-testid="stMetricValue"]').first
    metric.wait_for(timeout=30_000)
    seen, deadline = set(), time.time() + 600  # zoo v3's demo run takes about 4 minutes on two loaded cores
    while time.time() < deadline:
        seen.add(metric.inner_text())
        if len(seen) >= 2 and page.get_by_text("running", exact=True).count():
            shoot(page, "run_live")
        if page.get_by_text("finished", exact=True).count():
            break
        page.wait_for_timeout(500)
    assert page.get_by_text("finished", exact=True).count(), "the demo run did not finish in time"
    assert len(seen) >= 2, f"the live view never updated: {seen}"
    settle(page)
    no_exception(page)
    assert flowchart_text_px(page) >= 12
    shoot(page, "run")

    page.get_by_role("button", name="Open results").click()
    page.wait_for_url(re.compile(r"/results\?runs="), timeout=30_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=30_000)
    settle(page)
    no_exception(page)
    shoot(page, "results")

    for name in PAGES:
        page.goto(f"{server}/{name}")
        page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=60_000)
        settle(page)
        no_exception(page)
        if name not in ("run", "results"):
            shoot(page, name)


def click_unit(page, index: int) -> None:
    """A real click on the Partition picture's unit `index` (bottom-up: embeddings, block 0 attention, ...): hover first,
    as a user's pointer does, since plotly selects the point under the hover."""
    box = page.locator('.js-plotly-plot .bars .point path').nth(index).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    settle(page)


def picture_labels(page) -> str:
    return page.locator('.js-plotly-plot .barlayer').first.text_content()


def test_partition_by_clicking_survives_a_reload_and_a_sweep_compares_settings(server, page, tmp_path):
    """Issue 9's acceptance walk on the demo: build a custom partition by clicking the picture, reload, find it still
    there, launch a 2-setting x 2-seed sweep and see the comparison with 2 settings and error bars. Coarse and medium
    only, at 3 evaluations per component (set on the Run page)."""
    page.goto(f"{server}/partition")  # a deep link to a fresh server: the app's navigation, not a pages/ folder's
    page.locator('[data-testid="stMain"] h1').filter(has_text="Partition").wait_for(timeout=60_000)
    settle(page)
    assert page.get_by_role("link", name="Experiments").count() and not page.get_by_role("link", name="app").count()
    page.get_by_label("New component").fill("stem")
    page.get_by_label("New component").press("Enter")
    settle(page)
    page.get_by_role("button", name="Add", exact=True).click()
    settle(page)
    assert "stem" not in picture_labels(page)
    click_unit(page, 0)  # embeddings
    click_unit(page, 1)  # block 0 attention: a second click on a fresh picture works too
    assert picture_labels(page).count("stem") == 2, picture_labels(page)
    no_exception(page)
    valid = page.get_by_text(re.compile(r"Valid: \d+ components?")).first.inner_text()
    assert "ws=" in page.url
    shoot(page, "partition")

    page.reload()
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=60_000)
    settle(page)
    assert page.get_by_text(re.compile(r"Valid: \d+ components?")).first.inner_text() == valid
    assert picture_labels(page).count("stem") == 2

    # A quick sweep, as a teacher would set one up for a lesson: 3 λ-search evaluations per component instead of the
    # demo's 60 per candidate (each member then takes about a minute on two cores, not three); the sweep runs what
    # the Run page's one budget control says.
    page.goto(page.url.replace("/partition", "/run"))
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=60_000)
    settle(page)
    page.get_by_label("Budget per component (evaluations)", exact=True).fill("3")
    page.get_by_label("Budget per component (evaluations)", exact=True).press("Enter")
    settle(page)

    page.goto(page.url.replace("/run", "/experiments"))
    page.locator('[data-testid="stMain"] h1').first.wait_for(timeout=60_000)
    settle(page)
    page.get_by_role("button", name="fine").click()
    settle(page)
    page.get_by_role("button", name="whole").click()  # coarse, medium
    settle(page)
    page.get_by_role("button", name="OnePlusOne").click()  # seeds change its search (Cobyla's they do not)
    settle(page)
    page.get_by_role("button", name="Cobyla").click()
    settle(page)
    page.get_by_label("Seeds per setting", exact=True).fill("2")
    page.get_by_label("Seeds per setting", exact=True).press("Enter")
    settle(page)
    page.get_by_text("2 settings × 2 seeds = 4 runs").wait_for(timeout=30_000)
    page.get_by_role("button", name="Run sweep").click()
    page.wait_for_url(re.compile(r"sweep="), timeout=30_000)
    page.get_by_text("Settings compared (%)").wait_for(timeout=300_000)
    deadline = time.time() + 420
    while time.time() < deadline and not page.get_by_text(re.compile(r"finished · 4 finished")).count():
        page.wait_for_timeout(1000)
    settle(page)
    no_exception(page)
    assert page.get_by_text(re.compile(r"finished · 4 finished")).count(), "the sweep did not finish in time"
    members = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("config.json")]
    assert len(members) == 4 and all(m["manifoldmix"]["budget_per_component"] == 3 and m["manifoldmix"].get("budget") is None
                                     for m in members)
    figure = page.locator(".js-plotly-plot").first
    assert figure.locator(".scatterlayer .trace").count() == 2
    assert figure.locator(".errorbar").count() >= 2
    assert figure.locator(".ytitle").text_content().startswith("ID test (")  # the demo's ID test set, named
    spreads = [max(bar.locator("path.xerror").bounding_box()["width"], bar.locator("path.yerror").bounding_box()["height"])
               for bar in figure.locator(".errorbar").all()]
    assert max(spreads) > 4, f"every setting has sd 0 over its seeds: {spreads}"  # an error bar longer than its caps
    shoot(page, "experiments")


def test_paper_replay_plays_and_pauses(server, page):
    """Play animates the author's C8 replay (st.fragment(run_every=...), which AppTest cannot run): from hour 0 the
    slider and the candidates counter move on their own; Pause holds them; Play at the end starts over."""
    page.goto(server)
    settle(page)
    page.get_by_role("link", name="Paper").click()
    page.locator('[data-testid="stMain"] h1').filter(has_text="Paper").wait_for(timeout=60_000)
    settle(page)
    hour = page.locator('[data-testid="stSliderThumbValue"]').first
    candidates = page.locator('[data-testid="stMetricValue"]').first
    end, all_candidates = hour.inner_text(), candidates.inner_text()
    page.get_by_role("button", name="Play").click()
    page.get_by_role("button", name="Pause").wait_for(timeout=10_000)
    deadline = time.time() + 10
    while float(hour.inner_text()) >= float(end) and time.time() < deadline:  # the slider is redrawn just after the button
        page.wait_for_timeout(100)
    seen, deadline = [], time.time() + 60
    while time.time() < deadline and len(set(seen)) < 4:
        seen.append((float(hour.inner_text()), int(candidates.inner_text())))
        page.wait_for_timeout(400)
    hours = [h for h, _ in dict.fromkeys(seen)]
    assert len(hours) >= 4 and hours == sorted(hours) and hours[0] < float(end), f"the replay did not play: {seen}"
    assert min(c for _, c in seen) < int(all_candidates), seen  # the counters follow: early on, few candidates are shown
    page.get_by_role("button", name="Pause").click()
    settle(page)
    held = hour.inner_text()
    page.wait_for_timeout(2000)
    assert hour.inner_text() == held and float(held) < float(end)
    page.get_by_role("button", name="Play").wait_for(timeout=10_000)
    no_exception(page)
