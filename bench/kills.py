"""The kill harness (issue I): ``kill -9`` of the home, of a provider node and of the SeaweedFS
server holding the provider's packs at random moments of publish, garbage collection, repack
and restore, each followed by recovery and the checks of ``homeport.testing.kills`` (verify
clean, nothing acknowledged lost, the provider's copy audits clean, every blob a record names
present). Prints how many kills landed in each scenario.

    .venv/bin/python bench/kills.py                      # 200 kills, then 5 killed restores
    .venv/bin/python bench/kills.py --kills 20 --restores 2 --json
    .venv/bin/python bench/kills.py --no-seaweed         # the provider's packs on its disk
    .venv/bin/python bench/kills.py --only repack-provider-gc --kills 20 --restores 0

Three lanes by default: three homes, each with its own provider node and SeaweedFS, run side
by side (a round mostly waits for the processes it starts), their kills counted together.

Everything runs on loopback in a temporary directory, removed at the end. Not a timed
benchmark: the figure is the count, and the number of failed checks (it must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from homeport.testing import kills
from homeport.testing.seaweed import find_weed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="kills to land (default 200)")
    parser.add_argument("--restores", type=int, default=5, help="killed restores at the end")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-photos", action="store_true", help="notes only, no photos")
    parser.add_argument("--minutes", type=float, help="stop starting rounds after this long")
    parser.add_argument("--json", action="store_true", help="print the tally as JSON")
    parser.add_argument("--lanes", type=int, default=3, help="homes run side by side (3)")
    parser.add_argument(
        "--seaweed",
        action=argparse.BooleanOptionalAction,
        default=find_weed() is not None,
        help="the provider's packs on SeaweedFS, killed too (default: when weed is installed)",
    )
    parser.add_argument(
        "--only",
        choices=sorted(kills.SCENARIOS),
        help="run only this scenario (repack-provider-gc: packs on disk, so no SeaweedFS)",
    )
    args = parser.parse_args()
    if args.only in kills.DISK_ONLY:
        args.seaweed = False
    with tempfile.TemporaryDirectory(prefix="homeport-kills-") as scratch:
        tally = kills.run(
            Path(scratch),
            args.kills,
            args.seed,
            args.restores,
            True,
            args.minutes,
            not args.no_photos,
            args.seaweed,
            lanes=args.lanes,
            scenarios={args.only: 1} if args.only else None,
        )
    doc = tally.as_dict()
    doc["load"] = [round(x, 2) for x in os.getloadavg()]
    doc["seaweed"] = args.seaweed
    doc["lanes"] = args.lanes
    doc["only"] = args.only
    if args.json:
        print(json.dumps(doc))
    else:
        print(f"kills: {doc['kills']} in {doc['seconds']} s (load {doc['load']})")
        for name, count in sorted(doc["by_scenario"].items()):
            print(f"  {name}: {count}")
        print(f"rounds: {doc['rounds']}")
        print(f"failed checks: {len(doc['failures'])}")
        for failure in doc["failures"]:
            print(f"  {failure}")
    return 1 if doc["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
