"""The per-model strip plots: server-rendered SVG, one dot per measured run, every label
escaped, p50 and p95 marked, an axis in ms or s, and the chart told in words."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from django.test import Client

from playground.models import Run
from playground.suites.charts import Series, jitter, ms_label, nice_ticks, strip_plot
from playground.suites.services import ModelSpec
from tests.suites.runs import answers, create_run, finish

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def title(element: ET.Element) -> str:
    found = element.find(f"{SVG}title")
    assert found is not None and found.text is not None
    return found.text


def label(root: ET.Element) -> str:
    value = root.get("aria-label")
    assert value is not None
    return value


def test_one_dot_per_run_with_p50_and_p95_marks():
    svg = str(
        strip_plot(
            title="Time to first token",
            series=[
                Series("sim:alpha", [(1, 120.0), (2, 180.0), (3, 950.0)], p50=180.0, p95=873.0),
                Series("sim:beta", [(4, 2400.0)], p50=2400.0, p95=2400.0),
            ],
        )
    )
    root = parse(svg)
    assert len(root.findall(f".//{SVG}circle")) == 4
    marks = [line.get("class") for line in root.iter(f"{SVG}line")]
    assert marks.count("mark p50") == 2 and marks.count("mark p95") == 2
    # The axis runs from 0 past the largest value, labelled in ms below a second, s above.
    ticks = [text.text for text in root.iter(f"{SVG}text") if text.get("class") == "tick"]
    assert ticks == ["0 ms", "500 ms", "1 s", "1.5 s", "2 s", "2.5 s"]
    # Accessible: a role, a title, and the figures in words.
    assert root.get("role") == "img"
    assert title(root) == "Time to first token"
    described = label(root)
    assert "sim:alpha: 3 runs, p50 180 ms, p95 873 ms" in described
    assert "sim:beta: 1 run, p50 2.4 s" in described
    # Each dot says which run it is.
    titles = [title(c) for c in root.iter(f"{SVG}circle")]
    assert "sim:alpha: 950 ms (run 3)" in titles


def test_dots_are_placed_by_value_and_jittered_deterministically():
    series = [Series("m", [(run, 100.0) for run in range(1, 30)], p50=100.0, p95=100.0)]
    first, again = (
        str(strip_plot(title="t", series=series)),
        str(strip_plot(title="t", series=series)),
    )
    assert first == again  # the same page twice, or in another process, looks the same
    root = parse(first)
    xs = {c.get("cx") for c in root.iter(f"{SVG}circle")}
    ys = {c.get("cy") for c in root.iter(f"{SVG}circle")}
    assert len(xs) == 1  # equal values, equal x
    assert len(ys) > 10  # spread up and down so that they do not hide each other
    assert all(-1 <= jitter(run) < 1 for run in range(1000))


def test_labels_are_escaped():
    hostile = '<script>alert("x")</script>&"model"'
    svg = str(
        strip_plot(title='Time <b>"title"</b>', series=[Series(hostile, [(1, 5.0)], 5.0, 5.0)])
    )
    assert "<script>" not in svg and "<b>" not in svg
    assert "&lt;script&gt;" in svg
    root = parse(svg)  # still well-formed: nothing broke out of an attribute or a text node
    assert hostile in label(root)
    assert title(root) == 'Time <b>"title"</b>'


def test_a_model_without_measured_runs_says_so():
    svg = str(strip_plot(title="Total time", series=[Series("sim:beta", [], None, None)]))
    root = parse(svg)
    assert not root.findall(f".//{SVG}circle")
    assert "no measured runs" in svg
    assert "sim:beta: no measured runs" in label(root)


@pytest.mark.parametrize(
    ("top", "expected"),
    [(0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]), (3.3, [0.0, 1.0, 2.0, 3.0, 4.0]),
     (1234, [0.0, 250.0, 500.0, 750.0, 1000.0, 1250.0])],
)  # fmt: skip
def test_ticks_are_round_and_cover_the_largest_value(top, expected):
    assert nice_ticks(top) == expected


def test_axis_labels():
    assert [ms_label(v) for v in (0, 0.5, 250, 1000, 1500, 1234, 65_000)] == [
        "0 ms", "0.5 ms", "250 ms", "1 s", "1.5 s", "1.23 s", "1 m 5 s",
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_the_finished_page_plots_every_measured_run(user, sim, sim_models):
    answers(sim)
    suite_run = finish(
        create_run(user, models=[ModelSpec("sim:alpha"), ModelSpec("sim:beta")], repeats=3)
    )
    client = Client()
    client.force_login(user)
    page = client.get(f"/suites/runs/{suite_run.pk}/").content.decode()
    svgs = re.findall(r'<svg class="strip-plot".*?</svg>', page, re.DOTALL)
    assert len(svgs) == 2  # time to first token, total time
    runs = Run.objects.filter(comparison_id=suite_run.comparison_id, superseded=False)
    measured_ttft = runs.filter(status="done", ttft_ms__isnull=False).count()
    measured_total = runs.filter(status="done", total_ms__isnull=False).count()
    assert measured_ttft == 6  # alpha's 2 cases x 3 repeats; beta was refused every time
    ttft, total = (parse(svg) for svg in svgs)
    assert len(ttft.findall(f".//{SVG}circle")) == measured_ttft
    assert len(total.findall(f".//{SVG}circle")) == measured_total
    assert "sim:beta: no measured runs" in label(ttft)
    # Only the finished answers' runs, each once.
    dots = {title(c).rsplit("(run ", 1)[1].rstrip(")") for c in ttft.iter(f"{SVG}circle")}
    assert dots == {str(pk) for pk in runs.filter(status="done").values_list("pk", flat=True)}
