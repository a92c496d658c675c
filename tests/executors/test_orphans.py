"""Pool workers (and the resource tracker) end when the process that started them is killed with ``kill -9``."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from massivetext.executors.orphans import ORPHAN_EXIT_CODE

# the driver maps time.sleep (a picklable builtin) over two long sleeps: its workers would wait for ten minutes
DRIVER = """
import time
from massivetext.executors.local import LocalExecutor
LocalExecutor(workers=2, progress=False).map(time.sleep, [600, 600])
"""


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 is POSIX")
def test_kill_9_of_the_parent_leaves_no_live_child():
    driver = subprocess.Popen([sys.executable, "-c", DRIVER], env=os.environ.copy())
    parent = psutil.Process(driver.pid)
    children: list[psutil.Process] = []
    try:
        # two workers and the resource tracker, all started by the driver
        assert _wait(lambda: len(parent.children(recursive=True)) >= 3, 60), parent.children(recursive=True)
        time.sleep(1.0)  # let the workers reach Queue.get, where an orphan would wait forever
        children[:] = parent.children(recursive=True)
        assert all(_alive(c) for c in children)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
        assert _wait(lambda: not any(_alive(c) for c in children), 10), [c for c in children if _alive(c)]
    finally:  # whatever happened, no process of this test outlives it
        driver.kill()
        for c in children:
            if _alive(c):
                c.kill()


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    # the pid comparison: a worker armed after its parent died does not wait for a signal that never comes
    if os.getpid() == 1:  # pragma: no cover - a test runner that is init itself
        pytest.skip("the test process is pid 1")
    code = "from massivetext.executors.orphans import exit_with_parent; exit_with_parent(1); print('survived')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == ORPHAN_EXIT_CODE and "survived" not in done.stdout
