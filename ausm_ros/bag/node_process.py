"""The perception node as a child process, started the way a user starts it (`python -m ausm_ros.perception_main`)."""

import os
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt)\b.*:")


def format_parameter(value):
    """A Python value as the right-hand side of `-p name:=value` (parsed by rcl as YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(f"'{v}'" if isinstance(v, str) else format_parameter(v) for v in value) + "]"
    if isinstance(value, str):
        return value if value else "''"
    return repr(value)


class NodeProcess:
    def __init__(self, parameters, log_path, env=None, params_file=None):
        self.parameters = dict(parameters)
        self.log_path = Path(log_path)
        args = [sys.executable, "-m", "ausm_ros.perception_main"]
        if params_file:
            args += ["--params-file", str(params_file)]
        args.append("--ros-args")
        for name, value in self.parameters.items():
            args += ["-p", f"{name}:={format_parameter(value)}"]
        self.args = args
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, env=env or dict(os.environ), stdout=self._log, stderr=subprocess.STDOUT)

    def exit_code(self):
        return self.process.poll()

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(deque(f, maxlen=lines)).rstrip()
        except OSError:
            return ""

    def first_error(self):
        """The first Python exception line of the log: the cause, when later ones are fallout."""
        try:
            with open(self.log_path, errors="replace") as f:
                return next((line.strip() for line in f if _EXCEPTION.match(line)), "")
        except OSError:
            return ""

    def stop(self, timeout=15):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
