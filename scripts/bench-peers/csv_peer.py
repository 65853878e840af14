"""The Python peer of Leadgate's CSV import pipeline: pandas read_csv, email-validator and
phonenumbers doing the same per-row work (map, validate email and phone, normalize).
Prints one JSON result like leadgate-bench does."""
import json, resource, sys, time

import pandas as pd
import phonenumbers
from email_validator import EmailNotValidError, validate_email


def main(path):
    started = time.perf_counter()
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = valid = 0
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
        phone = phonenumbers.format_number(p, phonenumbers.PhoneNumberFormat.E164)
        lead = (name, email, phone, company.strip(), title.strip(), street.strip(), city.strip(),
                postal.strip(), country.strip().upper(),
                sorted({t.strip().lower() for t in tags.replace(";", ",").split(",") if t.strip()}))
        valid += 1
    secs = time.perf_counter() - started
    print(json.dumps({"bench": "peer_csv", "rows": rows, "valid": valid, "secs": secs,
                      "rows_per_s": rows / secs,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main(sys.argv[1])
