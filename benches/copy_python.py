#!/usr/bin/env python3
"""Baselines of the COPY benchmark: how long pyarrow takes just to read the shared chunks file,
and a bigger MLCPD-style input (the sample repeated N times per file, new file ids, the same
row-group size) to show that COPY's memory does not grow with file size.

    python benches/copy_python.py read
    python benches/copy_python.py grow OUT_DIR N
"""
import json, os, sys, time
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq

data = os.environ.get("NESTDB_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../shared/data"))
if sys.argv[1] == "read":
    t = time.perf_counter()
    tab = pq.read_table(os.path.join(data, "chunks.parquet"))
    s = time.perf_counter() - t
    print(json.dumps({"bench": "copy", "engine": "pyarrow read_table", "rows": tab.num_rows, "seconds": s, "rows_per_s": tab.num_rows / s}))
else:
    out, n = sys.argv[2], int(sys.argv[3])
    os.makedirs(out, exist_ok=True)
    sample = os.path.join(data, "mlcpd-sample")
    for f in sorted(os.listdir(sample)):
        src = pq.ParquetFile(os.path.join(sample, f))
        group = src.metadata.row_group(0).num_rows  # same row groups: a longer file, not wider reads
        t = src.read()
        parts = [t.set_column(t.schema.get_field_index("file_id"), "file_id", pc.add(t["file_id"], i * 1_000_000)) for i in range(n)]
        pq.write_table(pa.concat_tables(parts), os.path.join(out, f), row_group_size=group)
