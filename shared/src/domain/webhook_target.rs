//! Where a tenant may send its webhooks. A tenant chooses the URL, so without these rules an
//! admin could point our network position at the cloud's metadata service or a private
//! address (SSRF). Checked when a subscription is saved (the URL's shape, an IP literal) and
//! again for every delivery, after DNS, on the addresses actually connected to
//! (`adapters::webhook_http`).

use crate::domain::error::FieldError;
use std::net::{IpAddr, Ipv4Addr};

pub const MAX_URL_LEN: usize = 2048;

/// Who may be called: the public internet over https, or (a development switch, never on a
/// deployed stack) loopback over http too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetPolicy {
    #[default]
    PublicHttps,
    AllowLoopback,
}

/// A subscription URL as saved: https, a host, no credentials, no fragment; an IP literal
/// must be public (loopback only under `AllowLoopback`).
pub fn parse_target(raw: &str, policy: TargetPolicy) -> Result<reqwest::Url, FieldError> {
    let bad = |msg: &str| FieldError::new("url", "invalid_url", msg);
    if raw.len() > MAX_URL_LEN {
        return Err(bad("a webhook URL is at most 2048 characters"));
    }
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| bad("not an absolute URL"))?;
    let loopback_ok = policy == TargetPolicy::AllowLoopback;
    match url.scheme() {
        "https" => {}
        "http" if loopback_ok => {}
        _ => return Err(bad("a webhook URL must be https")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("a webhook URL may not carry credentials"));
    }
    if url.fragment().is_some() {
        return Err(bad("a webhook URL may not have a #fragment"));
    }
    let ip = match url.host() {
        None => return Err(bad("a webhook URL needs a host")),
        Some(url::Host::Ipv4(a)) => Some(IpAddr::V4(a)),
        Some(url::Host::Ipv6(a)) => Some(IpAddr::V6(a)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if d == "localhost" || d.ends_with(".localhost") {
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            } else {
                None
            }
        }
    };
    if let Some(ip) = ip
        && !allowed(ip, policy)
    {
        return Err(bad(
            "a webhook URL may not point at a private, loopback or link-local address",
        ));
    }
    if url.scheme() == "http" && !ip.is_some_and(|ip| ip.is_loopback()) {
        return Err(bad("a webhook URL must be https"));
    }
    Ok(url)
}

/// Whether a delivery may connect to `ip`.
pub fn allowed(ip: IpAddr, policy: TargetPolicy) -> bool {
    if policy == TargetPolicy::AllowLoopback && ip.is_loopback() {
        return true;
    }
    is_public(ip)
}

/// Public unicast: not loopback, private, shared (CGNAT), link-local (the metadata service),
/// unspecified, broadcast, multicast, documentation or benchmarking space. IPv6 must be
/// global unicast (2000::/3) outside the transition ranges that tunnel to other addresses
/// (6to4, Teredo and the rest of 2001::/23); mapped and NAT64 forms are judged by the IPv4
/// address they carry.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = a.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public_v4(Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ));
            }
            let global_unicast = (s[0] & 0xe000) == 0x2000;
            // 2001::/23 (Teredo and other protocol assignments), 2001:db8::/32
            // (documentation), 2002::/16 (6to4).
            let tunnels_or_reserved = (s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8)) || s[0] == 0x2002; // 6to4
            global_unicast && !tunnels_or_reserved
        }
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o[0] == 0
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_url_points_inside_should_refuse_it() {
        for raw in [
            "http://example.com/hook",
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.7/",
            "https://[::1]/",
            "https://[::ffff:192.168.0.1]/",
            "https://[64:ff9b::a9fe:a9fe]/",
            "https://[fd00::1]/",
            "https://user:pw@example.com/",
            "ftp://example.com/",
            "https://100.64.1.1/",
            "https://0.0.0.0/",
            "https://",
            "https://[fe80::1]/",
            "https://[::127.0.0.1]/",
            "https://[2002:a9fe:a9fe::1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[fec0::1]/",
            "https://192.0.0.170/",
            "https://2130706433/",
            "https://0x7f.1/",
            "https://localhost./",
        ] {
            assert!(parse_target(raw, TargetPolicy::PublicHttps).is_err(), "{raw}");
        }
        assert!(
            parse_target(
                "https://hooks.example.com/leadgate?x=1",
                TargetPolicy::PublicHttps
            )
            .is_ok()
        );
        assert!(parse_target("https://8.8.8.8/", TargetPolicy::PublicHttps).is_ok());
        assert!(parse_target("https://[2606:4700::1111]/", TargetPolicy::PublicHttps).is_ok());
    }

    #[test]
    fn when_loopback_is_allowed_should_take_http_on_loopback_only() {
        let p = TargetPolicy::AllowLoopback;
        assert!(parse_target("http://127.0.0.1:9000/hook", p).is_ok());
        assert!(parse_target("http://localhost:9000/hook", p).is_ok());
        assert!(parse_target("http://example.com/hook", p).is_err());
        assert!(parse_target("https://10.1.2.3/hook", p).is_err());
    }
}
