//! The blob contract: one suite run against the local folder and the S3 emulator (moto).
//! Presigned URLs are exercised over real HTTP in both cases.

use crate::common;

use bytes::Bytes;
use leadgate_core::ports::blob::{BlobError, BlobKey, BlobStore, ServeAs, UploadTerms};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

fn key(s: &str) -> BlobKey {
    BlobKey::parse(s).unwrap()
}

async fn read_all(store: &dyn BlobStore, k: &BlobKey) -> Vec<u8> {
    let mut r = store.get(k).await.unwrap();
    let mut buf = Vec::new();
    r.read_to_end(&mut buf).await.unwrap();
    buf
}

async fn put_get_head_delete(store: Arc<dyn BlobStore>) {
    let k = key("imports/acme/leads file.csv");
    assert!(store.head(&k).await.unwrap().is_none());
    assert!(matches!(store.get(&k).await, Err(BlobError::NotFound)));
    let meta = store
        .put(&k, Bytes::from_static(b"name,email\nJane,j@x.com\n"), "text/csv")
        .await
        .unwrap();
    assert_eq!(meta.size, 24);
    assert_eq!(read_all(&*store, &k).await, b"name,email\nJane,j@x.com\n");
    let head = store.head(&k).await.unwrap().unwrap();
    assert_eq!(head.size, 24);
    assert!(!head.etag.is_empty());
    let replaced = store
        .put(&k, Bytes::from_static(b"other content"), "text/csv")
        .await
        .unwrap();
    assert_ne!(replaced.etag, head.etag, "a new version has a new etag");
    store.delete(&k).await.unwrap();
    assert!(store.head(&k).await.unwrap().is_none());
    store.delete(&k).await.unwrap();
}

async fn multipart_large_object(store: Arc<dyn BlobStore>) {
    let k = key("exports/acme/big.csv");
    let mut up = store.start_multipart(&k, "text/csv").await.unwrap();
    let chunk: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    for _ in 0..17 {
        up.write(Bytes::from(chunk.clone())).await.unwrap();
        assert!(
            store.head(&k).await.unwrap().is_none(),
            "nothing is visible before complete"
        );
    }
    let meta = up.complete().await.unwrap();
    assert_eq!(meta.size, 17 * 1024 * 1024);
    let body = read_all(&*store, &k).await;
    assert_eq!(body.len(), 17 * 1024 * 1024);
    assert_eq!(&body[..chunk.len()], &chunk[..]);
    assert_eq!(&body[16 * chunk.len()..], &chunk[..]);

    let small = key("exports/acme/small.csv");
    let mut up = store.start_multipart(&small, "text/csv").await.unwrap();
    up.write(Bytes::from_static(b"a,b\n")).await.unwrap();
    up.write(Bytes::from_static(b"1,2\n")).await.unwrap();
    up.complete().await.unwrap();
    assert_eq!(read_all(&*store, &small).await, b"a,b\n1,2\n");

    let aborted = key("exports/acme/aborted.csv");
    let mut up = store.start_multipart(&aborted, "text/csv").await.unwrap();
    up.write(Bytes::from(vec![7u8; 9 * 1024 * 1024])).await.unwrap();
    up.abort().await.unwrap();
    assert!(store.head(&aborted).await.unwrap().is_none());
}

async fn list_by_prefix(store: Arc<dyn BlobStore>) {
    for name in ["b.csv", "a.csv", "sub/c.csv", "d.csv"] {
        store
            .put(
                &key(&format!("imports/t1/{name}")),
                Bytes::from_static(b"x"),
                "text/csv",
            )
            .await
            .unwrap();
    }
    store
        .put(&key("imports/t2/a.csv"), Bytes::from_static(b"x"), "text/csv")
        .await
        .unwrap();
    store
        .put(&key("imports/t10/a.csv"), Bytes::from_static(b"x"), "text/csv")
        .await
        .unwrap();
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list("imports/t1/", after.as_deref(), 2).await.unwrap();
        assert!(page.items.len() <= 2);
        all.extend(page.items.iter().map(|m| m.key.to_string()));
        match page.next_after {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(
        all,
        [
            "imports/t1/a.csv",
            "imports/t1/b.csv",
            "imports/t1/d.csv",
            "imports/t1/sub/c.csv"
        ]
    );
    assert!(store.list("exports/", None, 10).await.unwrap().items.is_empty());
}

/// `verifies_signatures` is false for moto, whose server accepts any signature (its auth is
/// off unless IAM users are set up); the local adapter's verification is our own code.
async fn presigned_urls(store: Arc<dyn BlobStore>, verifies_signatures: bool) {
    let http = reqwest::Client::new();
    let k = key("attachments/acme/lead-1/contract.pdf");
    let terms = UploadTerms {
        content_type: Some("application/pdf"),
        exact_size: Some(13),
        once: true,
    };
    let put_url = store
        .presign_put(&k, Duration::from_secs(300), terms)
        .await
        .unwrap();
    let put = |body: &'static str, content_type: &'static str, if_none_match: bool| {
        let mut r = http.put(&put_url).header("content-type", content_type).body(body);
        if if_none_match {
            r = r.header("if-none-match", "*");
        }
        r.send()
    };
    if verifies_signatures {
        // Refused before anything is stored: another size, another type, no If-None-Match.
        for (body, ct, inm) in [
            ("%PDF-1.7 fake, but 100 MiB", "application/pdf", true),
            ("%PDF-1.7", "application/pdf", true),
            ("%PDF-1.7 fake", "text/html", true),
            ("%PDF-1.7 fake", "application/pdf", false),
        ] {
            let res = put(body, ct, inm).await.unwrap();
            assert!(
                res.status().is_client_error(),
                "{body:?} {ct} {inm}: {}",
                res.status()
            );
        }
        assert!(store.head(&k).await.unwrap().is_none());
    } else {
        // An upload URL without terms signs only the host: any Content-Type works on S3, as
        // the import job tells its clients.
        let open = store
            .presign_put(&k, Duration::from_secs(300), UploadTerms::default())
            .await
            .unwrap();
        let signed = open.split("X-Amz-SignedHeaders=").nth(1).unwrap_or_default();
        assert_eq!(signed.split('&').next(), Some("host"), "{open}");
        // moto takes any signature; the URL must still sign the terms for S3 to hold them.
        let signed = put_url.split("X-Amz-SignedHeaders=").nth(1).unwrap_or_default();
        let signed = signed.split('&').next().unwrap_or_default().replace("%3B", ";");
        for h in ["content-length", "content-type", "if-none-match"] {
            assert!(signed.split(';').any(|s| s == h), "{h} not signed in {put_url}");
        }
    }
    let res = put("%PDF-1.7 fake", "application/pdf", true).await.unwrap();
    assert!(res.status().is_success(), "presigned PUT: {}", res.status());
    assert_eq!(read_all(&*store, &k).await, b"%PDF-1.7 fake");
    // One upload per URL: a second one does not overwrite the first.
    let res = put("%PDF-1.7 evil", "application/pdf", true).await.unwrap();
    assert_eq!(res.status().as_u16(), 412, "second PUT through a single-use URL");
    assert_eq!(read_all(&*store, &k).await, b"%PDF-1.7 fake");
    let serve = ServeAs {
        content_type: Some("application/pdf"),
        filename: Some("Angebot Müller.pdf"),
    };
    let get_url = store
        .presign_get(&k, Duration::from_secs(300), serve)
        .await
        .unwrap();
    let res = http.get(&get_url).send().await.unwrap();
    assert!(res.status().is_success());
    // Served as the file it is, with its name for the save dialog.
    assert_eq!(res.headers()["content-type"], "application/pdf");
    match res.headers().get("content-disposition") {
        Some(v) => assert_eq!(v.to_str().unwrap(), serve.disposition().unwrap()),
        // moto does not apply S3's response overrides (S3 does, from the signed query): the
        // URL must still ask for them.
        None => assert!(
            get_url.contains("response-content-disposition=attachment"),
            "{get_url}"
        ),
    }
    assert_eq!(res.bytes().await.unwrap(), "%PDF-1.7 fake");
    if !verifies_signatures {
        return;
    }
    // A URL whose signature was tampered with is refused.
    let tampered = tamper(&get_url);
    let res = http.get(&tampered).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403, "tampered URL {tampered}");
    // Nor is a URL whose served type was changed (it would serve HTML from the bucket).
    let retyped = get_url.replace("rct=application", "rct=text");
    assert_ne!(retyped, get_url);
    let res = http.get(&retyped).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 403, "retyped URL {retyped}");
    // A GET URL does not allow a PUT.
    let res = http.put(&get_url).body("overwrite").send().await.unwrap();
    assert!(res.status().is_client_error());
    assert_eq!(read_all(&*store, &k).await, b"%PDF-1.7 fake");
}

/// Flips the last hex digit of the signature parameter.
fn tamper(url: &str) -> String {
    let marker = if url.contains("X-Amz-Signature=") {
        "X-Amz-Signature="
    } else {
        "signature="
    };
    let start = url.find(marker).unwrap() + marker.len();
    let end = url[start..].find('&').map(|i| start + i).unwrap_or(url.len());
    let mut sig: Vec<char> = url[start..end].chars().collect();
    let last = sig.len() - 1;
    sig[last] = if sig[last] == '0' { '1' } else { '0' };
    format!(
        "{}{}{}",
        &url[..start],
        sig.into_iter().collect::<String>(),
        &url[end..]
    )
}

macro_rules! contract {
    ($backend:ident, $make:expr, verifies_signatures = $verifies:expr) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn when_object_is_written_should_read_back_and_delete() {
                if let Some((store, _guard)) = $make.await {
                    put_get_head_delete(store).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn when_uploading_in_parts_should_appear_only_on_complete() {
                if let Some((store, _guard)) = $make.await {
                    multipart_large_object(store).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn when_listing_a_prefix_should_page_in_key_order() {
                if let Some((store, _guard)) = $make.await {
                    list_by_prefix(store).await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn when_presigned_should_work_over_http_and_refuse_tampering() {
                if let Some((store, _guard)) = $make.await {
                    presigned_urls(store, $verifies).await;
                }
            }
        }
    };
}

contract!(local_folder, common::local_blobs(), verifies_signatures = true);
contract!(s3, common::s3_blobs(), verifies_signatures = false);
