"""The Python peer of Leadgate's XLSX import: openpyxl (read-only mode) plus the same
per-row validation as csv_peer.py."""
import json, resource, sys, time

import openpyxl
import phonenumbers
from email_validator import EmailNotValidError, validate_email


def main(path):
    started = time.perf_counter()
    wb = openpyxl.load_workbook(path, read_only=True)
    ws = wb.worksheets[0]
    rows = valid = 0
    it = ws.iter_rows(values_only=True)
    next(it)
    for first, last, email, phone, company, title, street, city, postal, country in it:
        rows += 1
        name = f"{(first or '').strip()} {(last or '').strip()}".strip()
        if not name:
            continue
        try:
            email = validate_email((email or "").strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            continue
        try:
            p = phonenumbers.parse(phone or "", "US")
        except phonenumbers.NumberParseException:
            continue
        if not phonenumbers.is_valid_number(p):
            continue
        phone = phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)
        valid += 1
    secs = time.perf_counter() - started
    print(json.dumps({"bench": "peer_xlsx", "rows": rows, "valid": valid, "secs": secs,
                      "rows_per_s": rows / secs,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main(sys.argv[1])
