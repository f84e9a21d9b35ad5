"""One demo node's application as its own process: the contacts app and a TCP banner.

`python -m simplefailover.demo.app --id node1 --address 127.0.0.11 --http-port 8080
--banner-port 5060 --database demo-data/node1/app.db` serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from ..config import Node
from ..errors import BindError
from .nodes import DemoNode

logger = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve one node's contacts app and banner until told to stop."""
    parser = argparse.ArgumentParser(prog="python -m simplefailover.demo.app", description=__doc__)
    parser.add_argument("--id", required=True, help="the node id shown on its pages")
    parser.add_argument("--address", required=True, help="the node's loopback address")
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--banner-port", type=int, required=True)
    parser.add_argument("--database", type=Path, required=True, help="the node's SQLite file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    node = DemoNode(
        Node(id=args.id, address=args.address),
        args.http_port,
        [args.banner_port],
        database=args.database,
    )
    try:
        node.start()
    except BindError as exc:
        print(exc, file=sys.stderr)
        return 1
    logger.info(
        "%s serving on %s (http %d, banner %d)", args.id, args.address, args.http_port, args.banner_port
    )
    while not stop.wait(0.5):
        pass
    node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
