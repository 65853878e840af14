//! The blob port: the bucket (S3) or a local folder. Keys are `/`-separated paths such as
//! `imports/{tenant}/leads.csv`, checked by `BlobKey::parse` so no key can escape its root.

use bytes::Bytes;
use std::pin::Pin;
use std::time::Duration;
use tokio::io::AsyncRead;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob not found")]
    NotFound,
    #[error("invalid blob key: {0}")]
    InvalidKey(String),
    #[error("blob storage unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl BlobError {
    pub fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(e))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    pub const MAX_LEN: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, BlobError> {
        let bad = |why: &str| BlobError::InvalidKey(format!("{why}: {raw:?}"));
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(bad("a key is 1-1024 bytes"));
        }
        if raw.starts_with('/') || raw.ends_with('/') {
            return Err(bad("a key neither starts nor ends with '/'"));
        }
        for seg in raw.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." {
                return Err(bad("a key has no empty, '.' or '..' segments"));
            }
            if seg.starts_with(".lg-") {
                return Err(bad("segments starting with '.lg-' are reserved"));
            }
        }
        if raw.chars().any(|c| c.is_control() || c == '\\') {
            return Err(bad("a key has no control characters or backslashes"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A listed object whose name is not a valid key (a control character, a backslash, a
/// `.lg-` segment: a macOS `Icon\r` is enough). Listings leave it out, so one odd file never
/// stops every other import or export; it is reported once per process, in the log, with its
/// name escaped.
pub fn skip_invalid_key(raw: &str, why: &BlobError) {
    static REPORTED: std::sync::Mutex<Option<std::collections::HashSet<String>>> =
        std::sync::Mutex::new(None);
    let mut seen = REPORTED.lock().unwrap_or_else(|p| p.into_inner());
    if seen.get_or_insert_with(Default::default).insert(raw.to_owned()) {
        tracing::warn!(name = %raw.escape_debug(), reason = %why, "skipping a stored object whose name is not a valid key; rename it to have it read");
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub key: BlobKey,
    pub size: u64,
    /// Changes whenever the content changes; with the key it identifies one object version.
    pub etag: String,
}

pub type BlobReader = Pin<Box<dyn AsyncRead + Send>>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobPage {
    pub items: Vec<BlobMeta>,
    /// Pass as `after` to continue.
    pub next_after: Option<String>,
}

/// An upload written in parts; nothing is visible under the key until `complete`.
#[async_trait::async_trait]
pub trait MultipartUpload: Send {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError>;
    async fn complete(self: Box<Self>) -> Result<BlobMeta, BlobError>;
    async fn abort(self: Box<Self>) -> Result<(), BlobError>;
}

/// What a presigned upload URL binds the upload to. Both adapters refuse the same things: a
/// Content-Type other than the one given, a body of another size, a second upload when `once`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UploadTerms<'a> {
    /// The Content-Type the upload must be sent with; `None` takes any.
    pub content_type: Option<&'a str>,
    /// The exact size in bytes (sent as Content-Length); `None` takes any size.
    pub exact_size: Option<u64>,
    /// Only when nothing is stored under the key yet: the upload must send
    /// `If-None-Match: *`, and a second upload through the same URL is refused.
    pub once: bool,
}

impl UploadTerms<'_> {
    /// The headers a client must send with its PUT, as the API tells it.
    pub fn headers(&self) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        if let Some(ct) = self.content_type {
            out.insert("Content-Type".to_owned(), ct.to_owned());
        }
        if let Some(n) = self.exact_size {
            out.insert("Content-Length".to_owned(), n.to_string());
        }
        if self.once {
            out.insert("If-None-Match".to_owned(), "*".to_owned());
        }
        out
    }
}

/// How a presigned download is served: the content type and a file name for the browser's
/// save dialog (`Content-Disposition: attachment`), signed into the URL on both stores.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServeAs<'a> {
    pub content_type: Option<&'a str>,
    pub filename: Option<&'a str>,
}

impl ServeAs<'_> {
    /// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII stand-in for old
    /// clients, the exact name for the rest.
    pub fn disposition(&self) -> Option<String> {
        let name = self.filename?;
        let ascii: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let exact = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
        Some(format!(
            "attachment; filename=\"{ascii}\"; filename*=UTF-8''{exact}"
        ))
    }
}

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    async fn put(&self, key: &BlobKey, body: Bytes, content_type: &str) -> Result<BlobMeta, BlobError>;
    /// Streams the object; nothing is buffered whole.
    async fn get(&self, key: &BlobKey) -> Result<BlobReader, BlobError>;
    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError>;
    async fn start_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<Box<dyn MultipartUpload>, BlobError>;
    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: Duration,
        serve: ServeAs<'_>,
    ) -> Result<String, BlobError>;
    async fn presign_put(
        &self,
        key: &BlobKey,
        ttl: Duration,
        terms: UploadTerms<'_>,
    ) -> Result<String, BlobError>;
    /// Keys under `prefix` in key order, after `after`.
    async fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<BlobPage, BlobError>;
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_download_is_named_should_say_so_for_every_browser() {
        let serve = ServeAs {
            content_type: None,
            filename: Some("Angebot \"Müller\".pdf"),
        };
        assert_eq!(
            serve.disposition().unwrap(),
            "attachment; filename=\"Angebot _M_ller_.pdf\"; filename*=UTF-8''Angebot%20%22M%C3%BCller%22%2Epdf"
        );
        assert_eq!(ServeAs::default().disposition(), None);
    }

    #[test]
    fn when_key_escapes_or_is_odd_should_reject() {
        assert!(BlobKey::parse("imports/acme/leads.csv").is_ok());
        for bad in [
            "",
            "/abs",
            "a//b",
            "../x",
            "a/../b",
            "a/",
            "a\\b",
            "a/.lg-tmp",
            "a\nb",
        ] {
            assert!(BlobKey::parse(bad).is_err(), "{bad:?}");
        }
    }
}
