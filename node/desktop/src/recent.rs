//! Recently opened and saved `.canopy` files, kept in `DATA/recent.json` (newest
//! first, at most [`MAX_RECENT`]).

use std::path::{Path, PathBuf};

/// Files remembered.
pub const MAX_RECENT: usize = 10;

fn list_path(data: &Path) -> PathBuf {
    data.join("recent.json")
}

/// The remembered files that still exist, newest first. A damaged list is ignored.
pub fn load(data: &Path) -> Vec<PathBuf> {
    std::fs::read(list_path(data))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Vec<PathBuf>>(&bytes).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| p.exists())
        .take(MAX_RECENT)
        .collect()
}

/// Puts `file` first and saves the list; returns the new list.
pub fn remember(data: &Path, file: &Path) -> Vec<PathBuf> {
    let file = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let mut files = load(data);
    files.retain(|p| *p != file);
    files.insert(0, file);
    files.truncate(MAX_RECENT);
    if let Ok(json) = serde_json::to_vec_pretty(&files) {
        if let Err(error) = std::fs::write(list_path(data), json) {
            tracing::warn!(%error, "cannot save the recent files list");
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_without_duplicates_or_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<PathBuf> = (0..12)
            .map(|i| {
                let path = dir.path().join(format!("{i}.canopy"));
                std::fs::write(&path, b"x").unwrap();
                path
            })
            .collect();
        for file in &files {
            remember(dir.path(), file);
        }
        remember(dir.path(), &files[3]);
        let list = load(dir.path());
        assert_eq!(list.len(), MAX_RECENT);
        assert_eq!(list[0], files[3].canonicalize().unwrap());
        assert_eq!(list[1], files[11].canonicalize().unwrap());
        std::fs::remove_file(&files[11]).unwrap();
        assert!(!load(dir.path()).contains(&files[11].canonicalize().unwrap_or_default()));
        std::fs::write(list_path(dir.path()), b"not json").unwrap();
        assert!(load(dir.path()).is_empty());
    }
}
