"""Two fixes to Streamlit's script running, installed once per server process.

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
"""

from streamlit.runtime.app_session import AppSession
from streamlit.runtime.scriptrunner import ScriptRunnerEvent, script_runner

_FINISHING = "_convnet_lab_finishing_runner"  # an AppSession's stopped runner whose messages may still arrive
_INSTALLED = "_convnet_lab_delivers_finished_runs"


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
