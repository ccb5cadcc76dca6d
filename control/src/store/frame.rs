//! Checksummed records: every value the store writes is `crc32(body) ++ body`, so a torn or
//! damaged record is detected when read and reported with the file it came from, never
//! silently decoded.

use std::path::Path;

use crate::Error;

/// Prefixes `body` with its CRC-32 (little endian).
pub fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Checks and strips the checksum of a record read from `path`; `what` names the record.
pub fn open<'a>(
    path: &Path,
    what: &dyn Fn() -> String,
    record: &'a [u8],
) -> Result<&'a [u8], Error> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        what: what(),
        reason,
    };
    if record.len() < 4 {
        return Err(corrupt(format!(
            "record of {} bytes is shorter than its checksum",
            record.len()
        )));
    }
    let (sum, body) = record.split_at(4);
    let want = u32::from_le_bytes([sum[0], sum[1], sum[2], sum[3]]);
    let got = crc32fast::hash(body);
    if want != got {
        return Err(corrupt(format!(
            "checksum mismatch (stored {want:08x}, computed {got:08x})"
        )));
    }
    Ok(body)
}

/// Decodes a protobuf (raft-rs) message from a sealed record.
pub fn open_message<M: protobuf::Message>(
    path: &Path,
    what: &dyn Fn() -> String,
    record: &[u8],
) -> Result<M, Error> {
    let body = open(path, what, record)?;
    M::parse_from_bytes(body).map_err(|e| Error::Corrupt {
        path: path.to_path_buf(),
        what: what(),
        reason: e.to_string(),
    })
}

/// Encodes a protobuf (raft-rs) message into a sealed record.
pub fn seal_message<M: protobuf::Message>(m: &M) -> Vec<u8> {
    // Encoding into a Vec only fails for messages missing required fields, which proto3
    // messages (all of raft-rs') do not have.
    seal(&m.write_to_bytes().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_records_are_reported_with_the_path() {
        let p = Path::new("/data/raft.redb");
        let what = || "entry 7".to_owned();
        let rec = seal(b"hello");
        assert_eq!(open(p, &what, &rec).unwrap(), b"hello");
        let mut bad = rec.clone();
        bad[5] ^= 1;
        let e = open(p, &what, &bad).unwrap_err().to_string();
        assert!(
            e.contains("/data/raft.redb") && e.contains("entry 7") && e.contains("checksum"),
            "{e}"
        );
        assert!(open(p, &what, &rec[..2]).is_err());
    }
}
