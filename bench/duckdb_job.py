"""The benchmark job in DuckDB (see bench/README.md).

usage: python3 bench/duckdb_job.py DIR
Loads DIR/day.csv and the reference CSVs into an in-memory DuckDB, times bench/job.sql
alone (loading is not timed, as for every contender), writes DIR/duckdb.csv and prints
{"duckdb_job_s": ..., "threads": ..., "version": ...} as JSON.
"""
import json
import pathlib
import sys
import time

import duckdb

here = pathlib.Path(__file__).parent
data = pathlib.Path(sys.argv[1])
con = duckdb.connect()
con.execute((here / "schema.sql").read_text())
for table, name in [("usage", "day.csv"), ("items", "items.csv"), ("prices", "prices.csv"),
                    ("quotas", "quotas.csv"), ("factors", "factors.csv"), ("accounts", "accounts.csv")]:
    con.execute(f"COPY {table} FROM '{data / name}' (FORMAT csv, HEADER true)")
start = time.perf_counter()
con.execute((here / "job.sql").read_text())
seconds = time.perf_counter() - start
con.execute(f"COPY (SELECT * FROM result ORDER BY account) TO '{data / 'duckdb.csv'}' (FORMAT csv, HEADER true)")
threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
print(json.dumps({"duckdb_job_s": seconds, "threads": threads, "version": duckdb.__version__}))
