"""Learning from few digits: test accuracy of the convnet and the dense network against training-set size."""

import math
import time
import uuid

import streamlit as st

from mnist_model.figures.alt import efficiency_alt
from mnist_model.figures.data_efficiency import accuracy_vs_size
from mnist_model.figures.numbers import points, visible
from server.live_run import LiveRun, LiveRunState, live_run
from ui.classroom import students_locked
from ui.current import kept_toggle
from ui.data_efficiency import LIVE_SIZES, bundled_results, how_long, time_left

LIVE = "data_efficiency_live"  # this session's live runs
OWNER = "data_efficiency_owner"  # this session's name as the owner of the server's live run
COLLECTED = "data_efficiency_collected"  # when the live run this session last took its results from started
DRAWN = "data_efficiency_drawn"  # the live run as the page last drew it: (active, started)
POLL_S = 1.0
BUSY = ("Someone else is training right now, and the server trains one run at a time. "
        "Try again when their bar is full; the results above are ready to explore.")


def headline(results) -> None:
    """Both networks' mean accuracy with the fewest and the most training digits."""
    sizes, conv, dense = results.sizes, results.mean_accuracy("convnet"), results.mean_accuracy("dense")
    for col, i in zip(st.columns(2), sorted({0, len(sizes) - 1})):  # one box when there is one size
        with col.container(border=True, key=f"headline_{sizes[i]}"):
            st.markdown(f"**Trained on {sizes[i]:,} digits**")
            left, right = st.columns(2, wrap=False)  # the two networks side by side, on a phone too
            ahead = conv[i] - dense[i]
            left.metric("Convnet", f"{conv[i]:.1%}", delta=points(ahead, 1),
                        delta_color="normal" if visible(ahead, 1) else "off",
                        delta_arrow="auto" if visible(ahead, 1) else "off",
                        help="Share of the 10,000 test digits it got right, and how far ahead of the dense network.")
            right.metric("Dense network", f"{dense[i]:.1%}")


def recipe_note(plan, smallest: int) -> str:
    few_steps = math.ceil(smallest / plan.batch_size) * plan.epochs
    return (f"Each network practised with the seed recipe (listing 5.1 as published: RMSprop, no augmentation) "
            f"for {plan.epochs} passes over its digits or "
            f"{plan.min_steps:,} steps, whichever is longer: {plan.epochs} passes over {smallest:,} digits are only "
            f"{few_steps} steps, and we would be measuring too little practice instead of too few examples. "
            f"Dots are single runs (each with its own random pick of digits), lines their average.")


def numbers_table(results) -> list[dict]:
    rows = []
    for size, conv, dense, runs in zip(results.sizes, results.mean_accuracy("convnet"),
                                       results.mean_accuracy("dense"), results.accuracies("convnet")):
        rows.append({"training digits": f"{size:,}", "convnet": f"{conv:.2%}", "dense network": f"{dense:.2%}",
                     "runs averaged": len(runs)})
    return rows


def session_id() -> str:
    """This session's name, so that a live run's results go to the session that started it."""
    return st.session_state.setdefault(OWNER, uuid.uuid4().hex)


def collect_live_run(state: LiveRunState) -> None:
    """Take this session's finished live run into its plot, once (also after a visit to other pages)."""
    if state.status == "done" and state.owner == session_id() and st.session_state.get(COLLECTED) != state.started:
        st.session_state[COLLECTED] = state.started
        st.session_state[LIVE] = [*st.session_state.get(LIVE, []), *state.runs]


def live_section(results, state: LiveRunState) -> None:
    st.subheader("Run it yourself")
    size = st.radio("Training digits", LIVE_SIZES, horizontal=True, format_func="{:,}".format, key="live_size")
    st.write(f"Train both networks on {size:,} digits picked at random, then test them on the same 10,000. "
             f"{how_long(state)} Your results appear as stars on the plot.")
    job = live_run()
    mine = state.owner == session_id()
    st.session_state[DRAWN] = (state.active, state.started)
    train, stop = st.columns(2, wrap=False)
    in_class = students_locked()
    train.button("Train both networks", type="primary", key="live_train", disabled=state.active or in_class,
                 width="stretch", on_click=start_live_run, args=(job, results, size))
    stop.button("Stop", key="live_stop", disabled=not (state.active and mine), width="stretch", on_click=job.stop)
    if in_class:
        st.caption("In a class, only the teacher trains; the curves above are the bundled measurements.")
    st.fragment(live_progress, run_every=POLL_S if state.active else None)()
    show_live_runs()


def start_live_run(job: LiveRun, results, size: int) -> None:
    """Button callback: runs before the page is drawn, so the buttons already show the run."""
    if not job.start(results.plan, size, session_id(), results.seconds_per_step()):
        st.toast(BUSY)


def live_progress() -> None:
    """The server's live run, polled; redraws the page when it starts or ends, for the plot and buttons."""
    state = live_run().state()
    if state.active:
        mine = state.owner == session_id()
        st.progress(state.fraction, text=progress_text(state, mine))
        if not mine:
            st.info(BUSY)
    elif state.owner == session_id() and state.status == "cancelled":
        st.warning(state.message)
    elif state.owner == session_id() and state.status == "failed":
        st.error(f"Training could not run: {state.message}")
    if st.session_state.get(DRAWN) != (state.active, state.started):
        st.rerun(scope="app")


def progress_text(state: LiveRunState, mine: bool) -> str:
    elapsed = time.time() - (state.started or time.time())
    what = f"Training {state.label}" if state.label else state.message
    whose = "" if mine else f"Someone else's run, {state.size:,} digits: "
    return f"{whose}{what} · {elapsed:.0f} s{time_left(state)}"


def show_live_runs() -> None:
    live = st.session_state.get(LIVE, [])
    if not live:
        return
    conv, dense = (next(r for r in reversed(live) if r.architecture == a) for a in ("convnet", "dense"))
    st.success(f"Your last run, {conv.size:,} digits: convnet **{conv.test_accuracy:.1%}**, "
               f"dense network **{dense.test_accuracy:.1%}**.", icon=":material/star:")
    if st.button("Remove my runs from the plot", key="live_clear"):
        st.session_state[LIVE] = []
        st.rerun()


st.title("Learning from few digits")
try:
    results = bundled_results()
except ValueError as err:
    st.info(f"The results of this experiment are not here yet: {err}")
    st.stop()
st.write(f"Two networks with about 93,000 weights each learned to read handwritten digits from "
         f"{results.sizes[0]:,} up to {results.sizes[-1]:,} examples, then took the same test: 10,000 digits "
         f"they had never seen.")
headline(results)
st.write("With few examples the convnet wins clearly. It slides the same small filters over every position, so "
         "each example teaches it what a stroke looks like everywhere in the image; the dense network has a "
         "separate weight for every pixel, so it must see a stroke in each place to learn it there.")
live = live_run().state()  # one look for the whole page, so the plot and the buttons agree
collect_live_run(live)
zoomed = kept_toggle("Zoom in: show the mistakes instead (log scale)", "data_efficiency_errors")
metric = "error" if zoomed else "accuracy"
mine = st.session_state.get(LIVE, [])
st.plotly_chart(accuracy_vs_size(results, mine, metric), key="data_efficiency_plot",
                alt=efficiency_alt(results.sizes, results.mean_accuracy("convnet"), results.mean_accuracy("dense"),
                                   len(mine), metric))
st.caption(recipe_note(results.plan, results.sizes[0]))
with st.expander("The numbers"):
    st.table(numbers_table(results))
    st.caption(f"The convnet is listing 5.1 (93,322 weights); the dense network has one hidden layer of "
               f"{results.plan.dense_units} units (93,025 weights).")
live_section(results, live)
