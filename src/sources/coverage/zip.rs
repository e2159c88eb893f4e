//! Just enough of the zip format to take one file out of a CI artifact (GitHub serves
//! artifacts as zip archives): the central directory, stored and deflated entries, sizes
//! checked against limits. Anything else (encryption, zip64, other methods) is an error.

use std::io::Read;

/// The largest file taken out of an archive.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

fn u16_at(b: &[u8], at: usize) -> Result<u16, String> {
    b.get(at..at + 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| "truncated zip archive".to_string())
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "truncated zip archive".to_string())
}

/// The first file whose name `wanted` accepts: its name and its content.
pub fn file(
    zip: &[u8],
    wanted: impl Fn(&str) -> bool,
) -> Result<Option<(String, Vec<u8>)>, String> {
    // The end of central directory record: 22 bytes plus a comment of at most 65,535.
    let floor = zip.len().saturating_sub(22 + 65_535);
    let eocd = (floor..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..].starts_with(&[0x50, 0x4b, 0x05, 0x06]))
        .ok_or("not a zip archive (no end of central directory)")?;
    let entries = u16_at(zip, eocd + 10)? as usize;
    let mut at = u32_at(zip, eocd + 16)? as usize;
    for _ in 0..entries {
        if u32_at(zip, at)? != 0x0201_4b50 {
            return Err("broken zip central directory".into());
        }
        let flags = u16_at(zip, at + 8)?;
        let method = u16_at(zip, at + 10)?;
        let compressed = u32_at(zip, at + 20)? as usize;
        let size = u32_at(zip, at + 24)? as usize;
        let name_len = u16_at(zip, at + 28)? as usize;
        let extra_len = u16_at(zip, at + 30)? as usize;
        let comment_len = u16_at(zip, at + 32)? as usize;
        let local = u32_at(zip, at + 42)? as usize;
        let name = zip
            .get(at + 46..at + 46 + name_len)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .ok_or("truncated zip archive")?;
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') || !wanted(&name) {
            continue;
        }
        if flags & 1 != 0 {
            return Err(format!("{name}: encrypted zip entries are not supported"));
        }
        if size > MAX_FILE_BYTES || compressed == u32::MAX as usize {
            return Err(format!("{name}: larger than {MAX_FILE_BYTES} bytes"));
        }
        if u32_at(zip, local)? != 0x0403_4b50 {
            return Err("broken zip local header".into());
        }
        let start =
            local + 30 + u16_at(zip, local + 26)? as usize + u16_at(zip, local + 28)? as usize;
        let data = zip
            .get(start..start + compressed)
            .ok_or("truncated zip archive")?;
        let content = match method {
            0 => data.to_vec(),
            8 => {
                let mut out = Vec::with_capacity(size);
                flate2::read::DeflateDecoder::new(data)
                    .take(MAX_FILE_BYTES as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| format!("{name}: {e}"))?;
                if out.len() > MAX_FILE_BYTES {
                    return Err(format!("{name}: larger than {MAX_FILE_BYTES} bytes"));
                }
                out
            }
            m => {
                return Err(format!(
                    "{name}: zip compression method {m} is not supported"
                ))
            }
        };
        return Ok(Some((name, content)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zip archive made by Python's zipfile (one stored and one deflated entry).
    pub fn archive(entries: &[(&str, &[u8], bool)]) -> Vec<u8> {
        use std::io::Write;
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, content, deflate) in entries {
            let data = if *deflate {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(content).unwrap();
                e.finish().unwrap()
            } else {
                content.to_vec()
            };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0]);
            out.extend_from_slice(&method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc (not checked)
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(content.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&data);
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
            central.extend_from_slice(&method.to_le_bytes());
            central.extend_from_slice(&[0; 8]);
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(content.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 12]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn stored_and_deflated_entries_come_out() {
        let zip = archive(&[
            ("notes.txt", b"hi", false),
            ("cov/coverage.xml", b"<coverage line-rate=\"0.5\"/>", true),
        ]);
        let (name, content) = file(&zip, |n| n.ends_with(".xml")).unwrap().unwrap();
        assert_eq!(name, "cov/coverage.xml");
        assert_eq!(content, b"<coverage line-rate=\"0.5\"/>");
        assert_eq!(file(&zip, |n| n == "notes.txt").unwrap().unwrap().1, b"hi");
        assert!(file(&zip, |n| n == "none").unwrap().is_none());
        assert!(file(b"not a zip", |_| true).is_err());
        assert!(file(&zip[..zip.len() - 30], |_| true).is_err());
    }
}
