"""kubeclass/crashloop - a program that fails, to watch restarts and CrashLoopBackOff.

It prints a few lines, waits $CRASH_AFTER seconds (default 3), writes an error to stderr
and exits with $EXIT_CODE (default 1). With restartPolicy Always the node agent starts it
again, waiting longer each time: `kubectl get pods -w` shows the RESTARTS column rise and
the status alternate between Error and CrashLoopBackOff; `kubectl logs --previous` shows
what the last run printed.
"""

import os
import sys
import time


def main() -> None:
    after = float(os.environ.get("CRASH_AFTER") or "3")
    code = int(os.environ.get("EXIT_CODE") or "1")
    name = os.environ.get("POD_NAME") or os.environ.get("HOSTNAME") or "this pod"
    print(f"kubeclass/crashloop starting in {name}; I will exit with code {code} in {after:g}s", flush=True)
    deadline = time.monotonic() + after
    while (left := deadline - time.monotonic()) > 0:
        print(f"still running, {left:.0f}s to go", flush=True)
        time.sleep(min(1.0, left))
    print(f"something went wrong: exiting with code {code}", file=sys.stderr, flush=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
