"""A Python host for the end-to-end tests, on app/door/client.py without waiting for answers.

    python host.py PRODUCT BASE COUNT PAUSE_EVERY   tracks feature.export = BASE..BASE+COUNT-1,
    printing "sent N" every 1000 (a 1 ms pause after every PAUSE_EVERY events), then flushes.
"""

import sys
import time

from app.door.client import Client


def main() -> int:
    product, base, count, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4])
    client = Client(product, wait=False, connect_timeout=0.2,
                    on_error=lambda exc: print("refused", exc, file=sys.stderr, flush=True))
    for i in range(count):
        client.track("feature.export", value=base + i)
        if (i + 1) % 1000 == 0:
            print(f"sent {i + 1}", flush=True)
        if every > 0 and (i + 1) % every == 0:
            time.sleep(0.001)
    client.flush(60, send=False)
    print("flushed 0", flush=True)
    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
