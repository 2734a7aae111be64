#!/usr/bin/env python3
"""Runs ../shared/baselines/gen_events.py for datasets past 2 GiB of `distinct_id` text (the
100 M-event run): the same generator and seed, with `distinct_id` built as `large_string`, whose
64-bit offsets hold more than 2 GiB (plain `string` overflows at ~60 M rows). Arguments are
gen_events.py's.

  gen_large.py --rows 100000000 --users 10000000 --out events_100m.parquet
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "..", "..", "shared", "baselines", "gen_events.py")

source = open(GEN).read()
ORIGINAL = '"distinct_id": distinct.take(pa.array(uidx)),'
if ORIGINAL not in source:
    sys.exit(f"{GEN} changed: {ORIGINAL!r} not found")
source = source.replace(
    ORIGINAL, '"distinct_id": distinct.cast(pa.large_string()).take(pa.array(uidx)),')
sys.argv[0] = GEN
exec(compile(source, GEN, "exec"), {"__name__": "__main__", "__file__": GEN})
