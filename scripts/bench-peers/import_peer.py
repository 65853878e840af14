"""The end-to-end peer of a Leadgate import into SQLite: the script a user would write
instead. pandas read_csv, email-validator and phonenumbers for the same checks, dedupe by
email (first row wins), then one executemany into SQLite (WAL, synchronous=FULL) in one
transaction, into a table with an email and a phone index. Timed from reading the file to the
commit. Prints one JSON result like leadgate-bench does.

    import_peer.py FILE.csv DB.sqlite
"""
import json, os, resource, sqlite3, sys, time, uuid

import pandas as pd
import phonenumbers
from email_validator import EmailNotValidError, validate_email


def main(path, db):
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    started = time.perf_counter()
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows, leads, seen = 0, [], set()
    for first, last, email, phone, company, title, street, city, postal, country, source, tags in df.itertuples(index=False):
        rows += 1
        name = f"{first.strip()} {last.strip()}".strip()
        if not name or not source.strip():
            continue
        try:
            email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            continue
        try:
            p = phonenumbers.parse(phone, "US")
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(p):
            continue
        if email in seen:
            continue
        seen.add(email)
        phone = phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)
        tag_list = sorted({t.strip().lower() for t in tags.replace(";", ",").split(",") if t.strip()})
        leads.append((str(uuid.uuid4()), name, email, phone, company.strip(), title.strip(),
                      street.strip(), city.strip(), postal.strip(), country.strip().upper(),
                      source.strip(), ",".join(tag_list)))
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = FULL")
    con.executescript(
        "CREATE TABLE leads (id TEXT PRIMARY KEY, name TEXT, email TEXT, phone TEXT, company TEXT,"
        " title TEXT, street TEXT, city TEXT, postal TEXT, country TEXT, source TEXT, tags TEXT);"
        "CREATE INDEX leads_email ON leads (email); CREATE INDEX leads_phone ON leads (phone);")
    with con:
        con.executemany("INSERT INTO leads VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", leads)
    con.close()
    secs = time.perf_counter() - started
    print(json.dumps({"bench": "peer_import", "rows": rows, "created": len(leads), "secs": secs,
                      "rows_per_s": rows / secs,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
