"""A local Ray instance for tests/test_repro_ray.py: ``python tests/_ray_host.py ADDRESS_FILE``.

Starts Ray with 2 CPUs (the CI machine's cores), writes the address drivers join to
``ADDRESS_FILE``, and runs until SIGTERM, when it shuts Ray down.
"""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import ray


def main(address_file: str) -> None:
    ray.init(num_cpus=2, include_dashboard=False)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        tmp = Path(address_file + ".tmp")
        tmp.write_text(ray.get_runtime_context().gcs_address)
        tmp.replace(address_file)
        while True:
            time.sleep(1)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
