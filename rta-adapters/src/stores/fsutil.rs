//! File-name encoding and atomic writes shared by the file stores.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rta_core::{Error, Result};

/// Longest encoded file name accepted (most file systems allow 255 bytes).
const MAX_NAME: usize = 200;

/// Encodes any key as a portable file name: ASCII letters, digits, `-` and `_`
/// stay, everything else (including `.`, `/` and `%`) becomes `%XX`.
/// Upper-case letters are escaped as `^x` pairs so that keys differing only in
/// case map to different names on case-insensitive file systems.
pub(crate) fn encode_name(what: &str, key: &str) -> Result<String> {
    if key.is_empty() {
        return Err(Error::InvalidArgument(format!("{what} must not be empty")));
    }
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => out.push(b as char),
            b'A'..=b'Z' => {
                out.push('^');
                out.push(b.to_ascii_lowercase() as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    if out.len() > MAX_NAME {
        return Err(Error::InvalidArgument(format!(
            "{what} is too long ({} bytes; at most about {} allowed)",
            key.len(),
            MAX_NAME / 3
        )));
    }
    Ok(out)
}

/// Decodes a name made by [`encode_name`].
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn decode_name(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'^' => {
                out.push(bytes.get(i + 1)?.to_ascii_uppercase());
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `data` to a new temporary file in `dir` and syncs it.
pub(crate) fn write_temp(dir: &Path, data: &[u8]) -> Result<PathBuf> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!(".tmp-{}-{n}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    f.write_all(data)?;
    f.sync_all()?;
    Ok(path)
}

/// Writes `data` to `path`, replacing it atomically.
pub(crate) fn replace_file(dir: &Path, path: &Path, data: &[u8]) -> Result<()> {
    let tmp = write_temp(dir, data)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(())
}

/// Writes `data` to `path` only if it does not exist yet; returns `false`
/// (and writes nothing) when it does. Atomic against concurrent writers.
pub(crate) fn create_file(dir: &Path, path: &Path, data: &[u8]) -> Result<bool> {
    let tmp = write_temp(dir, data)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes temporary files left behind by a crash.
pub(crate) fn clean_temp(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_portable() {
        assert_eq!(encode_name("id", "abc-1_2").unwrap(), "abc-1_2");
        assert_eq!(encode_name("id", "A/.b").unwrap(), "^a%2F%2Eb");
        assert!(encode_name("id", "").is_err());
        assert!(encode_name("id", &"x".repeat(500)).is_err());
    }

    proptest! {
        #[test]
        fn encode_decode_roundtrip(key in "\\PC{1,15}") {
            let enc = encode_name("k", &key).unwrap();
            prop_assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_%^".contains(&b)));
            prop_assert_eq!(decode_name(&enc), Some(key));
        }
    }
}
