"""The server's side of a worker process: a worker that dies is reported in a sentence, never left hanging."""

import queue

from server.worker_process import WorkerProcess


def test_a_worker_that_dies_is_reported_with_its_exit_code_and_last_words():
    events, ended = [], queue.Queue()
    WorkerProcess("no_such_worker", {"anything": 1}, on_event=events.append, on_end=ended.put, what="test")
    outcome = ended.get(timeout=60)
    assert outcome["event"] == "failed" and outcome["crashed"] and events == []
    assert outcome["message"].startswith("The test process ended unexpectedly (exit code 1: ")
    assert "No module named no_such_worker" in outcome["message"]
