"""Fuzzing the compare form and the websocket frame handler with hypothesis."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from playground.forms import FORM_FIELDS, CompareForm, FrameError, payload_to_data
from playground.models import Comparison, Run
from tests.helpers import FrameLog, read_until, ws_connect

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=50)
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=10),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
)
known_keys = st.sampled_from(sorted(FORM_FIELDS | {"action", "HEADERS"}))
payloads = st.dictionaries(st.one_of(known_keys, st.text(max_size=12)), values, max_size=8)
model_names = st.sampled_from(["sim:alpha", "sim:beta", "sima:claude-sim", "sim:nope", "x", ""])
plausible = st.fixed_dictionaries(
    {
        "prompt": st.one_of(st.text(max_size=30), st.integers(), st.none()),
        "models": st.lists(model_names, max_size=10),
    },
    optional={
        "temperature": st.one_of(st.text(max_size=5), st.floats(), st.integers()),
        "max_tokens": st.one_of(st.text(max_size=5), st.integers()),
        "panel_temperature": st.lists(st.text(max_size=4), max_size=10),
        "panel_max_tokens": st.lists(st.text(max_size=6), max_size=10),
        "same_settings": st.sampled_from(["on", "", "off", 1]),
        "system": st.text(max_size=20),
    },
)


@pytest.mark.django_db
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.one_of(payloads, plausible))
def test_compare_form_never_crashes(sim_models, payload):
    try:
        data = payload_to_data(payload)
    except FrameError as exc:
        assert str(exc)
        return
    form = CompareForm(data)
    if form.is_valid():
        request = form.compare_request()
        assert 1 <= len(request.panels) <= 8 and request.prompt.strip()
        for panel in request.panels:
            assert panel.max_tokens >= 1
            assert panel.temperature is None or 0 <= panel.temperature <= 2
    else:
        assert form.error_text()


@pytest.mark.django_db(transaction=True)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    frame=st.one_of(
        payloads.map(json.dumps),
        st.text(max_size=200),
        st.binary(max_size=50).map(lambda b: b.decode("latin-1")),
    )
)
async def test_frame_handler_always_answers_and_stays_open(user, sim_models, frame):
    communicator, connected, _ = await ws_connect(user)
    assert connected
    log = FrameLog()
    await communicator.send_input({"type": "websocket.receive", "text": frame})
    # Whatever came in, the socket still answers: a malformed follow-on frame gets its error.
    await communicator.send_to(text_data="{")
    await read_until(communicator, log, lambda lg: any("not valid JSON" in n for n in lg.notices()))
    started = log.contains('class="panel ')
    await communicator.disconnect()
    # Rows exist only when the frame was a valid compare request (and then panels were sent).
    assert (await sync_to_async(Comparison.objects.count)() > 0) == started
    await sync_to_async(Run.objects.all().delete)()
    await sync_to_async(Comparison.objects.all().delete)()
