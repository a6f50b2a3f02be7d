"""Stress: SIGINT / SIGTERM at random moments of `cnnpipe run -j 2`, many times.

Not a test (the suite runs 20 trials of each kind): run it by hand and read the table.

    python benchmarks/stress_signals.py [--trials 200] [--signals 1 2] [--inputs 10] [--size 96]

Each trial starts a batch in its own session, waits a random moment after
cnnpipe installed its signal handlers, sends one or two signals (SIGINT or
SIGTERM, to the main process or to the whole group as a terminal's Ctrl-C does)
and checks: exit status, no traceback, no hang, every output folder complete or
absent, no temporary file, no process left.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from signal_trials import make_inputs, run_trial  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per signal count")
    parser.add_argument("--signals", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--inputs", type=int, default=10)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--window", type=float, default=1.2,
                        help="seconds after start-up within which the first signal lands")
    parser.add_argument("--workers", default="2")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp, "in"), args.inputs, args.size)
        for signals in args.signals:
            outcomes, after = Counter(), []
            for i in range(args.trials):
                trial = run_trial(inputs, Path(tmp, f"out-{signals}-{i}"), rng, signals=signals,
                                  window=args.window, workers=args.workers)
                outcomes[(trial.how, "group" if trial.group else "main", trial.returncode,
                          "all" if trial.complete == args.inputs else "part")] += 1
                if trial.signals == signals:
                    after.append(trial.seconds_after_last_signal)
                if trial.problems:
                    bad += 1
                    print(f"trial {signals}/{i}: {trial.how} to "
                          f"{'group' if trial.group else 'main'}: {trial.problems}\n"
                          f"  stderr: {trial.stderr[-600:]!r}", flush=True)
            print(f"\n{signals} signal(s), {args.trials} trials, {args.inputs} inputs "
                  f"{args.size}x{args.size}, -j {args.workers}")
            for key, count in sorted(outcomes.items()):
                print(f"  {count:4d}  {key[0]:7s} to {key[1]:5s} exit {key[2]:4d}, "
                      f"{key[3]} folders complete")
            if after:
                print(f"  seconds from the last signal to exit: median "
                      f"{np.median(after):.2f}, max {max(after):.2f}")
    print(f"\n{bad} trial(s) with problems")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
