"""The fix to Streamlit's sessions that lost a fragment's answer when another fragment's rerun came quickly."""

import asyncio

from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.runtime.app_session import AppSession, AppSessionState
from streamlit.runtime.scriptrunner import ScriptRunnerEvent

from ui.streamlit_fixes import deliver_finished_runs


def a_session(current, finishing) -> tuple[AppSession, list]:
    """An AppSession as it stands after ``finishing`` stopped and ``current`` took its place."""
    deliver_finished_runs()
    session = object.__new__(AppSession)  # no server behind it: nothing to shut down when it is collected
    session.shutdown = lambda: None
    sent = []
    session._enqueue_forward_msg = sent.append
    session._state = AppSessionState.APP_IS_RUNNING
    session._scriptrunner = current
    session._convnet_lab_finishing_runner = finishing
    return session, sent


def on_the_loop(session: AppSession, *events) -> None:
    """Hand ``events`` ((sender, event, kwargs)) to the session on its event loop, as the server does."""
    async def deliver():
        session._event_loop = asyncio.get_running_loop()
        for sender, event, kwargs in events:
            session._handle_scriptrunner_event_on_event_loop(sender, event, **kwargs)

    asyncio.run(deliver())


def answer(text: str) -> ForwardMsg:
    msg = ForwardMsg()
    msg.delta.new_element.markdown.body = text
    return msg


def test_what_a_stopped_runner_sent_before_the_next_started_is_delivered():
    old, new = object(), object()
    session, sent = a_session(current=new, finishing=old)
    on_the_loop(session, (old, ScriptRunnerEvent.ENQUEUE_FORWARD_MSG, {"forward_msg": answer("# Prediction: 7")}))
    assert [m.delta.new_element.markdown.body for m in sent] == ["# Prediction: 7"]
    assert session._scriptrunner is new  # still the current runner


def test_a_runner_replaced_on_purpose_stays_ignored_and_shutdown_ends_the_delivery():
    old, stale, new = object(), object(), object()
    session, sent = a_session(current=new, finishing=old)
    on_the_loop(session, (stale, ScriptRunnerEvent.ENQUEUE_FORWARD_MSG, {"forward_msg": answer("stale")}),
                (old, ScriptRunnerEvent.SHUTDOWN, {}),
                (old, ScriptRunnerEvent.ENQUEUE_FORWARD_MSG, {"forward_msg": answer("after its shutdown")}))
    assert sent == [] and session._scriptrunner is new


def test_installing_twice_wraps_once():
    deliver_finished_runs()
    handler = AppSession._handle_scriptrunner_event_on_event_loop
    deliver_finished_runs()
    assert AppSession._handle_scriptrunner_event_on_event_loop is handler
