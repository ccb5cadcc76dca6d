//! IPv4 CIDRs (`ADDRESS/BITS`), as the cluster's and each node's pod ranges are written.

use std::net::Ipv4Addr;

/// Parses `ADDRESS/BITS`: the network (host bits cleared) and the prefix length. The
/// caller checks the prefix against its own bounds.
pub fn ipv4_cidr(text: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, b) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not a CIDR (ADDRESS/BITS)"))?;
    let address: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("{text:?}: {a:?} is not an IPv4 address"))?;
    let prefix: u8 = b
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("{text:?}: {b:?} is not a prefix length (0 to 32)"))?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ok((Ipv4Addr::from(u32::from(address) & mask), prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cidr_is_its_network_and_prefix() {
        assert_eq!(
            ipv4_cidr("10.244.3.7/16").unwrap(),
            (Ipv4Addr::new(10, 244, 0, 0), 16)
        );
        assert_eq!(
            ipv4_cidr("10.1.2.3/32").unwrap().0,
            Ipv4Addr::new(10, 1, 2, 3)
        );
        assert_eq!(ipv4_cidr("10.1.2.3/0").unwrap().0, Ipv4Addr::UNSPECIFIED);
        for bad in ["10.0.0.0", "x/24", "10.0.0.0/33", "10.0.0.0/-1", "::1/64"] {
            assert!(ipv4_cidr(bad).is_err(), "{bad}");
        }
    }
}
