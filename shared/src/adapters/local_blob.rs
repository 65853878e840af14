//! The local folder that stands in for the bucket on one machine.
//!
//! Writes go to `{root}/.lg-tmp/` and are renamed into place, so a reader never sees a
//! half-written object (the same guarantee S3 gives). Presigned URLs point at the gateway's
//! `/blobs/{key}` route (see `router`), signed with HMAC-SHA256 and an expiry, and checked in
//! constant time. An upload URL also signs its terms (content type, exact size, one upload
//! only) and the route refuses what S3 would refuse for the same terms.

use crate::config::LocalBlobConfig;
use crate::ports::blob::{
    BlobError, BlobKey, BlobMeta, BlobPage, BlobReader, BlobStore, MultipartUpload, ServeAs, UploadTerms,
};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path as AxPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use sha2::Sha256;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncWriteExt;

const TMP_DIR: &str = ".lg-tmp";

/// Path-segment encoding that keeps `/` and the unreserved characters.
const KEY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone)]
pub struct LocalBlobStore {
    cfg: LocalBlobConfig,
    /// Where an object uploaded through a presigned URL is announced: the stand-in for the
    /// bucket's ObjectCreated notification (`notify_uploads`).
    uploads: Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<BlobMeta>>>,
}

fn io(e: std::io::Error) -> BlobError {
    if e.kind() == std::io::ErrorKind::NotFound {
        BlobError::NotFound
    } else {
        BlobError::unavailable(e)
    }
}

fn meta_of(key: &BlobKey, m: &std::fs::Metadata) -> BlobMeta {
    BlobMeta {
        key: key.clone(),
        size: m.len(),
        etag: etag_of(m),
    }
}

/// A file's version, as `list` and `head` report it: its size and modification time.
pub fn etag_of(m: &std::fs::Metadata) -> String {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{:x}-{mtime:x}", m.len())
}

impl LocalBlobStore {
    pub fn open(cfg: LocalBlobConfig) -> Result<Self, BlobError> {
        std::fs::create_dir_all(cfg.root.join(TMP_DIR)).map_err(io)?;
        Ok(Self {
            cfg,
            uploads: Default::default(),
        })
    }

    /// Sends every object uploaded through a presigned URL from now on, once it is stored,
    /// as S3 sends ObjectCreated. Set once; a later call is ignored.
    pub fn notify_uploads(&self, to: tokio::sync::mpsc::UnboundedSender<BlobMeta>) {
        let _ = self.uploads.set(to);
    }

    pub fn root(&self) -> &Path {
        &self.cfg.root
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        // BlobKey::parse has ruled out `..`, absolute paths and backslashes.
        self.cfg.root.join(key.as_str())
    }

    fn temp_path(&self) -> PathBuf {
        self.cfg.root.join(TMP_DIR).join(uuid::Uuid::now_v7().to_string())
    }

    async fn publish(&self, tmp: &Path, key: &BlobKey) -> Result<BlobMeta, BlobError> {
        let dest = self.path(key);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        tokio::fs::rename(tmp, &dest).await.map_err(io)?;
        let m = tokio::fs::metadata(&dest).await.map_err(io)?;
        Ok(meta_of(key, &m))
    }

    /// Publishes only when nothing is at the key yet (a hard link fails on an existing name,
    /// atomically), for single-use uploads.
    async fn publish_new(&self, tmp: &Path, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        let dest = self.path(key);
        if let Some(dir) = dest.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(io)?;
        }
        let linked = tokio::fs::hard_link(tmp, &dest).await;
        let _ = tokio::fs::remove_file(tmp).await;
        match linked {
            Ok(()) => {
                let m = tokio::fs::metadata(&dest).await.map_err(io)?;
                Ok(Some(meta_of(key, &m)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    fn mac(&self, grant: &Grant<'_>) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.cfg.signing_key.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(grant.signed_text().as_bytes());
        mac
    }

    fn presign(&self, grant: Grant<'_>) -> String {
        let sig = hex::encode(self.mac(&grant).finalize().into_bytes());
        let mut url = format!(
            "{}/blobs/{}?expires={}&signature={sig}",
            self.cfg.public_url.trim_end_matches('/'),
            utf8_percent_encode(grant.key, KEY_ENCODE),
            grant.expires,
        );
        if let Some(n) = grant.size {
            url.push_str(&format!("&size={n}"));
        }
        if grant.once {
            url.push_str("&once=1");
        }
        match (grant.method, grant.content_type) {
            ("GET", Some(ct)) => url.push_str(&format!("&rct={}", utf8_percent_encode(ct, NON_ALPHANUMERIC))),
            (_, Some(_)) => url.push_str("&typed=1"),
            _ => {}
        }
        if let Some(d) = grant.disposition {
            url.push_str(&format!("&rcd={}", utf8_percent_encode(d, NON_ALPHANUMERIC)));
        }
        url
    }

    /// Checks a presigned request against what it says it allows: signature (constant time)
    /// and expiry.
    fn verify(&self, grant: &Grant<'_>, signature_hex: &str) -> bool {
        let Ok(sig) = hex::decode(signature_hex) else {
            return false;
        };
        self.mac(grant).verify_slice(&sig).is_ok() && now_secs() <= grant.expires
    }

    /// The routes that serve presigned URLs: `GET` and `PUT /blobs/{key}`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/blobs/{*key}", get(serve_get).put(serve_put))
            .with_state(self)
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// What a presigned URL allows; every field is covered by its signature.
struct Grant<'a> {
    method: &'static str,
    key: &'a str,
    expires: u64,
    size: Option<u64>,
    once: bool,
    /// A PUT's required Content-Type; a GET's served one.
    content_type: Option<&'a str>,
    /// A GET's Content-Disposition.
    disposition: Option<&'a str>,
}

impl Grant<'_> {
    fn signed_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            self.key,
            self.expires,
            self.size.map(|n| n.to_string()).unwrap_or_default(),
            u8::from(self.once),
            self.content_type
                .map_or_else(|| "*".to_owned(), |c| format!("={c}")),
            self.disposition
                .map_or_else(|| "*".to_owned(), |d| format!("={d}")),
        )
    }
}

#[derive(Deserialize)]
struct Presigned {
    expires: u64,
    signature: String,
    size: Option<u64>,
    once: Option<u8>,
    typed: Option<u8>,
    /// A GET's served Content-Type and Content-Disposition (signed).
    rct: Option<String>,
    rcd: Option<String>,
}

fn denied() -> Response {
    (StatusCode::FORBIDDEN, "presigned URL is invalid or expired").into_response()
}

async fn serve_get(
    State(store): State<Arc<LocalBlobStore>>,
    AxPath(key): AxPath<String>,
    Query(p): Query<Presigned>,
) -> Response {
    let grant = Grant {
        method: "GET",
        key: &key,
        expires: p.expires,
        size: None,
        once: false,
        content_type: p.rct.as_deref(),
        disposition: p.rcd.as_deref(),
    };
    if !store.verify(&grant, &p.signature) {
        return denied();
    }
    let Ok(key) = BlobKey::parse(&key) else {
        return denied();
    };
    match store.get(&key).await {
        Ok(reader) => {
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
            let mut res = body.into_response();
            let served = grant.content_type.unwrap_or("application/octet-stream");
            let h = res.headers_mut();
            if let Ok(v) = axum::http::HeaderValue::from_str(served) {
                h.insert(header::CONTENT_TYPE, v);
            }
            if let Some(v) = grant
                .disposition
                .and_then(|d| axum::http::HeaderValue::from_str(d).ok())
            {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            res
        }
        Err(BlobError::NotFound) => (StatusCode::NOT_FOUND, "no such object").into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "local blob read failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn header_str(h: &axum::http::HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn serve_put(
    State(store): State<Arc<LocalBlobStore>>,
    AxPath(key): AxPath<String>,
    Query(p): Query<Presigned>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Response {
    // As S3 reads a signed URL: the signed headers are what the request sends, so a request
    // with another Content-Type (or none) does not match the signature.
    let sent_type = header_str(&headers, header::CONTENT_TYPE);
    let grant = Grant {
        method: "PUT",
        key: &key,
        expires: p.expires,
        size: p.size,
        once: p.once == Some(1),
        content_type: if p.typed == Some(1) {
            Some(sent_type.unwrap_or(""))
        } else {
            None
        },
        disposition: None,
    };
    if !store.verify(&grant, &p.signature) {
        return denied();
    }
    if grant.once && header_str(&headers, header::IF_NONE_MATCH) != Some("*") {
        return denied();
    }
    let Ok(key) = BlobKey::parse(&key) else {
        return denied();
    };
    if let Some(n) = grant.size {
        let sent = header_str(&headers, header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if sent != Some(n) {
            return denied();
        }
    }
    if grant.once && matches!(store.head(&key).await, Ok(Some(_))) {
        return (
            StatusCode::PRECONDITION_FAILED,
            "an object is already stored under this key",
        )
            .into_response();
    }
    let limit = grant.size;
    let once = grant.once;
    let result = async {
        let mut up = LocalUpload::start(&store, &key).await?;
        let mut stream = body.into_data_stream();
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            // Every early return drops `up`, which removes its temporary file.
            let c = chunk.map_err(|e| BlobError::unavailable(std::io::Error::other(e.to_string())))?;
            written += c.len() as u64;
            if limit.is_some_and(|n| written > n) {
                return Ok(Err(StatusCode::BAD_REQUEST));
            }
            up.write(c).await?;
        }
        if limit.is_some_and(|n| written != n) {
            return Ok(Err(StatusCode::BAD_REQUEST));
        }
        if once {
            up.finish().await?;
            let tmp = up.tmp.clone();
            return Ok(store
                .publish_new(&tmp, &key)
                .await?
                .ok_or(StatusCode::PRECONDITION_FAILED));
        }
        Box::new(up).complete().await.map(Ok)
    }
    .await;
    match result {
        Ok(Ok(meta)) => {
            let etag = format!("\"{}\"", meta.etag);
            if let Some(to) = store.uploads.get() {
                let _ = to.send(meta);
            }
            (StatusCode::OK, [(header::ETAG, etag)]).into_response()
        }
        Ok(Err(status)) => (status, "the upload does not match its URL's terms").into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "local blob write failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

struct LocalUpload {
    store: LocalBlobStore,
    key: BlobKey,
    tmp: PathBuf,
    file: tokio::fs::File,
}

impl LocalUpload {
    async fn start(store: &LocalBlobStore, key: &BlobKey) -> Result<Self, BlobError> {
        let tmp = store.temp_path();
        let file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        Ok(Self {
            store: store.clone(),
            key: key.clone(),
            tmp,
            file,
        })
    }

    /// Flushes the file to disk without publishing it.
    async fn finish(&mut self) -> Result<(), BlobError> {
        self.file.flush().await.map_err(io)?;
        self.file.sync_all().await.map_err(io)
    }
}

#[async_trait::async_trait]
impl MultipartUpload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.file.write_all(&chunk).await.map_err(io)
    }

    async fn complete(mut self: Box<Self>) -> Result<BlobMeta, BlobError> {
        self.finish().await?;
        self.store.publish(&self.tmp, &self.key).await
    }

    async fn abort(self: Box<Self>) -> Result<(), BlobError> {
        // Drop removes the temporary file.
        Ok(())
    }
}

/// An upload that ends any way but published (aborted, failed, its client gone and the
/// future dropped) leaves no temporary file. After a publish the name is gone already.
impl Drop for LocalUpload {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Collects every object key under `dir` (relative to `root`), skipping the temp folder.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name() == TMP_DIR {
            continue;
        }
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobStore {
    async fn put(&self, key: &BlobKey, body: Bytes, _content_type: &str) -> Result<BlobMeta, BlobError> {
        let tmp = self.temp_path();
        let mut f = tokio::fs::File::create(&tmp).await.map_err(io)?;
        f.write_all(&body).await.map_err(io)?;
        f.sync_all().await.map_err(io)?;
        drop(f);
        self.publish(&tmp, key).await
    }

    async fn get(&self, key: &BlobKey) -> Result<BlobReader, BlobError> {
        let f = tokio::fs::File::open(self.path(key)).await.map_err(io)?;
        Ok(Box::pin(f))
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) if m.is_file() => Ok(Some(meta_of(key, &m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn start_multipart(
        &self,
        key: &BlobKey,
        _content_type: &str,
    ) -> Result<Box<dyn MultipartUpload>, BlobError> {
        Ok(Box::new(LocalUpload::start(self, key).await?))
    }

    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: Duration,
        serve: ServeAs<'_>,
    ) -> Result<String, BlobError> {
        let disposition = serve.disposition();
        Ok(self.presign(Grant {
            method: "GET",
            key: key.as_str(),
            expires: now_secs() + ttl.as_secs(),
            size: None,
            once: false,
            content_type: serve.content_type,
            disposition: disposition.as_deref(),
        }))
    }

    async fn presign_put(
        &self,
        key: &BlobKey,
        ttl: Duration,
        terms: UploadTerms<'_>,
    ) -> Result<String, BlobError> {
        Ok(self.presign(Grant {
            method: "PUT",
            key: key.as_str(),
            expires: now_secs() + ttl.as_secs(),
            size: terms.exact_size,
            once: terms.once,
            content_type: terms.content_type,
            disposition: None,
        }))
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<BlobPage, BlobError> {
        let root = self.cfg.root.clone();
        // Walk only the deepest folder the prefix names fully.
        let dir_part = prefix.rfind('/').map(|i| &prefix[..i]).unwrap_or("");
        let start = if dir_part.is_empty() {
            root.clone()
        } else {
            root.join(BlobKey::parse(dir_part)?.as_str())
        };
        let mut keys = tokio::task::spawn_blocking(move || {
            let mut v = Vec::new();
            walk(&root, &start, &mut v).map(|_| v)
        })
        .await
        .map_err(BlobError::unavailable)?
        .map_err(io)?;
        keys.retain(|k| k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a));
        keys.sort();
        let limit = limit.clamp(1, 1000) as usize;
        let more = keys.len() > limit;
        keys.truncate(limit);
        let mut items = Vec::with_capacity(keys.len());
        for k in &keys {
            let key = match BlobKey::parse(k) {
                Ok(key) => key,
                Err(e) => {
                    crate::ports::blob::skip_invalid_key(k, &e);
                    continue;
                }
            };
            if let Some(m) = self.head(&key).await? {
                items.push(m);
            }
        }
        // Page on from the last name listed, skipped or not, so odd names cannot loop.
        let next_after = if more { keys.last().cloned() } else { None };
        Ok(BlobPage { items, next_after })
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}
