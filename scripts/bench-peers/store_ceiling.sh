#!/usr/bin/env bash
# SQLite's own ceiling for the rows an import writes: the `sqlite3` shell copies the leads and
# their timeline entries that the gateway stored (read from a copy of its database) into a
# fresh database of the same schema and page size, BATCH leads to a transaction, in the order
# they were created. No file is read, nothing is parsed, validated or serialized, no duplicate
# is looked up: only the store's own work for the same rows. An import cannot beat it.
#
#   store_ceiling.sh DB WORKDIR BATCH SHAPE
#     SHAPE full:  the gateway's schema as is (every index and trigger), synchronous=FULL
#     SHAPE loose: the same schema with synchronous=OFF: no fsync at all
#     SHAPE bare:  the same tables and triggers without one index beside the tables' keys,
#                  synchronous=OFF: the most this store does with rows of this size at all
#
# Prints one JSON line: rows, secs, rows_per_s, batch, shape, page_size.
set -euo pipefail
src=$1 work=$2 batch=$3 shape=$4
copy=$work/ceiling-src.sqlite3 db=$work/ceiling.sqlite3 sql=$work/ceiling.sql
rm -f "$copy" "$db" "$db-wal" "$db-shm"
trap 'rm -f "$copy" "$db" "$db-wal" "$db-shm" "$sql"' EXIT
# A consistent copy of the live database (the gateway keeps running), plus each lead's place in
# creation order, so a batch is a range.
sqlite3 "$src" ".backup '$copy'"
sqlite3 "$copy" "CREATE TABLE ceiling_order AS
    SELECT row_number() OVER (ORDER BY created_pos) AS n, tenant, id FROM leads;
  CREATE INDEX ceiling_order_n ON ceiling_order (n);"
rows=$(sqlite3 "$copy" "SELECT count(*) FROM ceiling_order")
page=$(sqlite3 "$copy" "PRAGMA page_size")
schema=$(sqlite3 "$copy" ".schema" | grep -v 'ceiling_order')
sync=FULL
[[ $shape == full ]] || sync=OFF
if [[ $shape == bare ]]; then
  # Every index statement is one line in the schema (the migrations write them so).
  schema=$(grep -v -E '^CREATE (UNIQUE )?INDEX' <<<"$schema")
fi
{
  # The gateway's writer cache (WRITER_CACHE_KIB, adapters/sqlite/mod.rs), not the shell's 2 MB.
  echo "PRAGMA page_size = $page; PRAGMA journal_mode = WAL; PRAGMA synchronous = $sync;
    PRAGMA cache_size = -8192;"
  echo "$schema"
  echo "ATTACH '$copy' AS src;"
  for ((a = 1; a <= rows; a += batch)); do
    e=$((a + batch - 1))
    echo "BEGIN;
      INSERT INTO main.leads SELECT l.* FROM src.ceiling_order o
        JOIN src.leads l ON l.tenant = o.tenant AND l.id = o.id WHERE o.n BETWEEN $a AND $e ORDER BY o.n;
      INSERT INTO main.activities SELECT t.* FROM src.ceiling_order o
        JOIN src.activities t ON t.tenant = o.tenant AND t.lead_id = o.id WHERE o.n BETWEEN $a AND $e;
      COMMIT;"
  done
} >"$sql"
t0=$(date +%s.%N)
sqlite3 "$db" <"$sql" >/dev/null
t1=$(date +%s.%N)
stored=$(sqlite3 "$db" "SELECT count(*) FROM leads")
entries=$(sqlite3 "$db" "SELECT count(*) FROM activities")
want=$(sqlite3 "$copy" "SELECT count(*) FROM activities")
if [[ $stored != "$rows" || $entries != "$want" ]]; then
  echo "store_ceiling: copied $stored leads of $rows, $entries timeline entries of $want" >&2
  exit 1
fi
python3 -c 'import json,sys; r,t0,t1,b,s,p=sys.argv[1:]; d=float(t1)-float(t0); print(json.dumps({"rows":int(r),"secs":d,"rows_per_s":int(r)/d,"batch":int(b),"shape":s,"page_size":int(p)}))' \
  "$rows" "$t0" "$t1" "$batch" "$shape" "$page"
