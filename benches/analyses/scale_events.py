#!/usr/bin/env python3
"""Scales the baseline dataset ClickBench-style: N copies of gen_events.py's file, each with
its own users (user_id + copy, distinct_id + "-copy"), over the same 90 days, so the 10 M-event
file becomes a 100 M-event file with 10 M users and the same per-user behaviour.

gen_events.py holds the whole table in memory (about 300 bytes per row), so 100 M rows do not
fit on a 24 GiB machine; this streams one copy at a time instead.

Usage: scale_events.py --input events_10m.parquet --copies 10 --out events_100m.parquet
"""
import argparse

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--input", required=True)
    p.add_argument("--copies", type=int, default=10)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    source = pq.ParquetFile(a.input)
    writer = pq.ParquetWriter(a.out, source.schema_arrow, compression="zstd")
    for copy in range(a.copies):
        for group in range(source.num_row_groups):
            t = source.read_row_group(group)
            if copy:
                user = pc.add(t.column("user_id"), pa.scalar(copy, pa.int64()))
                device = pc.binary_join_element_wise(
                    t.column("distinct_id"), pa.scalar(str(copy)), "-"
                )
                t = t.set_column(t.schema.get_field_index("user_id"), "user_id", user)
                t = t.set_column(
                    t.schema.get_field_index("distinct_id"), "distinct_id", device
                )
            writer.write_table(t)
        print(f"copy {copy + 1}/{a.copies} written", flush=True)
    writer.close()


if __name__ == "__main__":
    main()
