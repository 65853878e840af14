//! Spreadsheet cell text, shared by export and import.
//!
//! A cell that begins with `=`, `+`, `-`, `@`, a tab, CR or LF can run as a formula when a CSV
//! or XLSX is opened in a spreadsheet (CSV injection). Exports prefix such cells with `'`, as
//! OWASP recommends; imports take that prefix off again, so an export re-imports exactly. A
//! value that already starts with quotes before such a character gets one more quote, which
//! keeps the mapping reversible.

use std::borrow::Cow;

const TRIGGERS: [char; 7] = ['=', '+', '-', '@', '\t', '\r', '\n'];

fn needs_quote(v: &str) -> bool {
    v.trim_start_matches('\'').starts_with(TRIGGERS)
}

/// The text to write into an exported cell.
pub fn neutralize(v: &str) -> Cow<'_, str> {
    if needs_quote(v) {
        Cow::Owned(format!("'{v}"))
    } else {
        Cow::Borrowed(v)
    }
}

/// The value an imported cell stands for: `neutralize` undone.
pub fn restore(v: &str) -> &str {
    match v.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) => rest,
        _ => v,
    }
}

/// True when a spreadsheet could read the cell as a formula.
pub fn is_dangerous(v: &str) -> bool {
    v.starts_with(TRIGGERS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn when_a_cell_starts_like_a_formula_should_be_quoted() {
        for (raw, out) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+4930901820", "'+4930901820"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\r\n", "'\r\n"),
            ("'=already", "''=already"),
            ("plain", "plain"),
            ("it's", "it's"),
            ("'quoted", "'quoted"),
            ("", ""),
        ] {
            assert_eq!(neutralize(raw), out, "{raw:?}");
            assert_eq!(restore(out), raw, "{out:?}");
        }
    }

    fn cell_text() -> impl Strategy<Value = String> {
        // Biased towards the characters that matter, plus anything at all.
        prop_oneof!["['=+\\-@\t\r\n]{0,4}.{0,12}", any::<String>(),]
    }

    proptest! {
        #[test]
        fn when_any_text_is_neutralized_should_be_safe_and_reversible(s in cell_text()) {
            let out = neutralize(&s);
            prop_assert!(!is_dangerous(&out), "{:?} -> {:?}", s, out);
            prop_assert_eq!(restore(&out), s.as_str());
        }
    }
}
