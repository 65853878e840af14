//! Webhook signatures, all HMAC-SHA256 and all compared in constant time:
//! - forms: `X-Leadgate-Signature: t={unix},v1={hex}` over `"{t}.{body}"`, 300 s tolerance;
//!   outbound webhooks sign with the same scheme (`Leadgate-Signature`, Stripe's), one `v1`
//!   per valid secret while a rotation overlaps, so it is written here once for both ways;
//! - Meta: `X-Hub-Signature-256: sha256={hex}` over the raw body, keyed by the app secret;
//! - LinkedIn: `X-LI-Signature: {hex}` over `"hmacsha256=" + body` (as LinkedIn's webhook
//!   guide says), keyed by the client secret; a `hmacsha256=` prefix on the header value is
//!   tolerated. The validation challenge is the hex HMAC of challengeCode.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Stale,
    Mismatch,
}

impl std::error::Error for SignatureError {}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Missing => "the request is not signed",
            SignatureError::Malformed => "the signature header is malformed",
            SignatureError::Stale => "the signature timestamp is outside the 300 s tolerance",
            SignatureError::Mismatch => "the signature does not match",
        })
    }
}

fn mac(key: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length")
}

pub fn hmac_hex(key: &str, parts: &[&[u8]]) -> String {
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    hex::encode(m.finalize().into_bytes())
}

/// Checks `hex_sig` against the HMAC of `parts` in constant time.
fn verify_hex(key: &str, parts: &[&[u8]], hex_sig: &str) -> Result<(), SignatureError> {
    let sig = hex::decode(hex_sig.trim()).map_err(|_| SignatureError::Malformed)?;
    let mut m = mac(key);
    for p in parts {
        m.update(p);
    }
    m.verify_slice(&sig).map_err(|_| SignatureError::Mismatch)
}

/// The `t={unix},v1={hex}[,v1={hex}…]` header for `body` sent at `t`, one `v1` per secret (a
/// receiver accepts the delivery when any of them verifies with the secret it holds).
pub fn timestamped_header(secrets: &[&str], t: i64, body: &[u8]) -> String {
    let ts = t.to_string();
    let mut out = format!("t={ts}");
    for s in secrets {
        out.push_str(",v1=");
        out.push_str(&hmac_hex(s, &[ts.as_bytes(), b".", body]));
    }
    out
}

pub fn verify_form(
    secret: &str,
    header: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let (mut t, mut v1s) = (None, Vec::new());
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => v1s.push(v),
            _ => {}
        }
    }
    let Some(t) = t.filter(|_| !v1s.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    if (now_unix - t).abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale);
    }
    // Any one of the signatures (a sender rotating its secret sends two).
    let ts = t.to_string();
    let signed = [ts.as_bytes(), b".", body];
    let mut last = SignatureError::Mismatch;
    for v1 in v1s.iter().take(4) {
        match verify_hex(secret, &signed, v1) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

pub fn verify_meta(app_secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header.strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    verify_hex(app_secret, &[body], hex_sig)
}

pub fn verify_linkedin(client_secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex_sig = header.strip_prefix("hmacsha256=").unwrap_or(header);
    verify_hex(client_secret, &[b"hmacsha256=", body], hex_sig)
}

/// Constant-time equality of two secrets (Google's `google_key`, Meta's verify token).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_form_signature_is_off_by_one_byte_or_stale_should_refuse() {
        let body = br#"{"email":"a@b.co"}"#;
        let t = 1_800_000_000;
        let good = format!(
            "t={t},v1={}",
            hmac_hex("k3y", &[t.to_string().as_bytes(), b".", body])
        );
        assert_eq!(verify_form("k3y", Some(&good), body, t + 10), Ok(()));
        let mut tampered = body.to_vec();
        tampered[3] ^= 1;
        assert_eq!(
            verify_form("k3y", Some(&good), &tampered, t),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_form("k3y", Some(&good), body, t + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_form("k3y", Some(&good), body, t - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify_form("k3y", None, body, t), Err(SignatureError::Missing));
        assert_eq!(
            verify_form("k3y", Some("v1=zz"), body, t),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn when_signed_with_two_secrets_should_verify_with_either() {
        let body = br#"{"type":"lead.created"}"#;
        let t = 1_800_000_000;
        let h = timestamped_header(&["new", "old"], t, body);
        assert_eq!(h.matches(",v1=").count(), 2);
        assert_eq!(verify_form("new", Some(&h), body, t), Ok(()));
        assert_eq!(verify_form("old", Some(&h), body, t), Ok(()));
        assert_eq!(
            verify_form("other", Some(&h), body, t),
            Err(SignatureError::Mismatch)
        );
        // The scheme written out by hand: HMAC-SHA256 over "{t}.{body}".
        let by_hand = hmac_hex("new", &[b"1800000000.", body]);
        assert!(h.starts_with(&format!("t=1800000000,v1={by_hand},v1=")));
    }

    #[test]
    fn when_platform_signatures_are_checked_should_follow_their_formats() {
        let body = b"{}";
        let h = hmac_hex("s", &[body]);
        assert_eq!(verify_meta("s", Some(&format!("sha256={h}")), body), Ok(()));
        assert_eq!(verify_meta("s", Some(&h), body), Err(SignatureError::Malformed));
        let li = hmac_hex("s", &[b"hmacsha256=", body]);
        assert_eq!(verify_linkedin("s", Some(&li), body), Ok(()));
        assert_eq!(verify_linkedin("s", Some(&li.to_uppercase()), body), Ok(()));
        assert_eq!(
            verify_linkedin("s", Some(&format!("hmacsha256={li}")), body),
            Ok(())
        );
        assert_eq!(
            verify_linkedin("s", Some(&h), body),
            Err(SignatureError::Mismatch)
        );
        assert!(secrets_equal("abc", "abc") && !secrets_equal("abc", "abd") && !secrets_equal("abc", "ab"));
    }
}
