"""Soak: the production-shaped stack under load while its parts fail (``make soak``).

The soak itself (the stack, the clients, the four faults, the figures) is ``harness/soak.py``;
this is its command line. It prints the figures and exits 1 unless nothing is lost, nothing
is stuck and no 5xx falls outside the restart windows.

    .venv/bin/python tools/soak.py                          # 50 clients, 1,000 uploads, real models
    .venv/bin/python tools/soak.py --clients 10 --uploads 60 --estimator tests.fakes.SlowFakeEstimator
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script, the repository is not on the path

from harness.soak import passed, report, soak
from harness.stack import private_services_missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--uploads", type=int, default=1000)
    parser.add_argument("--estimator", default="ml.inference.Estimator")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    missing = private_services_missing()
    if missing:
        raise SystemExit(f"cannot run the soak here: {missing}")
    with tempfile.TemporaryDirectory(prefix="ageweb-soak-") as folder:
        figures = soak(
            workdir=Path(folder), clients=args.clients, uploads=args.uploads, estimator=args.estimator,
            concurrency=args.worker_concurrency,
        )  # fmt: skip
    print(report(figures), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if passed(figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
