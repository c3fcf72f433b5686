"""Stop signals while a session runs: each is an interruption named by its signal, raised once, the children
stopped first; a signal ignored at the start stays ignored; a docker command that fails after one is the
interruption, not a failure. Real signals, sent to this process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from python_on_whales.exceptions import DockerException

from ci.core import signals
from ci.core.errors import DockerFailed, Exit, Stopped, interruption_exit, received, stopped_by
from ci.docker.engine import failed


def wait_for_stop() -> None:
    """A signal sent to this process is handled at the next bytecode: give it the time."""
    time.sleep(2)
    pytest.fail("no stop signal raised")


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    # Started before the signal: one that lands while Python still starts up ends it with exit code 1 (a busy
    # machine's case), not by SIGINT as a running child does.
    code = "import time; print('ready', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.parametrize(
    ("signum", "name", "code"),
    [(signal.SIGINT, "SIGINT", 130), (signal.SIGTERM, "SIGTERM", 143), (signal.SIGHUP, "SIGHUP", 129)],
)
def test_each_stop_signal_is_an_interruption_named_by_it_and_its_exit_code(signum: int, name: str, code: int) -> None:
    before = signal.getsignal(signum)
    with signals.handled():
        with pytest.raises(Stopped) as stop:
            os.kill(os.getpid(), signum)
            wait_for_stop()
        assert received() == signum
    assert (stopped_by(stop.value), interruption_exit(stop.value)) == (name, code)
    assert signal.getsignal(signum) == before and received() is None


def test_the_children_are_stopped_before_the_interruption_is_raised(child: subprocess.Popen[bytes]) -> None:
    with signals.handled(), pytest.raises(Stopped):
        os.kill(os.getpid(), signal.SIGTERM)
        wait_for_stop()
    assert child.wait(timeout=1) == -signal.SIGINT  # ended on SIGINT, as buildx and compose cancel on it


def test_a_child_that_ignores_sigint_is_killed_after_the_grace() -> None:
    proc = subprocess.Popen(["sh", "-c", "trap '' INT; exec sleep 60"])
    time.sleep(0.2)  # the trap set
    began = time.monotonic()
    assert proc.pid in signals.stop_children(grace=0.5)
    assert proc.wait(timeout=2) == -signal.SIGKILL and time.monotonic() - began < 2


def test_a_second_signal_while_the_session_ends_is_recorded_not_raised() -> None:
    with signals.handled():
        with pytest.raises(Stopped):
            os.kill(os.getpid(), signal.SIGINT)
            wait_for_stop()
        os.kill(os.getpid(), signal.SIGTERM)  # a runner's SIGTERM after its SIGINT, during the rollback
        time.sleep(0.2)
        assert received() == signal.SIGINT


def test_once_the_session_has_ended_a_signal_no_longer_interrupts_its_reports() -> None:
    with signals.handled():
        signals.hold()
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)
        assert received() == signal.SIGTERM


def test_a_signal_ignored_when_the_session_starts_stays_ignored() -> None:
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # nohup
    try:
        with signals.handled():
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.2)
            assert received() is None
    finally:
        signal.signal(signal.SIGHUP, before)


def test_a_docker_command_that_fails_after_a_stop_signal_is_the_interruption() -> None:
    exited = DockerException(
        ["docker", "buildx", "bake"], 1, b"", b"ERROR: failed to solve: Canceled: context canceled"
    )
    assert isinstance(failed(exited), DockerFailed)  # no signal: a failure
    with signals.handled():
        with pytest.raises(Stopped):
            os.kill(os.getpid(), signal.SIGTERM)
            wait_for_stop()
        with pytest.raises(Stopped) as stop:
            raise failed(exited)
    assert interruption_exit(stop.value) == Exit.TERMINATED
    assert isinstance(stop.value.__cause__, DockerFailed) and "context canceled" in str(stop.value.__cause__)


def test_a_bare_keyboard_interrupt_after_a_signal_is_named_by_that_signal() -> None:
    """watchfiles catches the handler's Stopped and raises a bare KeyboardInterrupt: the signal is still known."""
    with signals.handled():
        with pytest.raises(Stopped):
            os.kill(os.getpid(), signal.SIGHUP)
            wait_for_stop()
        bare = KeyboardInterrupt()
        assert (stopped_by(bare), interruption_exit(bare)) == ("SIGHUP", Exit.HUNG_UP)
    assert stopped_by(KeyboardInterrupt()) == "SIGINT"  # no handler: Python's own Ctrl-C
