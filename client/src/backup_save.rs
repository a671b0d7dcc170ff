//! Backup files: a node's backup stream saved so the file is whole or absent (written
//! to `FILE.part`, synced, checked, then renamed), and a saved file checked offline.

use std::path::{Path, PathBuf};

use bazaar_api::backup::{summarize, BackupSummary};
use tokio::io::AsyncWriteExt;

use crate::api_client::{ApiClient, BackupStream};
use crate::error::ClientError;

/// `GET /admin/backup` from `client`'s node, streamed into `out`. `progress` gets the
/// bytes so far and the total.
pub async fn save_backup(
    client: &ApiClient,
    out: &Path,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<BackupSummary, ClientError> {
    let stream = client.backup_stream().await?;
    let announced_index = stream.index;
    let part = part_path(out);
    let summary = match save_stream(stream, &part, &mut progress).await {
        Ok(summary) => summary,
        Err(e) => {
            // A partial file must not be mistaken for a backup later.
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    if announced_index.is_some_and(|i| i != summary.index) {
        let _ = std::fs::remove_file(&part);
        return Err(ClientError::Backup(format!(
            "the node announced index {announced_index:?} but the file holds {}",
            summary.index
        )));
    }
    std::fs::rename(&part, out).map_err(|e| io_error(out, e))?;
    // The rename is only durable once the directory is synced too.
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(dir, e))?;
    }
    Ok(summary)
}

/// Reads a backup file whole, checking its format, framing and checksum.
pub fn inspect_file(path: &Path) -> Result<BackupSummary, ClientError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    summarize(file).map_err(|e| ClientError::Backup(format!("{}: {e}", path.display())))
}

fn part_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

fn io_error(path: &Path, e: std::io::Error) -> ClientError {
    ClientError::Backup(format!("{}: {e}", path.display()))
}

/// Writes the body into `part`, syncs it, and reads it back whole to check it.
async fn save_stream(
    mut stream: BackupStream,
    part: &Path,
    progress: &mut impl FnMut(u64, Option<u64>),
) -> Result<BackupSummary, ClientError> {
    let total = stream.total;
    let mut file = tokio::fs::File::create(part)
        .await
        .map_err(|e| io_error(part, e))?;
    let mut written = 0u64;
    while let Some(chunk) = stream.chunk().await? {
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error(part, e))?;
        written += chunk.len() as u64;
        progress(written, total);
    }
    file.sync_all().await.map_err(|e| io_error(part, e))?;
    drop(file);
    if total.is_some_and(|t| t != written) {
        return Err(ClientError::Backup(format!(
            "the download ended after {written} of {total:?} bytes"
        )));
    }
    let path = part.to_owned();
    tokio::task::spawn_blocking(move || inspect_file(&path))
        .await
        .map_err(|e| ClientError::Backup(format!("checking the backup failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_part_file_sits_beside_the_backup() {
        assert_eq!(
            part_path(Path::new("/b/shop.bak")),
            PathBuf::from("/b/shop.bak.part")
        );
    }

    #[test]
    fn a_damaged_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("junk.bak");
        std::fs::write(&path, b"junk").expect("write");
        let err = inspect_file(&path).expect_err("not a backup");
        assert!(err.to_string().contains("junk.bak"), "{err}");
        assert!(inspect_file(&dir.path().join("missing.bak")).is_err());
    }
}
