"""Learning from few digits: test accuracy of the convnet and the dense network against training-set size."""

import math

import streamlit as st

from mnist_model.figures_data_efficiency import accuracy_vs_size
from ui.current import kept_toggle
from ui.data_efficiency import LIVE_SIZES, bundled_results, train_live

LIVE = "data_efficiency_live"  # this session's live runs


def headline(results) -> None:
    """Both networks' mean accuracy with the fewest and the most training digits."""
    sizes, conv, dense = results.sizes, results.mean_accuracy("convnet"), results.mean_accuracy("dense")
    for col, i in zip(st.columns(2), (0, len(sizes) - 1)):
        with col.container(border=True, key=f"headline_{sizes[i]}"):
            st.markdown(f"**Trained on {sizes[i]:,} digits**")
            left, right = st.columns(2)
            left.metric("Convnet", f"{conv[i]:.1%}", delta=f"{(conv[i] - dense[i]) * 100:+.1f} points",
                        help="Share of the 10,000 test digits it got right, and how far ahead of the dense network.")
            right.metric("Dense network", f"{dense[i]:.1%}")


def recipe_note(plan, smallest: int) -> str:
    few_steps = math.ceil(smallest / plan.batch_size) * plan.epochs
    return (f"Each network practised with the notes' recipe for {plan.epochs} passes over its digits or "
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


def seconds_for(results, size: int) -> float:
    """How long one live run of both networks took in the bundled experiment, on average."""
    runs = [r for r in results.runs if r.size == size]
    return sum(r.seconds for r in runs) / max(1, len(runs) // 2)


def live_section(results) -> None:
    st.subheader("Run it yourself")
    size = st.radio("Training digits", LIVE_SIZES, horizontal=True, format_func="{:,}".format, key="live_size")
    st.write(f"Train both networks on {size:,} digits picked at random, then test them on the same 10,000. "
             f"It takes about {seconds_for(results, size):.0f} seconds on a quiet server; your results appear as stars "
             f"on the plot.")
    if st.button("Train both networks", type="primary", key="live_train"):
        bar = st.progress(0.0, text="Loading the digits ...")
        try:
            runs = train_live(results.plan, size, lambda done, total, label: bar.progress(
                done / total, text=f"Training {label} ..."))
        except (ValueError, RuntimeError) as err:
            st.error(f"Training could not run: {err}")
            return
        if runs is None:
            bar.empty()
            st.info("Someone else is training right now, and the server trains one run at a time. "
                    "Try again in a minute; the results above are ready to explore.")
            return
        st.session_state[LIVE] = [*st.session_state.get(LIVE, []), *runs]
        st.rerun()
    show_live_runs()


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
metric = "error" if kept_toggle("Show mistakes instead (log scale)", "data_efficiency_errors") else "accuracy"
st.plotly_chart(accuracy_vs_size(results, st.session_state.get(LIVE, []), metric), key="data_efficiency_plot")
st.caption(recipe_note(results.plan, results.sizes[0]))
with st.expander("The numbers"):
    st.table(numbers_table(results))
    st.caption(f"The convnet is listing 5.1 (93,322 weights); the dense network has one hidden layer of "
               f"{results.plan.dense_units} units (93,025 weights).")
live_section(results)
