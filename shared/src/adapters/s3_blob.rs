//! The S3 bucket adapter (aws-sdk-s3). A custom endpoint (moto, MinIO) switches to path-style
//! addressing. Multipart uploads buffer 8 MiB parts; an upload that never fills one part
//! becomes a single PutObject.

use crate::config::{S3Config, aws_sdk_config};
use crate::ports::blob::{
    BlobError, BlobKey, BlobMeta, BlobPage, BlobReader, BlobStore, MultipartUpload, ServeAs, UploadTerms,
};
use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use std::time::Duration;

pub const PART_SIZE: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

fn sdk<E: std::error::Error + Send + Sync + 'static>(e: E) -> BlobError {
    BlobError::unavailable(e)
}

fn unquote(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_owned()
}

impl S3BlobStore {
    pub async fn connect(cfg: &S3Config) -> Self {
        let shared = aws_sdk_config(cfg.region.as_deref(), cfg.endpoint.as_deref()).await;
        let conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(cfg.endpoint.is_some())
            .build();
        Self::from_client(Client::from_conf(conf), cfg.bucket.clone())
    }

    pub fn from_client(client: Client, bucket: String) -> Self {
        Self { client, bucket }
    }

    /// Creates the bucket if it is missing (an emulator on first start; on AWS the stack
    /// template owns the bucket and this is never called).
    pub async fn ensure_bucket(&self) -> Result<(), BlobError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self.client.create_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    se.is_bucket_already_owned_by_you() || se.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk(e)),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

struct S3Upload {
    store: S3BlobStore,
    key: BlobKey,
    content_type: String,
    upload_id: Option<String>,
    buffer: BytesMut,
    parts: Vec<CompletedPart>,
    size: u64,
}

impl S3Upload {
    async fn flush_part(&mut self) -> Result<(), BlobError> {
        let s = &self.store;
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let out = s
                    .client
                    .create_multipart_upload()
                    .bucket(&s.bucket)
                    .key(self.key.as_str())
                    .content_type(&self.content_type)
                    .send()
                    .await
                    .map_err(sdk)?;
                let id = out.upload_id().unwrap_or_default().to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let body = self.buffer.split().freeze();
        let out = s
            .client
            .upload_part()
            .bucket(&s.bucket)
            .key(self.key.as_str())
            .upload_id(&upload_id)
            .part_number(number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk)?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .build(),
        );
        Ok(())
    }
}

#[async_trait::async_trait]
impl MultipartUpload for S3Upload {
    async fn write(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.size += chunk.len() as u64;
        self.buffer.extend_from_slice(&chunk);
        while self.buffer.len() >= PART_SIZE {
            let rest = self.buffer.split_off(PART_SIZE);
            self.flush_part().await?;
            self.buffer = rest;
        }
        Ok(())
    }

    async fn complete(mut self: Box<Self>) -> Result<BlobMeta, BlobError> {
        if self.upload_id.is_none() {
            let body = self.buffer.split().freeze();
            return self.store.put(&self.key, body, &self.content_type).await;
        }
        if !self.buffer.is_empty() {
            self.flush_part().await?;
        }
        let s = &self.store;
        let out = s
            .client
            .complete_multipart_upload()
            .bucket(&s.bucket)
            .key(self.key.as_str())
            .upload_id(self.upload_id.as_deref().unwrap_or_default())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map_err(sdk)?;
        Ok(BlobMeta {
            key: self.key.clone(),
            size: self.size,
            etag: unquote(out.e_tag()),
        })
    }

    async fn abort(self: Box<Self>) -> Result<(), BlobError> {
        if let Some(id) = &self.upload_id {
            self.store
                .client
                .abort_multipart_upload()
                .bucket(&self.store.bucket)
                .key(self.key.as_str())
                .upload_id(id)
                .send()
                .await
                .map_err(sdk)?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl BlobStore for S3BlobStore {
    async fn put(&self, key: &BlobKey, body: Bytes, content_type: &str) -> Result<BlobMeta, BlobError> {
        let size = body.len() as u64;
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(sdk)?;
        Ok(BlobMeta {
            key: key.clone(),
            size,
            etag: unquote(out.e_tag()),
        })
    }

    async fn get(&self, key: &BlobKey) -> Result<BlobReader, BlobError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Box::pin(out.body.into_async_read())),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => Err(BlobError::NotFound),
            Err(e) => Err(sdk(e)),
        }
    }

    async fn head(&self, key: &BlobKey) -> Result<Option<BlobMeta>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
        {
            Ok(out) => Ok(Some(BlobMeta {
                key: key.clone(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                etag: unquote(out.e_tag()),
            })),
            Err(e) if e.as_service_error().is_some_and(|se| se.is_not_found()) => Ok(None),
            Err(e) => Err(sdk(e)),
        }
    }

    async fn start_multipart(
        &self,
        key: &BlobKey,
        content_type: &str,
    ) -> Result<Box<dyn MultipartUpload>, BlobError> {
        Ok(Box::new(S3Upload {
            store: self.clone(),
            key: key.clone(),
            content_type: content_type.to_owned(),
            upload_id: None,
            buffer: BytesMut::with_capacity(64 * 1024),
            parts: Vec::new(),
            size: 0,
        }))
    }

    /// S3's response overrides (`response-content-type`, `response-content-disposition`) are
    /// part of the signed query, so the URL cannot be changed to serve anything else.
    async fn presign_get(
        &self,
        key: &BlobKey,
        ttl: Duration,
        serve: ServeAs<'_>,
    ) -> Result<String, BlobError> {
        let conf = PresigningConfig::expires_in(ttl).map_err(sdk)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_response_content_type(serve.content_type.map(str::to_owned))
            .set_response_content_disposition(serve.disposition())
            .presigned(conf)
            .await
            .map_err(sdk)?;
        Ok(req.uri().to_owned())
    }

    /// The terms become signed headers: S3 refuses a PUT whose Content-Type, Content-Length or
    /// If-None-Match differ from what was signed, and answers 412 to a second PUT under
    /// `If-None-Match: *` (a conditional write), so the URL is good for one upload.
    async fn presign_put(
        &self,
        key: &BlobKey,
        ttl: Duration,
        terms: UploadTerms<'_>,
    ) -> Result<String, BlobError> {
        let conf = PresigningConfig::expires_in(ttl).map_err(sdk)?;
        let mut put = self.client.put_object().bucket(&self.bucket).key(key.as_str());
        if let Some(ct) = terms.content_type {
            put = put.content_type(ct);
        }
        if let Some(n) = terms.exact_size {
            put = put.content_length(i64::try_from(n).map_err(sdk)?);
        }
        if terms.once {
            put = put.if_none_match("*");
        }
        let req = put.presigned(conf).await.map_err(sdk)?;
        Ok(req.uri().to_owned())
    }

    async fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<BlobPage, BlobError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(after.map(str::to_owned))
            .max_keys(limit.clamp(1, 1000) as i32)
            .send()
            .await
            .map_err(sdk)?;
        let mut items = Vec::new();
        let mut last_raw = None;
        for o in out.contents() {
            let Some(k) = o.key() else { continue };
            last_raw = Some(k.to_owned());
            let key = match BlobKey::parse(k) {
                Ok(key) => key,
                Err(e) => {
                    crate::ports::blob::skip_invalid_key(k, &e);
                    continue;
                }
            };
            items.push(BlobMeta {
                key,
                size: o.size().unwrap_or(0).max(0) as u64,
                etag: unquote(o.e_tag()),
            });
        }
        // Page on from the last name listed, skipped or not, so odd names cannot loop.
        let next_after = if out.is_truncated().unwrap_or(false) {
            last_raw
        } else {
            None
        };
        Ok(BlobPage { items, next_after })
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .send()
            .await
            .map_err(sdk)?;
        Ok(())
    }
}
