"""Streamlit behaviours this app changes, each installed once per server process.

``keep_keras_state``: Streamlit calls ``keras.backend.clear_session()`` at the end of each run
of any app that imported Keras (``script_runner._clean_problem_modules``). That is a full
``gc.collect()`` plus clearing TensorFlow's kernel cache: about 0.25 s of CPU per rerun per
user, so thirty idle browsers polling the training job saturate two cores, and the next
prediction pays to rebuild kernels. It also swaps Keras' thread-local state under a training
job running in the background. This app builds its models once and caches them, so there is
nothing to clear; the only other thing that hook does is close matplotlib figures, which we
never open.

``deliver_finished_runs``: a session's script runner stops once its run is done. Its last
messages (the rest of the run's output, "finished") reach the session through the server's
event loop, which lags behind the script thread on a busy server. A rerun request that
arrives in between finds the runner stopped, and the session starts a new runner at once;
the messages of the old one still waiting on the loop are then dropped, because they no
longer come from the current runner. When the old run was the drawing's fragment and the
new one another fragment (the sidebar's poll), the prediction never reaches the browser:
measured with 60 websocket sessions on two servers, 1 to 8 of 180 drawings went unanswered.
The fix delivers a stopped runner's messages that were already on their way; a runner told
to stop early (a full rerun replacing it) is still ignored, as Streamlit intends.

``skip_direct_run_warning``: the first element a server process draws makes Streamlit check
whether it runs in a REPL, to warn that an app needs ``streamlit run``; the check is
``inspect.stack()``, which looks up every frame's module among all those imported: with
TensorFlow's thousands of modules loading, a second or more of the first student's first page.
The server was started by ``streamlit run``, so there is nothing to warn about.

``reuse_theme_messages``: every run, a fragment's too, starts with a "new session" message that
carries the whole theme, rebuilt each time by scanning all of Streamlit's ~250 config options six
times (once per theme section): a fifth of the server's CPU per drawing with thirty sessions on
one core. The theme changes only when the config is read again (Streamlit then replaces its
options table, which is what the cache is keyed on), so each section's message is built once and
copied after.

``wake_loop_in_place``: each message Streamlit queues for a browser wakes the server's event loop
through ``call_soon_threadsafe``, a write to its self-pipe; most of a run's bookkeeping messages
are queued on the event loop itself, where that write is a wasted system call and an extra turn
of the loop. There the flag is set directly; from a script thread nothing changes.

``bound_widget_json``: a widget that sends JSON (the drawing canvas) has its message parsed by
Streamlit before the page runs; a forged one nested a million levels deep raised
RecursionError there, which the session could only show as a generic error. It measures the
nesting first (a scan at C speed, milliseconds for the largest message Streamlit accepts),
makes a value nested deeper than MAX_WIDGET_JSON_DEPTH a cleared one and remembers it, so
the page can say what happened (``deep_json_refused``).
"""

from __future__ import annotations

import asyncio
import re
import threading

import numpy as np
from streamlit.runtime.app_session import AppSession
from streamlit.runtime.scriptrunner import ScriptRunnerEvent, get_script_run_ctx, script_runner
from streamlit.runtime.state import common, session_state

_FINISHING = "_convnet_lab_finishing_runner"  # an AppSession's stopped runner whose messages may still arrive
_INSTALLED = "_convnet_lab_delivers_finished_runs"
_THEMES_INSTALLED = "_convnet_lab_reuses_theme_messages"
_WAKE_INSTALLED = "_convnet_lab_wakes_loop_in_place"
DEEP_JSON = ("The drawing arrived nested too deeply to read (a real canvas sends a few levels), so it was not "
             "read. Clear and draw again.")
MAX_WIDGET_JSON_DEPTH = 64  # the canvas's drawing is 6 levels deep; json.loads gives up near 1,000
_ESCAPE = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')
_STEPS = np.zeros(256, np.int8)
_STEPS[[ord("["), ord("{")]], _STEPS[[ord("]"), ord("}")]] = 1, -1  # a byte's change of depth
_refused: set[str] = set()  # the sessions whose last widget message was nested too deeply
_lock = threading.Lock()


def keep_keras_state() -> None:
    script_runner._clean_problem_modules = lambda: None


def deliver_finished_runs() -> None:
    """Deliver what a stopped script runner sent before the next one started (idempotent)."""
    if getattr(AppSession, _INSTALLED, False):
        return
    create, handle = AppSession._create_scriptrunner, AppSession._handle_scriptrunner_event_on_event_loop

    def create_runner(self, initial_rerun_data):
        # Called with the old runner still set only when it had stopped and refused the request;
        # a full rerun under fastReruns clears it first, and its leftovers stay ignored.
        setattr(self, _FINISHING, self._scriptrunner)
        create(self, initial_rerun_data)

    def handle_event(self, sender, event, *args, **kwargs):
        finishing = getattr(self, _FINISHING, None)
        if sender is None or sender is self._scriptrunner or sender is not finishing:
            return handle(self, sender, event, *args, **kwargs)
        if event == ScriptRunnerEvent.SHUTDOWN:  # the old runner is gone: nothing more to deliver
            setattr(self, _FINISHING, None)
            return None
        current, self._scriptrunner = self._scriptrunner, sender  # the handler reads it to accept the event
        try:
            return handle(self, sender, event, *args, **kwargs)
        finally:
            self._scriptrunner = current

    AppSession._create_scriptrunner = create_runner
    AppSession._handle_scriptrunner_event_on_event_loop = handle_event
    setattr(AppSession, _INSTALLED, True)


def reuse_theme_messages() -> None:
    """Build each theme section's part of the "new session" message once per config (idempotent)."""
    from streamlit import config
    from streamlit.runtime import app_session

    populate = app_session._populate_theme_msg
    if getattr(populate, _THEMES_INSTALLED, False):
        return
    built: dict[tuple[str, int], object] = {}

    def reuse(msg, section: str = "theme") -> None:
        key = (section, id(config._config_options))  # a config read again is a new options table
        part = built.get(key)
        if part is None:
            part = type(msg)()
            populate(part, section)  # sets the section's own fields only, never its sub-sections
            if len(built) > 64:  # the config was read again many times: forget the old ones
                built.clear()
            built[key] = part
        msg.MergeFrom(part)

    setattr(reuse, _THEMES_INSTALLED, True)
    app_session._populate_theme_msg = reuse


def wake_loop_in_place() -> None:
    """Flag queued messages without a self-pipe write when already on the server's event loop (idempotent)."""
    from streamlit.runtime.runtime import Runtime

    if getattr(Runtime, _WAKE_INSTALLED, False):
        return
    wake = Runtime._enqueued_some_message

    def enqueued(self) -> None:
        objects = self._get_async_objs()
        if asyncio._get_running_loop() is objects.eventloop:  # this thread runs the loop: no pipe needed
            objects.need_send_data.set()
        else:
            wake(self)

    Runtime._enqueued_some_message = enqueued
    setattr(Runtime, _WAKE_INSTALLED, True)


def skip_direct_run_warning() -> None:
    """Mark Streamlit's run-it-with-``streamlit run`` warning as given: this process is a server."""
    from streamlit import delta_generator

    delta_generator._use_warning_has_been_displayed = True


def bound_widget_json() -> None:
    """Parse widget JSON so that a message nested too deeply becomes a cleared value (None), not an error."""
    session_state.unpack_widget_state_value = _unpack_bounded


def _unpack_bounded(widget_state):
    if widget_state.WhichOneof("value") != "json_value":
        return common.unpack_widget_state_value(widget_state)
    if json_depth(widget_state.json_value) <= MAX_WIDGET_JSON_DEPTH:
        value = common.unpack_widget_state_value(widget_state)
        # a component parses a string value as JSON once more: its depth counts too
        if not isinstance(value, str) or json_depth(value) <= MAX_WIDGET_JSON_DEPTH:
            return value
    ctx = get_script_run_ctx()
    if ctx is not None:
        with _lock:
            _refused.add(ctx.session_id)
    return None


def json_depth(text: str) -> int:
    """How deeply JSON ``text`` nests arrays and objects, brackets inside strings not counted."""
    bare = _STRING.sub("", _ESCAPE.sub("", text))  # escapes first, so that \" does not end a string
    steps = _STEPS[np.frombuffer(bare.encode(), np.uint8)]
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))


def deep_json_refused() -> str | None:
    """The sentence for this session if a widget message of its was nested too deeply since last asked."""
    ctx = get_script_run_ctx()
    if ctx is None:
        return None
    with _lock:
        if ctx.session_id not in _refused:
            return None
        _refused.discard(ctx.session_id)
    return DEEP_JSON
