//! Filesystem notifications for the bucket folder's `imports/`: a file closed after writing,
//! or moved in, is complete, so the import watcher starts on it at once instead of at its next
//! poll (which also waits one interval for the file to settle). The `notify` crate speaks
//! inotify on Linux, FSEvents on macOS and ReadDirectoryChangesW on Windows.
//!
//! Polling stays the fallback: notifications can be missing (a network filesystem, the
//! inotify watch limit, a folder created and written before its watch was added) and the
//! watcher's periodic scan finds those files anyway.

use leadgate_import::Arrivals;
use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Component, Path};

/// Watches `bucket/imports/` (created if missing) and reports complete files to
/// `arrivals`. The watch lasts as long as the returned watcher; `None` (logged) when the
/// platform refused one, and polling alone goes on.
pub fn watch_imports(bucket: &Path, arrivals: Arrivals) -> Option<notify::RecommendedWatcher> {
    let imports = bucket.join("imports");
    if let Err(e) = std::fs::create_dir_all(&imports) {
        tracing::warn!(error = %e, "no import folder to watch; polling only");
        return None;
    }
    // Events name absolute paths under the watched one; keys are relative to the bucket.
    let root = match bucket.canonicalize() {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "bucket folder unreadable; polling only");
            return None;
        }
    };
    let events_root = root.clone();
    let handler = move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if !is_complete(&event.kind) {
            return;
        }
        // A rename within the tree names both paths; the file is at the last. Its version
        // now is the one the event vouches for.
        let Some(path) = event.paths.last() else { return };
        if let (Some(key), Ok(meta)) = (bucket_key(&events_root, path), std::fs::metadata(path)) {
            arrivals.arrived(key, leadgate_core::adapters::local_blob::etag_of(&meta));
        }
    };
    // Watched by its canonical path, which events then name: a data folder reached through
    // a symlink (macOS's /tmp) still yields keys.
    let imports = root.join("imports");
    let watched = notify::recommended_watcher(handler)
        .and_then(|mut w| w.watch(&imports, RecursiveMode::Recursive).map(|()| w));
    match watched {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "no filesystem notifications for the import folder; polling only");
            None
        }
    }
}

/// A file is complete when its writer closed it, or when it was moved into place. A
/// creation alone is not: `cp` creates the file before it writes it.
fn is_complete(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
    )
}

/// `imports/…` for a path under the bucket folder, with `/` between parts; `None` for
/// anything else (the folder itself, a path that is not plain UTF-8 names).
fn bucket_key(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Option<Vec<&str>> = rel
        .components()
        .map(|c| match c {
            Component::Normal(s) => s.to_str(),
            _ => None,
        })
        .collect();
    let key = parts?.join("/");
    use leadgate_core::bucket_keys::IMPORTS;
    (key.starts_with(IMPORTS) && key.len() > IMPORTS.len()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_path_is_under_the_bucket_should_name_its_key() {
        let root = Path::new("/data/bucket");
        assert_eq!(
            bucket_key(root, Path::new("/data/bucket/imports/acme/leads.csv")).as_deref(),
            Some("imports/acme/leads.csv")
        );
        assert_eq!(bucket_key(root, Path::new("/data/bucket/imports")), None);
        assert_eq!(bucket_key(root, Path::new("/data/bucket/reports/x.json")), None);
        assert_eq!(bucket_key(root, Path::new("/elsewhere/imports/a.csv")), None);
    }

    #[test]
    fn when_a_file_is_only_created_should_not_count_as_complete() {
        use notify::event::CreateKind;
        assert!(!is_complete(&EventKind::Create(CreateKind::File)));
        assert!(is_complete(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_complete(&EventKind::Modify(ModifyKind::Name(RenameMode::To))));
    }
}
