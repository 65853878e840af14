//! Whole numbers as JSON Schema reads them. The OpenAPI document types counts as `integer`
//! (`format: int32` for `u32`), and JSON Schema counts `1.0` as an integer, while serde's
//! integer types refuse it; and a `u32` takes values past int32's range that the document
//! says are invalid. These deserializers take exactly the document's integers.

use serde::Deserialize;
use serde::de::{Deserializer, Error};

fn whole<'de, D: Deserializer<'de>>(d: D, max: u64) -> Result<u64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    let v = match (n.as_u64(), n.as_f64()) {
        (Some(v), _) => Some(v),
        (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f <= max as f64 => Some(f as u64),
        _ => None,
    };
    match v {
        Some(v) if v <= max => Ok(v),
        _ => Err(D::Error::custom(format!(
            "expected a whole number from 0 to {max}"
        ))),
    }
}

/// A `u32` field documented as `int32`: 0 to 2147483647, `3.0` included.
pub fn int32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    whole(d, i32::MAX as u64).map(|v| v as u32)
}

/// An optional `u32` field documented as `int32`.
pub fn option_int32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => int32(n).map(Some).map_err(D::Error::custom),
    }
}

/// A `u64` field documented as `int64`, `3.0` included.
pub fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    whole(d, i64::MAX as u64)
}

#[cfg(test)]
mod tests {
    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "super::int32")]
        n: u32,
        #[serde(default, deserialize_with = "super::option_int32")]
        o: Option<u32>,
    }

    fn n(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn when_a_whole_number_is_written_as_a_float_should_take_it_within_int32() {
        assert_eq!(n(r#"{"n": 3}"#).unwrap().n, 3);
        assert_eq!(n(r#"{"n": 3.0}"#).unwrap().n, 3);
        assert_eq!(n(r#"{"n": 2147483647}"#).unwrap().n, 2_147_483_647);
        assert_eq!(n(r#"{"n": 1, "o": 2.0}"#).unwrap().o, Some(2));
        assert_eq!(n(r#"{"n": 1, "o": null}"#).unwrap().o, None);
        for bad in [
            r#"{"n": 3.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 2147483648}"#,
            r#"{"n": "3"}"#,
            r#"{"n": 1e300}"#,
        ] {
            assert!(n(bad).is_err(), "{bad}");
        }
    }
}
