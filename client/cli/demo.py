"""``confide demo``: the newcomer's tour (:mod:`confide.client.demo`)."""

from __future__ import annotations

import argparse
import sys


async def cmd_demo(args: argparse.Namespace) -> int:
    """Run the newcomer's tour."""
    from confide.client.demo import run_demo  # lazily: only this verb needs it

    return await run_demo(sys.stdout, expire_s=args.expire_s)
