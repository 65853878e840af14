"""The DynamoDB peer of a Leadgate import: boto3's `batch_writer`, single-threaded, writing the
same items the gateway's import stored into a table of the same definition on the same
DynamoDB Local. It reads the gateway's table (a scan, not timed), creates `<table>-peer` with
the same keys and indexes (on-demand), then times only the writes: `batch_writer` sends
BatchWriteItem calls of 25, one after another, and resends unprocessed items, as the boto3
documentation shows it. Prints one JSON result like leadgate-bench does.

    dynamo_peer.py ENDPOINT TABLE
"""
import json, sys, time

import boto3


def main(endpoint, table):
    db = boto3.resource(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )
    source = db.Table(table)
    items, scan = [], {}
    while True:
        page = source.scan(**scan)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        scan = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    described = db.meta.client.describe_table(TableName=table)["Table"]
    peer_name = table + "-peer"
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

    started = time.perf_counter()
    with peer.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    secs = time.perf_counter() - started
    db.meta.client.delete_table(TableName=peer_name)
    print(json.dumps({
        "items": len(items), "indexes": len(indexes), "secs": secs,
        "items_per_s": len(items) / secs,
        "avg_item_bytes": sum(sizes) / max(len(sizes), 1),
        "indexed_items": len(indexed),
        "avg_indexed_item_bytes": sum(b for b, n in zip(sizes, in_indexes) if n) / max(len(indexed), 1),
        "avg_indexes_per_indexed_item": sum(indexed) / max(len(indexed), 1),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
