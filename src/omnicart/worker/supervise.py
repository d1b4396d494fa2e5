"""`omnicart serve` keeps one `omnicart worker` process running beside the web workers."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)

WORKER_COMMAND = (sys.executable, "-m", "omnicart", "worker")


class Supervisor:
    """Starts the worker process, and starts it again (after a pause) whenever it exits."""

    def __init__(self, env: Mapping[str, str], *, restart_after_s: float = 1.0) -> None:
        self.env = dict(env)
        self.restart_after_s = restart_after_s
        self.restarts = 0
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        """Start the worker, and watch it."""
        self._thread.start()

    @property
    def pid(self) -> int | None:
        """The running worker's process id."""
        with self._lock:
            return self._process.pid if self._process is not None else None

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                self._process = subprocess.Popen(WORKER_COMMAND, env=self.env)  # noqa: S603
            code = self._process.wait()
            if self._stop.is_set():
                return
            self.restarts += 1
            log.warning("the worker process exited (%s); starting it again", code)
            self._stop.wait(self.restart_after_s)

    def stop(self, *, timeout_s: float = 15.0) -> None:
        """Stop the worker (it finishes its step and gives up the lease) and stop watching."""
        self._stop.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout=timeout_s)
