import pytest

from mnist_model.lab.time_left import TimeLeft, Training


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run_steps(time_left: TimeLeft, clock: Clock, first_step_s: float, per_step_s: float, steps: int) -> None:
    clock.now += first_step_s
    time_left.step()
    for _ in range(steps - 1):
        clock.now += per_step_s
        time_left.step()


@pytest.fixture
def row():
    """A convnet of 100 steps then a dense network of 100 steps, each tested for the cost of 6 steps."""
    clock = Clock()
    return TimeLeft([Training("convnet", 100, 6.0), Training("dense", 100, 6.0)],
                    relative_cost={"convnet": 40.0, "dense": 10.0}, clock=clock), clock


def test_nothing_is_said_before_a_speed_is_measured(row):
    time_left, clock = row
    assert time_left.seconds_left() is None
    time_left.begin(0)
    run_steps(time_left, clock, first_step_s=3.0, per_step_s=0.1, steps=10)
    assert time_left.seconds_left() is None  # the first step traces the graph; nine more are too few to tell
    clock.now += 0.1
    time_left.step()
    assert time_left.seconds_left() == pytest.approx((100 - 11 + 6) * 0.1 + 3.0 + (100 + 6) * 0.025)


def test_a_network_not_yet_trained_borrows_the_measured_speed_by_the_ratio(row):
    time_left, clock = row
    time_left.begin(0)
    run_steps(time_left, clock, first_step_s=3.0, per_step_s=0.2, steps=21)
    # by hand: convnet 0.2 s a step (measured), dense 0.2 x 10/40 = 0.05 s a step (borrowed)
    convnet_left = (100 - 21 + 6) * 0.2
    dense = 3.0 + (100 + 6) * 0.05
    assert time_left.seconds_left() == pytest.approx(convnet_left + dense)


def test_each_network_uses_its_own_speed_once_measured(row):
    time_left, clock = row
    time_left.begin(0)
    run_steps(time_left, clock, first_step_s=3.0, per_step_s=0.2, steps=100)
    clock.now += 1.5  # the convnet's test
    time_left.begin(1)
    run_steps(time_left, clock, first_step_s=2.0, per_step_s=0.01, steps=51)
    assert time_left.seconds_per_step("dense") == pytest.approx(0.01)  # not the 0.05 the ratio said
    assert time_left.seconds_left() == pytest.approx((100 - 51 + 6) * 0.01)


def test_a_machine_that_slows_down_is_followed(row):
    time_left, clock = row
    time_left.begin(0)
    run_steps(time_left, clock, first_step_s=3.0, per_step_s=0.1, steps=11)
    quiet = time_left.seconds_left()
    for _ in range(10):  # someone else starts training: steps take four times as long
        clock.now += 0.4
        time_left.step()
    assert time_left.seconds_left() > quiet * 2
