//! The local folder that stands in for the bucket on one machine.
//!
//! Writes go to `{root}/.lg-tmp/` and are renamed into place, so a reader never sees a
//! half-written object (the same guarantee S3 gives). Presigned URLs point at the gateway's
//! `/blobs/{key}` route (see `router`), signed with HMAC-SHA256 and an expiry, and checked in
//! constant time.

use crate::config::LocalBlobConfig;
use crate::ports::blob::{BlobError, BlobKey, BlobMeta, BlobPage, BlobReader, BlobStore, MultipartUpload};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path as AxPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use futures::StreamExt;
use hmac::{Hmac, Mac};
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
}

fn io(e: std::io::Error) -> BlobError {
    if e.kind() == std::io::ErrorKind::NotFound {
        BlobError::NotFound
    } else {
        BlobError::unavailable(e)
    }
}

fn meta_of(key: &BlobKey, m: &std::fs::Metadata) -> BlobMeta {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    BlobMeta {
        key: key.clone(),
        size: m.len(),
        etag: format!("{:x}-{mtime:x}", m.len()),
    }
}

impl LocalBlobStore {
    pub fn open(cfg: LocalBlobConfig) -> Result<Self, BlobError> {
        std::fs::create_dir_all(cfg.root.join(TMP_DIR)).map_err(io)?;
        Ok(Self { cfg })
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

    fn signature(&self, method: &str, key: &str, expires: u64) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.cfg.signing_key.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(format!("{method}\n{key}\n{expires}").as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn presign(&self, method: &str, key: &BlobKey, ttl: Duration) -> String {
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + ttl.as_secs();
        let sig = hex::encode(self.signature(method, key.as_str(), expires));
        format!(
            "{}/blobs/{}?expires={expires}&signature={sig}",
            self.cfg.public_url.trim_end_matches('/'),
            utf8_percent_encode(key.as_str(), KEY_ENCODE)
        )
    }

    /// Checks a presigned request: signature (constant time) and expiry.
    pub fn verify(&self, method: &str, key: &str, expires: u64, signature_hex: &str) -> bool {
        let Ok(sig) = hex::decode(signature_hex) else {
            return false;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut mac = Hmac::<Sha256>::new_from_slice(self.cfg.signing_key.expose().as_bytes())
            .expect("HMAC takes any key length");
        mac.update(format!("{method}\n{key}\n{expires}").as_bytes());
        mac.verify_slice(&sig).is_ok() && now <= expires
    }

    /// The routes that serve presigned URLs: `GET` and `PUT /blobs/{key}`.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/blobs/{*key}", get(serve_get).put(serve_put))
            .with_state(self)
    }
}

#[derive(Deserialize)]
struct Presigned {
    expires: u64,
    signature: String,
}

fn denied() -> Response {
    (StatusCode::FORBIDDEN, "presigned URL is invalid or expired").into_response()
}

async fn serve_get(
    State(store): State<Arc<LocalBlobStore>>,
    AxPath(key): AxPath<String>,
    Query(p): Query<Presigned>,
) -> Response {
    if !store.verify("GET", &key, p.expires, &p.signature) {
        return denied();
    }
    let Ok(key) = BlobKey::parse(&key) else {
        return denied();
    };
    match store.get(&key).await {
        Ok(reader) => {
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
            ([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response()
        }
        Err(BlobError::NotFound) => (StatusCode::NOT_FOUND, "no such object").into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "local blob read failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn serve_put(
    State(store): State<Arc<LocalBlobStore>>,
    AxPath(key): AxPath<String>,
    Query(p): Query<Presigned>,
    body: Body,
) -> Response {
    if !store.verify("PUT", &key, p.expires, &p.signature) {
        return denied();
    }
    let Ok(key) = BlobKey::parse(&key) else {
        return denied();
    };
    let result = async {
        let mut up = store.start_multipart(&key, "application/octet-stream").await?;
        let mut stream = body.into_data_stream();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(c) => up.write(c).await?,
                Err(e) => {
                    up.abort().await?;
                    return Err(BlobError::unavailable(std::io::Error::other(e.to_string())));
                }
            }
        }
        up.complete().await
    }
    .await;
    match result {
        Ok(meta) => (StatusCode::OK, [(header::ETAG, format!("\"{}\"", meta.etag))]).into_response(),
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

#[async_trait::async_trait]
impl MultipartUpload for LocalUpload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.file.write_all(&chunk).await.map_err(io)
    }

    async fn complete(mut self: Box<Self>) -> Result<BlobMeta, BlobError> {
        self.file.flush().await.map_err(io)?;
        self.file.sync_all().await.map_err(io)?;
        self.store.publish(&self.tmp, &self.key).await
    }

    async fn abort(self: Box<Self>) -> Result<(), BlobError> {
        drop(self.file);
        tokio::fs::remove_file(&self.tmp).await.map_err(io)
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
        let tmp = self.temp_path();
        let file = tokio::fs::File::create(&tmp).await.map_err(io)?;
        Ok(Box::new(LocalUpload {
            store: self.clone(),
            key: key.clone(),
            tmp,
            file,
        }))
    }

    async fn presign_get(&self, key: &BlobKey, ttl: Duration) -> Result<String, BlobError> {
        Ok(self.presign("GET", key, ttl))
    }

    async fn presign_put(
        &self,
        key: &BlobKey,
        ttl: Duration,
        _content_type: &str,
    ) -> Result<String, BlobError> {
        Ok(self.presign("PUT", key, ttl))
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
        for k in keys {
            let key = BlobKey::parse(&k)?;
            if let Some(m) = self.head(&key).await? {
                items.push(m);
            }
        }
        let next_after = if more {
            items.last().map(|m| m.key.to_string())
        } else {
            None
        };
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
