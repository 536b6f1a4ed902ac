//! `.index` files: one log path per line, in order.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Reads an index file and resolves each entry against the index's folder
/// (entries may be absolute, `./name`, or a path from another machine, of
/// which only the file name is kept when it does not exist as given).
///
/// # Errors
/// The index cannot be read.
pub fn read_index(path: &Path) -> Result<Vec<PathBuf>> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(parse_index(&text, dir))
}

/// Parses index text; see [`read_index`].
pub fn parse_index(text: &[u8], dir: &Path) -> Vec<PathBuf> {
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .map(|l| {
            let p = PathBuf::from(String::from_utf8_lossy(l).trim().to_string());
            if p.is_absolute() && p.exists() {
                p
            } else {
                match p.file_name() {
                    Some(n) => dir.join(n),
                    None => dir.join(&p),
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_relative_absolute_and_foreign() {
        let v = parse_index(b"./mysql-bin.000001\n/nonexistent/dir/mysql-bin.000002\r\n\n", Path::new("/d"));
        assert_eq!(v, [PathBuf::from("/d/mysql-bin.000001"), PathBuf::from("/d/mysql-bin.000002")]);
    }
}
