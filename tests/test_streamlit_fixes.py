"""Streamlit behaviours the app changes, checked against Streamlit's own session state."""

import json
from types import SimpleNamespace

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetStates
from streamlit.runtime.state import session_state
from streamlit.runtime.state.common import WidgetMetadata
from streamlit.runtime.state.session_state import SessionState

from ui import streamlit_fixes

CANVAS = "$$ID-canvas"  # a JSON widget, as the drawing canvas is
DRAWN = json.dumps({"drawing": {"raw": {"objects": []}, "data": None}})


def message(json_value: str) -> WidgetStates:
    states = WidgetStates()
    widget = states.widgets.add()
    widget.id, widget.json_value = CANVAS, json_value
    return states


def canvas_state(json_value: str) -> SessionState:
    """A session whose canvas (registered with change callbacks, as st_canvas does) just sent ``json_value``."""
    state = SessionState()
    state._set_widget_metadata(WidgetMetadata(CANVAS, deserializer=lambda v: v, serializer=json.dumps,
                                              value_type="json_value", callbacks={"backgroundFit": lambda: None}))
    state.on_script_will_rerun(message(DRAWN))
    state.on_script_will_rerun(message(json_value))
    return state


@pytest.fixture
def session(monkeypatch):
    """The patch applied (undone after the test) in a script thread of session 'student-1'."""
    monkeypatch.setattr(session_state, "unpack_widget_state_value", session_state.unpack_widget_state_value)
    monkeypatch.setattr(streamlit_fixes, "get_script_run_ctx", lambda: SimpleNamespace(session_id="student-1"))
    streamlit_fixes.bound_widget_json()


def deep(depth: int) -> str:
    return '{"drawing": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize("text", [deep(streamlit_fixes.MAX_WIDGET_JSON_DEPTH), deep(2_000), deep(1_000_000),
                                  json.dumps(deep(1_000_000))],  # a string the component parses once more
                         ids=["just too deep", "2,000", "1,000,000", "inside a string"])
def test_a_widget_message_nested_a_million_levels_is_a_cleared_value_and_a_sentence(session, text):
    state = canvas_state(text)  # raised RecursionError here
    assert state._new_widget_state[CANVAS] is None
    assert streamlit_fixes.deep_json_refused() == streamlit_fixes.DEEP_JSON
    assert streamlit_fixes.deep_json_refused() is None  # said once


@pytest.mark.parametrize("text, depth", [
    ("", 0), ("1", 0), ("{}", 1), ('[[1, [2]], {"a": [3]}]', 3),
    ('"[[[["', 0), ('{"a": "\\\\"}', 1), ('{"a": "\\"[[[{"}', 1), ('["é", ["ü"]]', 2),
    ("[" * 1_000_000 + "]" * 1_000_000, 1_000_000),
])
def test_json_depth_counts_brackets_outside_strings(text, depth):
    assert streamlit_fixes.json_depth(text) == depth


def test_an_ordinary_drawing_is_read_as_before_and_nothing_is_said(session):
    state = canvas_state(json.dumps({"drawing": {"raw": {"objects": [{"path": [["M", 1, 2]]}]}, "data": "x"}}))
    assert state._new_widget_state[CANVAS]["drawing"]["data"] == "x"
    assert streamlit_fixes.deep_json_refused() is None


def test_without_the_patch_streamlit_raises(monkeypatch):  # what the patch is for: if Streamlit bounds it, drop it
    from streamlit.runtime.state import common

    monkeypatch.setattr(session_state, "unpack_widget_state_value", common.unpack_widget_state_value)  # the app's
    with pytest.raises(RecursionError):  # other tests may have installed the patch in this process
        canvas_state("[" * 1_000_000 + "]" * 1_000_000)


def test_a_theme_section_is_built_once_per_config_and_read_again_when_the_config_is(monkeypatch):
    import copy

    from streamlit import config
    from streamlit.proto.NewSession_pb2 import CustomThemeConfig
    from streamlit.runtime import app_session

    config.get_config_options()
    built = []

    def counted(msg, section="theme"):
        built.append(section)
        msg.primary_color = config._config_options[f"{section}.primaryColor"].value or ""

    monkeypatch.setattr(app_session, "_populate_theme_msg", counted)  # Streamlit's own is put back afterwards
    streamlit_fixes.reuse_theme_messages()
    streamlit_fixes.reuse_theme_messages()  # idempotent: one cache, not a cache of a cache
    options = copy.deepcopy(config._config_options)
    options["theme.primaryColor"].set_value("#123456")
    monkeypatch.setattr(config, "_config_options", options)

    def theme(section="theme") -> CustomThemeConfig:
        msg = CustomThemeConfig()
        app_session._populate_theme_msg(msg, section)
        return msg

    assert [theme().primary_color for _ in range(3)] == ["#123456"] * 3
    assert built == ["theme"]  # built once, copied after
    assert theme("theme.sidebar").primary_color == "" and built == ["theme", "theme.sidebar"]
    reread = copy.deepcopy(options)  # the config file changed: Streamlit reads it into a new table
    reread["theme.primaryColor"].set_value("#654321")
    monkeypatch.setattr(config, "_config_options", reread)
    assert theme().primary_color == "#654321"


def test_a_message_queued_on_the_event_loop_sets_the_flag_without_waking_the_loop_through_its_pipe(monkeypatch):
    import asyncio
    import threading

    from streamlit.runtime.runtime import Runtime

    monkeypatch.setattr(Runtime, "_enqueued_some_message", Runtime._enqueued_some_message)
    monkeypatch.delattr(Runtime, "_convnet_lab_wakes_loop_in_place", raising=False)
    streamlit_fixes.wake_loop_in_place()

    async def main():
        loop = asyncio.get_running_loop()
        runtime = object.__new__(Runtime)
        flag = asyncio.Event()
        runtime._async_objs = SimpleNamespace(eventloop=loop, need_send_data=flag)
        piped = []
        monkeypatch.setattr(loop, "call_soon_threadsafe", lambda callback, *args: piped.append(callback))
        runtime._enqueued_some_message()  # on the loop's own thread
        assert flag.is_set() and piped == []
        flag.clear()
        thread = threading.Thread(target=runtime._enqueued_some_message)  # a script thread
        thread.start()
        thread.join()
        assert not flag.is_set() and piped == [flag.set]

    asyncio.run(main())
