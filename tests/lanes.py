"""`make test`: the whole suite as two pytest processes side by side, one per core.

    python -m tests.lanes [PYTEST ARGS ...]

The side lane runs the tests that each start a Ray cluster of their own and wait on it: the five
`adrisk serve` stop paths (one cold start with vLLM each, ~70% of the machine for ~80 s, then
waiting for processes to end) and the gpu profile's end-to-end run. The main lane runs everything
else, the session service included, and streams to the terminal; the side lane's output goes to
`var/test-logs/side.log` and is printed after the main lane. The exit status is the first non-zero
of the two.

Sequentially the suite took ~20 min on a 2-core machine, a third of it in the side lane's tests,
whose CPU is idle half the time; the two lanes' clusters are separate (every stop test finds its own
cluster's processes by an environment tag, see tests/stops.py, and Serve moves a replica's direct
ingress port when another cluster holds it). With arguments, one plain pytest run with them instead.

Ctrl-C or SIGTERM reaches both lanes as SIGINT (pytest's KeyboardInterrupt), so each test's own
clean-up (`Served.kill_everything`, the session service's `stop_local`) still runs; the lanes are
then waited for, and nothing is left behind.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIDE_LANE = ("tests/test_cli_stops.py", "tests/test_cli_serve.py", "tests/test_gpu_profile_e2e.py")
PYTEST = (sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
LOG = ROOT / "var" / "test-logs" / "side.log"


def main(argv: list[str]) -> int:
    if argv:
        return subprocess.call([*PYTEST, *argv], cwd=ROOT)
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("wb") as log:
        # Process groups of their own: a terminal's Ctrl-C reaches them once, as forwarded below.
        side = subprocess.Popen([*PYTEST, "--durations=10", *SIDE_LANE], cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, process_group=0)
        main_lane = subprocess.Popen([*PYTEST, "--durations=20", *(f"--ignore={t}" for t in SIDE_LANE)], cwd=ROOT,
                                     process_group=0)
        lanes = (main_lane, side)

        def forward(signum: int, _frame: object) -> None:
            for lane in lanes:
                if lane.poll() is None:
                    lane.send_signal(signal.SIGINT)

        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        main_code = main_lane.wait()
        print(f"\n== side lane ({' '.join(SIDE_LANE)}): waiting for it to finish ...", flush=True)
        side_code = side.wait()
    print(f"== side lane output ({LOG.relative_to(ROOT)}):", flush=True)
    sys.stdout.write(LOG.read_text(errors="replace"))
    print(f"== main lane exit {main_code}, side lane exit {side_code}", flush=True)
    return next((code for code in (main_code, side_code) if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
