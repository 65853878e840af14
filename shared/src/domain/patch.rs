//! What a partial update says of one optional field: absent (keep it), `null` (clear it), or
//! a value (set it), read as `None`, `Some(None)` and `Some(Some(v))`. serde alone reads
//! absent and `null` both as `None`; lead and deal PATCH bodies need them apart.

/// Reads a present field, `null` included, as `Some(..)`. With `#[serde(default)]` an absent
/// field stays `None`.
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    use serde::Deserialize;
    Option::<T>::deserialize(d).map(Some)
}

/// The field's value after the change.
pub fn patched<T: Clone>(current: Option<T>, change: &Option<Option<T>>) -> Option<T> {
    match change {
        None => current,
        Some(v) => v.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "double_option")]
        email: Option<Option<String>>,
    }

    #[test]
    fn when_a_field_is_absent_null_or_set_should_keep_clear_or_set_it() {
        let read = |json: &str| serde_json::from_str::<Body>(json).unwrap().email;
        let now = Some("a@example.com".to_owned());
        assert_eq!(patched(now.clone(), &read("{}")), now);
        assert_eq!(patched(now.clone(), &read(r#"{"email": null}"#)), None);
        assert_eq!(
            patched(now, &read(r#"{"email": "b@example.com"}"#)),
            Some("b@example.com".to_owned())
        );
    }
}
