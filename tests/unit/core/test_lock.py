"""The project's lock: one session that changes the stack at a time; a second one waits a bounded time, then
is refused with one line naming the holder; the lock goes with the process that held it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ci.core.errors import Exit
from ci.core.lock import Holder, Refused, held, holder_here, lock_file


def test_a_second_session_is_refused_at_once_naming_the_holder(tmp_path: Path) -> None:
    path = lock_file(tmp_path / "locks", "mainza")
    first = holder_here("dev", Path("/srv/checkout"))
    second = holder_here("watch", tmp_path)
    with held(path, first, 0), pytest.raises(Refused) as refused, held(path, second, 0):
        pass
    message = str(refused.value)
    assert f"`nox -s dev` (pid {os.getpid()}, since {first.since}, in /srv/checkout) holds project mainza" in message
    assert "nothing was done" in message
    with held(path, first, 0):  # free again once the first has ended
        pass


def test_a_waiting_session_says_whom_it_waits_for_once_and_gives_up_at_its_bound(tmp_path: Path) -> None:
    path = lock_file(tmp_path, "p")
    now = [0.0]
    lines: list[str] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    waiting = held(path, holder_here("dev", tmp_path), 3, clock=lambda: now[0], sleep=sleep, out=lines.append)
    with held(path, holder_here("prune", tmp_path), 0), pytest.raises(Refused, match="LOCK_WAIT=3 seconds"), waiting:
        pass
    assert now[0] >= 3
    assert len(lines) == 1 and lines[0].startswith("waiting for `nox -s prune` (pid ") and "up to 3s" in lines[0]


def test_ctrl_c_while_waiting_is_an_interruption_that_did_nothing(tmp_path: Path) -> None:
    path = lock_file(tmp_path, "p")

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    waiting = held(path, holder_here("dev", tmp_path), 60, sleep=sleep, out=lambda line: None)
    with held(path, holder_here("dev", tmp_path), 0), pytest.raises(Refused) as refused, waiting:
        pass
    assert refused.value.exit_code == Exit.INTERRUPTED
    assert "interrupted (SIGINT) while waiting" in str(refused.value)


def test_the_lock_goes_with_a_holder_that_is_killed(tmp_path: Path) -> None:
    """A holder killed outright (SIGKILL, a lost runner) leaves its file, which holds nothing."""
    path = lock_file(tmp_path, "p")
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from ci.core.lock import held, holder_here
        with held(Path({str(path)!r}), holder_here("watch", Path(".")), 0):
            print("held", flush=True)
            time.sleep(60)
        """
    )
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        second = held(path, holder_here("dev", tmp_path), 0)
        with pytest.raises(Refused, match=rf"`nox -s watch` \(pid {proc.pid},"), second:
            pass
    finally:
        proc.kill()
        proc.wait()
    with held(path, holder_here("dev", tmp_path), 0), path.open() as handle:
        holder = Holder.read(handle)
        assert holder is not None and (holder.session, holder.pid) == ("dev", os.getpid())


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("keep me")
    path = lock_file(tmp_path, "p")
    path.symlink_to(target)
    with pytest.raises(OSError), held(path, holder_here("dev", tmp_path), 0):
        pass
    assert target.read_text() == "keep me"
