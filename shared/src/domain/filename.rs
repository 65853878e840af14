//! The one rule for a file name a client gives us (an import file, an attachment), and the
//! bucket key segment made from it. The rule is what the OpenAPI document states as a pattern
//! (1-200 characters; no slash, backslash or control character; not starting with '.'), so a
//! name is taken as sent, untrimmed. Bytes are the store's business: a name over the 255 bytes
//! a file system allows in one path segment is shortened in its key, never refused.

use crate::domain::error::FieldError;

pub const MAX_CHARS: usize = 200;
/// Most file systems refuse a path segment over 255 bytes.
pub const MAX_SEGMENT_BYTES: usize = 255;
/// The longest extension kept when a name is shortened for its key.
const MAX_EXTENSION_BYTES: usize = 16;

/// The rule as the OpenAPI document states it (with length 1-`MAX_CHARS`); `check_filename`
/// is the same rule in code, and a test holds the two together.
pub const PATTERN: &str = r"^[^./\\\u0000-\u001f\u007f-\u009f][^/\\\u0000-\u001f\u007f-\u009f]*$";

/// The OpenAPI schema of a filename a client gives.
pub fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(PATTERN))
        .min_length(Some(1))
        .max_length(Some(MAX_CHARS))
        .description(Some(
            "1-200 characters: no slash, backslash or control character, not starting with '.' \
             (a name over 255 bytes is shortened in its bucket key)",
        ))
        .into()
}

/// The name, or why it is not one.
pub fn check_filename(name: &str) -> Result<String, FieldError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_CHARS
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
                "a filename is 1-{MAX_CHARS} characters, with no slashes or control characters, \
                 not starting with '.'"
            ),
        ))
    }
}

/// The key segment for a checked name: the name itself when it fits in 255 bytes, else its
/// start cut on a character boundary, with its extension kept.
pub fn key_segment(name: &str) -> String {
    if name.len() <= MAX_SEGMENT_BYTES {
        return name.to_owned();
    }
    let ext = name
        .rfind('.')
        .map(|i| &name[i..])
        .filter(|e| e.len() <= MAX_EXTENSION_BYTES)
        .unwrap_or("");
    let mut cut = MAX_SEGMENT_BYTES - ext.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{ext}", &name[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_filename_cannot_be_a_key_segment_should_refuse_it() {
        assert_eq!(check_filename("leads.csv").unwrap(), "leads.csv");
        assert_eq!(check_filename("Clientes é.xlsx").unwrap(), "Clientes é.xlsx");
        for bad in [
            "",
            "a\u{0}b.csv",
            "a\nb.csv",
            "Icon\r",
            "a\u{85}b",
            "a/b.csv",
            "a\\b.csv",
            ".lg-x",
            ".hidden",
        ] {
            assert!(check_filename(bad).is_err(), "{bad:?}");
        }
        assert!(check_filename(&"é".repeat(200)).is_ok());
        assert!(check_filename(&"a".repeat(201)).is_err());
    }

    #[test]
    fn when_the_documented_pattern_is_read_should_match_the_rule() {
        let re = regex::Regex::new(PATTERN).unwrap();
        for s in [
            "leads.csv",
            "Clientes é.xlsx",
            " x",
            "a.b.c",
            "",
            ".x",
            ".lg-x",
            "a/b",
            "a\\b",
            "a\u{0}b",
            "Icon\r",
            "a\u{7f}",
            "a\u{85}b",
            "a\u{a0}b",
            "😀.csv",
        ] {
            assert_eq!(re.is_match(s), check_filename(s).is_ok(), "{s:?}");
        }
    }

    #[test]
    fn when_a_name_is_over_255_bytes_its_key_segment_should_fit_and_keep_the_extension() {
        let name = format!("{}.xlsx", "é".repeat(199));
        let seg = key_segment(&name);
        assert!(seg.len() <= MAX_SEGMENT_BYTES, "{}", seg.len());
        assert!(seg.ends_with(".xlsx") && seg.starts_with("éé"));
        assert_eq!(key_segment("short.csv"), "short.csv");
    }
}
