//! The one rule for a file name a client gives us (an import file, an attachment): it becomes
//! the last segment of a bucket key and of a file in the local bucket folder, so it must be
//! valid as both. A name that is not is a 422 here, never a storage error later.

use crate::domain::error::FieldError;

pub const MAX_CHARS: usize = 200;
/// Most file systems refuse a path segment over 255 bytes.
pub const MAX_BYTES: usize = 255;

/// The trimmed name, or why it cannot be stored.
pub fn check_filename(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_CHARS
        && name.len() <= MAX_BYTES
        && !name.contains(['/', '\\'])
        && !name.starts_with('.')
        && !name.chars().any(char::is_control);
    if ok {
        Ok(name.to_owned())
    } else {
        Err(FieldError::new(
            "filename",
            "invalid_filename",
            format!(
                "a filename is 1-{MAX_CHARS} characters and at most {MAX_BYTES} bytes in UTF-8, \
                 with no slashes or control characters, not starting with '.'"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_filename_cannot_be_a_key_segment_should_refuse_it() {
        assert_eq!(check_filename("  leads.csv ").unwrap(), "leads.csv");
        assert_eq!(check_filename("Clientes é.xlsx").unwrap(), "Clientes é.xlsx");
        for bad in [
            "",
            " ",
            "a\u{0}b.csv",
            "a\nb.csv",
            "a\rb",
            "Ic\ron",
            "a/b.csv",
            "a\\b.csv",
            ".lg-x",
            ".hidden",
        ] {
            assert!(check_filename(bad).is_err(), "{bad:?}");
        }
        // 200 characters, but 400 bytes.
        assert!(check_filename(&"é".repeat(200)).is_err());
        assert!(check_filename(&"é".repeat(127)).is_ok());
        assert!(check_filename(&"a".repeat(201)).is_err());
    }
}
