//! Streams export rows into a bucket object with flat memory.
//!
//! - CSV (UTF-8 with a BOM, so Excel reads accents right): rows are encoded into a small
//!   buffer that goes to a multipart upload every 1 MiB; the adapter sends parts as they fill.
//! - XLSX: rust_xlsxwriter in constant-memory mode, on a blocking thread fed page by page. It
//!   keeps one row in memory and spills the rest to a scratch folder; the finished file is then
//!   streamed up. A sheet holds 1,048,575 rows under its header; more continue on "Leads 2"…
//!
//! Every cell goes through `cells::neutralize`, and XLSX cells are always strings, never
//! formulas.

use crate::cells::neutralize;
use crate::export::ExportFormat;
use crate::ports::blob::{BlobError, BlobKey, BlobMeta, BlobStore, MultipartUpload};
use bytes::Bytes;
use std::path::{Path, PathBuf};

const CSV_FLUSH: usize = 1024 * 1024;
const XLSX_MAX_ROWS: u32 = 1_048_576;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("blob storage: {0}")]
    Blob(#[from] BlobError),
    #[error("writing the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing the XLSX: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("scratch file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the XLSX writer stopped")]
    WriterGone,
}

type Rows = Vec<Vec<String>>;

enum Inner {
    Csv {
        csv: Box<csv::Writer<Vec<u8>>>,
        upload: Box<dyn MultipartUpload>,
    },
    Xlsx {
        pages: tokio::sync::mpsc::Sender<Rows>,
        thread: tokio::task::JoinHandle<Result<(), ExportError>>,
        file: PathBuf,
        key: BlobKey,
    },
}

pub struct ExportWriter {
    inner: Inner,
    rows: u64,
}

impl ExportWriter {
    /// Starts the object at `key` with its header row; `scratch` holds XLSX working files.
    pub async fn start(
        blobs: &dyn BlobStore,
        key: &BlobKey,
        format: ExportFormat,
        headers: &[String],
        scratch: &Path,
    ) -> Result<Self, ExportError> {
        let inner = match format {
            ExportFormat::Csv => {
                let mut upload = blobs.start_multipart(key, format.content_type()).await?;
                upload.write(Bytes::from_static("\u{feff}".as_bytes())).await?;
                let mut csv = new_csv();
                write_csv_row(&mut csv, headers)?;
                Inner::Csv {
                    csv: Box::new(csv),
                    upload,
                }
            }
            ExportFormat::Xlsx => {
                std::fs::create_dir_all(scratch)?;
                let work = tempfile::Builder::new().prefix("xlsx-").tempdir_in(scratch)?;
                let file = scratch.join(format!("export-{}.xlsx", uuid::Uuid::now_v7()));
                let (pages, rx) = tokio::sync::mpsc::channel::<Rows>(4);
                let headers = headers.to_vec();
                let target = file.clone();
                let thread = tokio::task::spawn_blocking(move || xlsx_thread(work, target, headers, rx));
                Inner::Xlsx {
                    pages,
                    thread,
                    file,
                    key: key.clone(),
                }
            }
        };
        Ok(Self { inner, rows: 0 })
    }

    pub async fn write_rows(&mut self, rows: Rows) -> Result<(), ExportError> {
        self.rows += rows.len() as u64;
        match &mut self.inner {
            Inner::Csv { csv, upload } => {
                for row in &rows {
                    write_csv_row(csv, row)?;
                }
                csv.flush()?;
                if csv.get_ref().len() >= CSV_FLUSH {
                    upload.write(drain(csv)?).await?;
                }
                Ok(())
            }
            Inner::Xlsx { pages, .. } => pages.send(rows).await.map_err(|_| ExportError::WriterGone),
        }
    }

    /// Data rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Completes the object; nothing is visible under the key before this.
    pub async fn finish(self, blobs: &dyn BlobStore) -> Result<BlobMeta, ExportError> {
        match self.inner {
            Inner::Csv { mut csv, mut upload } => {
                let rest = async {
                    upload.write(drain(&mut csv)?).await?;
                    Ok::<(), ExportError>(())
                }
                .await;
                match rest {
                    Ok(()) => Ok(upload.complete().await?),
                    Err(e) => {
                        let _ = upload.abort().await;
                        Err(e)
                    }
                }
            }
            Inner::Xlsx {
                pages,
                thread,
                file,
                key,
            } => {
                drop(pages);
                thread.await.map_err(|_| ExportError::WriterGone)??;
                let meta = upload_file(blobs, &key, &file).await;
                let _ = std::fs::remove_file(&file);
                meta
            }
        }
    }

    /// Gives up: any started upload is aborted, scratch files are removed.
    pub async fn abort(self) {
        match self.inner {
            Inner::Csv { upload, .. } => {
                let _ = upload.abort().await;
            }
            Inner::Xlsx {
                pages, thread, file, ..
            } => {
                drop(pages);
                let _ = thread.await;
                let _ = std::fs::remove_file(&file);
            }
        }
    }
}

fn new_csv() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::with_capacity(CSV_FLUSH + 64 * 1024))
}

fn write_csv_row(csv: &mut csv::Writer<Vec<u8>>, cells: &[String]) -> Result<(), ExportError> {
    let cells: Vec<_> = cells.iter().map(|c| neutralize(c)).collect();
    csv.write_record(cells.iter().map(|c| c.as_bytes()))?;
    Ok(())
}

/// The encoded rows so far, leaving an empty writer behind.
fn drain(csv: &mut csv::Writer<Vec<u8>>) -> Result<Bytes, ExportError> {
    let full = std::mem::replace(csv, new_csv());
    let buf = full.into_inner().map_err(|e| ExportError::Io(e.into_error()))?;
    Ok(Bytes::from(buf))
}

/// Writes the workbook from the pages it receives, then saves it to `target`.
fn xlsx_thread(
    work: tempfile::TempDir,
    target: PathBuf,
    headers: Vec<String>,
    mut pages: tokio::sync::mpsc::Receiver<Rows>,
) -> Result<(), ExportError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut wb = Workbook::new();
    wb.set_tempdir(work.path())?;
    let bold = Format::new().set_bold();
    let mut sheets = 0;
    let mut row: u32 = XLSX_MAX_ROWS;
    while let Some(page) = pages.blocking_recv() {
        for cells in page {
            if row == XLSX_MAX_ROWS {
                sheets += 1;
                let ws = wb.add_worksheet_with_constant_memory()?;
                ws.set_name(if sheets == 1 {
                    "Leads".to_owned()
                } else {
                    format!("Leads {sheets}")
                })?;
                for (c, h) in headers.iter().enumerate() {
                    ws.set_column_width(c as u16, 18)?;
                    ws.write_string_with_format(0, c as u16, neutralize(h), &bold)?;
                }
                row = 1;
            }
            let last = wb.worksheets_mut().len() - 1;
            let ws = wb.worksheet_from_index(last)?;
            for (c, v) in cells.iter().enumerate() {
                if !v.is_empty() {
                    ws.write_string(row, c as u16, neutralize(v))?;
                }
            }
            row += 1;
        }
    }
    if sheets == 0 {
        let ws = wb.add_worksheet_with_constant_memory()?;
        ws.set_name("Leads")?;
        for (c, h) in headers.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, neutralize(h), &bold)?;
        }
    }
    wb.save(&target)?;
    // The workbook's spill files go with `work` here; the saved file is the caller's.
    drop(wb);
    drop(work);
    Ok(())
}

async fn upload_file(blobs: &dyn BlobStore, key: &BlobKey, file: &Path) -> Result<BlobMeta, ExportError> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(file).await?;
    let mut upload = blobs
        .start_multipart(key, ExportFormat::Xlsx.content_type())
        .await?;
    let mut buf = vec![0u8; 1024 * 1024];
    let sent = async {
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                return Ok::<(), ExportError>(());
            }
            upload.write(Bytes::copy_from_slice(&buf[..n])).await?;
        }
    }
    .await;
    match sent {
        Ok(()) => Ok(upload.complete().await?),
        Err(e) => {
            let _ = upload.abort().await;
            Err(e)
        }
    }
}
