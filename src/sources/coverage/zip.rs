//! One file out of a CI artifact (GitHub serves artifacts as zip archives), with the `zip`
//! crate: stored and deflated entries, data descriptors, ZIP64; the content's size capped
//! while it is inflated and its CRC checked. Encrypted entries and other methods are errors.

use std::io::Read;

/// The largest file taken out of an archive.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// The first file whose name `wanted` accepts: its name and its content.
pub fn file(
    zip: &[u8],
    wanted: impl Fn(&str) -> bool,
) -> Result<Option<(String, Vec<u8>)>, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip))
        .map_err(|e| format!("not a readable zip archive: {e}"))?;
    for i in 0..archive.len() {
        // The names first, without inflating anything.
        let name = {
            let entry = archive
                .by_index_raw(i)
                .map_err(|e| format!("zip entry {i}: {e}"))?;
            let name = entry
                .name()
                .map_err(|e| format!("zip entry {i}: {e}"))?
                .into_owned();
            if entry.is_dir() || !wanted(&name) {
                continue;
            }
            name
        };
        let entry = archive.by_index(i).map_err(|e| format!("{name}: {e}"))?;
        if entry.size() > MAX_FILE_BYTES as u64 {
            return Err(format!("{name}: larger than {MAX_FILE_BYTES} bytes"));
        }
        let mut content = Vec::with_capacity(entry.size() as usize);
        // The declared size is the archive's word: the cap holds whatever it says.
        entry
            .take(MAX_FILE_BYTES as u64 + 1)
            .read_to_end(&mut content)
            .map_err(|e| format!("{name}: {e}"))?;
        if content.len() > MAX_FILE_BYTES {
            return Err(format!("{name}: larger than {MAX_FILE_BYTES} bytes"));
        }
        return Ok(Some((name, content)));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;

    /// An archive written by the zip crate: seekable (sizes in the headers) or streamed
    /// (sizes in data descriptors after each entry), optionally with ZIP64 records.
    fn archive(
        entries: &[(&str, &[u8], CompressionMethod)],
        streamed: bool,
        zip64: bool,
    ) -> Vec<u8> {
        fn write<W: Write + std::io::Seek>(
            mut w: zip::ZipWriter<W>,
            entries: &[(&str, &[u8], CompressionMethod)],
            zip64: bool,
        ) -> W {
            for (name, content, method) in entries {
                let options = SimpleFileOptions::default()
                    .compression_method(*method)
                    .large_file(zip64);
                w.start_file(*name, options).unwrap();
                w.write_all(content).unwrap();
            }
            w.finish().unwrap()
        }
        if streamed {
            let w = zip::ZipWriter::new_stream(Vec::new());
            write(w, entries, zip64).into_inner()
        } else {
            write(
                zip::ZipWriter::new(std::io::Cursor::new(Vec::new())),
                entries,
                zip64,
            )
            .into_inner()
        }
    }

    #[test]
    fn stored_deflated_streamed_and_zip64_entries_come_out() {
        let xml = b"<coverage line-rate=\"0.5\"/>".repeat(50);
        for (streamed, zip64) in [(false, false), (true, false), (false, true), (true, true)] {
            let zip = archive(
                &[
                    ("notes.txt", b"hi", CompressionMethod::Stored),
                    ("cov/", b"", CompressionMethod::Stored),
                    ("cov/coverage.xml", &xml, CompressionMethod::Deflated),
                ],
                streamed,
                zip64,
            );
            let what = format!("streamed {streamed}, zip64 {zip64}");
            let (name, content) = file(&zip, |n| n.ends_with(".xml")).unwrap().unwrap();
            assert_eq!(
                (name.as_str(), content.as_slice()),
                ("cov/coverage.xml", &xml[..]),
                "{what}"
            );
            assert_eq!(
                file(&zip, |n| n == "notes.txt").unwrap().unwrap().1,
                b"hi",
                "{what}"
            );
            assert!(file(&zip, |n| n == "none").unwrap().is_none(), "{what}");
            assert!(file(&zip[..zip.len() - 30], |_| true).is_err(), "{what}");
        }
        assert!(file(b"not a zip", |_| true).is_err());
    }

    #[test]
    fn damaged_content_and_unsupported_methods_are_errors() {
        let content = b"<coverage line-rate=\"0.5\"/>";
        let mut zip = archive(
            &[("coverage.xml", content, CompressionMethod::Stored)],
            false,
            false,
        );
        // One byte of the stored content changed: the CRC no longer matches.
        let at = zip
            .windows(content.len())
            .position(|w| w == content)
            .unwrap();
        zip[at + 1] ^= 0x20;
        let e = file(&zip, |_| true).unwrap_err();
        assert!(e.contains("checksum"), "{e}");
        // Method 12 (bzip2), which this build does not read, named as such.
        let mut zip = archive(
            &[("coverage.xml", content, CompressionMethod::Stored)],
            false,
            false,
        );
        for sig in [&[0x50u8, 0x4b, 0x03, 0x04][..], &[0x50, 0x4b, 0x01, 0x02]] {
            let at = zip.windows(4).position(|w| w == sig).unwrap();
            let method = at + if sig[2] == 3 { 8 } else { 10 };
            zip[method] = 12;
        }
        let e = file(&zip, |_| true).unwrap_err();
        assert!(
            e.contains("coverage.xml") && e.contains("ompression"),
            "{e}"
        );
    }
}
