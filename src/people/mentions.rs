//! People named in text (changelogs, release notes): `@handles` and whole-word names. Every
//! source that credits mentions uses these, so a name counts the same wherever it is written.

/// `@handles` in a line of text (GitHub's rules: alphanumerics and inner hyphens, ≤ 39 chars).
pub fn handles(line: &str) -> Vec<&str> {
    let bytes = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'@'
            && (i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'.'))
        {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'-') {
                end += 1;
            }
            let handle = line[start..end].trim_end_matches('-');
            // An email's `@` is preceded by a word character, so it is skipped above; a trailing
            // `.` after a handle is sentence punctuation.
            if !handle.is_empty() && handle.len() <= 39 && !handle.starts_with('-') {
                out.push(handle);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Whether `name` occurs in `line` as whole words (case-sensitive, as names are written).
pub fn mentions_name(line: &str, name: &str) -> bool {
    if name.trim().is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(found) = line[from..].find(name) {
        let start = from + found;
        let end = start + name.len();
        let before_ok = line[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        let after_ok = line[end..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            return true;
        }
        from = start + name.len().max(1);
    }
    false
}
