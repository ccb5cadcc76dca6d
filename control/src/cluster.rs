//! Who is in the cluster: member ids and their addresses.
//!
//! Addresses are replicated with the configuration: a conf change that adds members carries
//! `ID=ADDRESS[,ID=ADDRESS...]` in its `context`, the same text `--initial-cluster` takes,
//! and the state machine keeps the book of current members (and the ids removed for good).

use std::collections::BTreeMap;

/// Member id → address (`host:port`).
pub type AddressBook = BTreeMap<u64, String>;

/// Parses `1=127.0.0.1:7001,2=127.0.0.1:7002`.
pub fn parse_initial_cluster(s: &str) -> Result<AddressBook, String> {
    let mut book = AddressBook::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (id, addr) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not ID=ADDRESS"))?;
        let id: u64 = id
            .trim()
            .parse()
            .map_err(|_| format!("member id {id:?} is not a number"))?;
        if id == 0 {
            return Err("member id 0 is reserved; number members from 1".into());
        }
        check_address(addr.trim()).map_err(|e| format!("member {id}: {e}"))?;
        if book.insert(id, addr.trim().to_owned()).is_some() {
            return Err(format!("member {id} is listed twice"));
        }
    }
    if book.is_empty() {
        return Err("the initial cluster is empty".into());
    }
    Ok(book)
}

/// A member address must be `host:port`, with nothing a URL would add.
pub fn check_address(addr: &str) -> Result<(), String> {
    if addr.is_empty() {
        return Err("no address".into());
    }
    if addr.contains("://") || addr.contains(',') || addr.contains('=') || addr.contains('/') {
        return Err(format!(
            "address {addr:?} must be HOST:PORT (no scheme, path or list)"
        ));
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(format!("address {addr:?} must be HOST:PORT")),
    }
}

/// The conf-change context that tells every member where new members listen.
pub fn encode(book: &AddressBook) -> Vec<u8> {
    book.iter()
        .map(|(id, addr)| format!("{id}={addr}"))
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}

/// Reads a conf-change context; an empty one (a removal) adds nobody.
pub fn decode(context: &[u8]) -> Result<AddressBook, String> {
    if context.is_empty() {
        return Ok(AddressBook::new());
    }
    let text = std::str::from_utf8(context).map_err(|_| "addresses are not UTF-8".to_owned())?;
    parse_initial_cluster(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_parses_and_rejects_mistakes() {
        let b = parse_initial_cluster("1=127.0.0.1:7001, 2=127.0.0.1:7002").unwrap();
        assert_eq!(b[&2], "127.0.0.1:7002");
        for bad in [
            "",
            "1",
            "x=a:1",
            "0=a:1",
            "1=a:1,1=b:1",
            "1=",
            "1=http://a:1",
            "1=a",
            "1=a:port",
        ] {
            assert!(parse_initial_cluster(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn context_round_trips() {
        let b = parse_initial_cluster("4=10.0.0.4:7000,5=[::1]:7001").unwrap();
        assert_eq!(decode(&encode(&b)).unwrap(), b);
        assert!(decode(b"").unwrap().is_empty());
        assert!(decode(b"\xff").is_err());
    }
}
