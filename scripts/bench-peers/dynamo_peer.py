"""The DynamoDB peer of a Leadgate import: boto3's `batch_writer`, single-threaded, writing the
same items the gateway's import stored into a table of the same definition on the same
DynamoDB Local. It reads the gateway's table (a scan, not timed), creates `<table>-peer` with
the same keys and indexes (on-demand), then times only the writes: `batch_writer` sends
BatchWriteItem calls of 25, one after another, and resends unprocessed items, as the boto3
documentation shows it. Prints one JSON result like leadgate-bench does.

With PROCESSES above 1 it is DynamoDB Local's own ceiling for those items instead: that many
processes (not threads: boto3's client is CPU-bound Python, and threads would measure the
GIL), each with its own `batch_writer` over every PROCESSES-th item, timed from the first
start to the last exit. No client that writes these items, however it is built, goes faster
than Local takes them.

    dynamo_peer.py ENDPOINT TABLE [PROCESSES]
"""
import json, multiprocessing, sys, time

import boto3


def resource(endpoint):
    # A session of its own: boto3's default session is not shared across processes.
    return boto3.session.Session().resource(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )


def write(peer, items):
    with peer.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)


def write_in_own_process(endpoint, table, items):
    write(resource(endpoint).Table(table), items)


def main(endpoint, table, processes=1):
    db = resource(endpoint)
    source = db.Table(table)
    items, scan = [], {}
    while True:
        page = source.scan(**scan)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        scan = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    described = db.meta.client.describe_table(TableName=table)["Table"]
    peer_name = table + ("-peer" if processes == 1 else f"-peer{processes}")
    try:
        db.meta.client.delete_table(TableName=peer_name)
        db.meta.client.get_waiter("table_not_exists").wait(TableName=peer_name)
    except db.meta.client.exceptions.ResourceNotFoundException:
        pass
    create = {
        "TableName": peer_name,
        "KeySchema": described["KeySchema"],
        "AttributeDefinitions": described["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    indexes = [
        {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
        for g in described.get("GlobalSecondaryIndexes", [])
    ]
    if indexes:
        create["GlobalSecondaryIndexes"] = indexes
    db.meta.client.create_table(**create)
    db.meta.client.get_waiter("table_exists").wait(TableName=peer_name)
    peer = db.Table(peer_name)

    # Roughly DynamoDB's item size (attribute names plus values), for BENCHMARKS.md's
    # arithmetic of write units; and the items any index holds (the leads).
    size = lambda v: len(json.dumps(v, default=str, ensure_ascii=False).encode())
    sizes = [sum(len(k) + size(v) for k, v in item.items()) for item in items]
    index_keys = [{k["AttributeName"] for k in g["KeySchema"]} for g in indexes]
    in_indexes = [sum(keys <= i.keys() for keys in index_keys) for i in items]
    indexed = [n for n in in_indexes if n]

    # Forked after the scan, so each process has the items without a copy through a pipe.
    fork = multiprocessing.get_context("fork")
    writers = [
        fork.Process(target=write_in_own_process, args=(endpoint, peer_name, items[k::processes]))
        for k in range(processes)
    ] if processes > 1 else []
    started = time.perf_counter()
    if writers:
        for p in writers:
            p.start()
        for p in writers:
            p.join()
        if any(p.exitcode != 0 for p in writers):
            sys.exit("a writer process failed")
    else:
        write(peer, items)
    secs = time.perf_counter() - started
    # Counted, not timed: a figure for fewer items than the import stored would flatter.
    stored = sum(
        page["Count"]
        for page in db.meta.client.get_paginator("scan").paginate(TableName=peer_name, Select="COUNT")
    )
    if stored != len(items):
        sys.exit(f"{peer_name} holds {stored} items, {len(items)} were written")
    db.meta.client.delete_table(TableName=peer_name)
    print(json.dumps({
        "processes": processes, "items": len(items), "indexes": len(indexes), "secs": secs,
        "items_per_s": len(items) / secs,
        "avg_item_bytes": sum(sizes) / max(len(sizes), 1),
        "indexed_items": len(indexed),
        "avg_indexed_item_bytes": sum(b for b, n in zip(sizes, in_indexes) if n) / max(len(indexed), 1),
        "avg_indexes_per_indexed_item": sum(indexed) / max(len(indexed), 1),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
