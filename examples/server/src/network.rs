//! Network tokens: how the vault log names where a request came from
//! without naming the address. An access event (a sign-in, a SMART Health
//! Link opened) carries `from`, base64url of the first 6 bytes of
//! HMAC-SHA256(server secret, network), the network being the client's
//! IPv4 /24 or IPv6 /48. The same network gives the same token, so a
//! patient sees "opened from 3 places" or "a sign-in from somewhere new";
//! the vault cannot turn a token back into an address (the secret stays on
//! the server), and a /24 or /48 says less than the address would.
//!
//! The client's address is the connection's peer, or, only when the
//! deployment says it runs behind a proxy (`MEDSEAL_TRUST_FORWARDED=1`),
//! the first `X-Forwarded-For` address: otherwise any client could name
//! its own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::http::HeaderMap;
use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The key of the network tokens (32 random bytes kept in the database).
#[derive(Clone)]
pub struct TokenSecret([u8; 32]);

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

impl TokenSecret {
    /// The secret of 32 stored bytes.
    pub fn new(bytes: [u8; 32]) -> TokenSecret {
        TokenSecret(bytes)
    }

    /// The token of `ip`'s network.
    pub fn token(&self, ip: IpAddr) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(network_of(ip).as_bytes());
        let tag = mac.finalize().into_bytes();
        Base64UrlUnpadded::encode_string(tag.get(..6).unwrap_or_default())
    }
}

/// The network of an address as text: `a.b.c.0/24` for IPv4 (also an
/// IPv4-mapped IPv6 address), the /48 prefix for IPv6 (`2001:db8:1::/48`).
pub fn network_of(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{}/24", Ipv4Addr::new(a, b, c, 0))
        }
        IpAddr::V6(v6) => {
            let [a, b, c, ..] = v6.segments();
            let p = Ipv6Addr::new(a, b, c, 0, 0, 0, 0, 0);
            format!("{p}/48")
        }
    }
}

/// The client's address: the peer's, or with `trust_forwarded` the first
/// address of the first `X-Forwarded-For` header (the one the proxy
/// appended last is the proxy's view; the first is the client as the
/// first proxy saw it), falling back to the peer when it is missing or
/// not an address.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trust_forwarded: bool) -> IpAddr {
    if !trust_forwarded {
        return peer.ip();
    }
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .and_then(|first| {
            first
                .parse::<IpAddr>()
                .ok()
                .or_else(|| first.parse::<SocketAddr>().ok().map(|a| a.ip()))
        })
        .unwrap_or_else(|| peer.ip())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn networks_are_slash_24_and_slash_48() {
        let n = |s: &str| network_of(s.parse().unwrap());
        assert_eq!(n("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(n("::ffff:192.0.2.9"), "192.0.2.0/24");
        assert_eq!(n("2001:db8:1:2:3::4"), "2001:db8:1::/48");
        let key = TokenSecret::new([9; 32]);
        let t = |s: &str| key.token(s.parse().unwrap());
        assert_eq!(t("192.0.2.1"), t("192.0.2.254"));
        assert_ne!(t("192.0.2.1"), t("192.0.3.1"));
        assert_eq!(t("2001:db8:1:ffff::1"), t("2001:db8:1::2"));
        assert_ne!(t("2001:db8:1::1"), t("2001:db8:2::1"));
        assert_eq!(t("192.0.2.1").len(), 8);
        assert_ne!(
            TokenSecret::new([8; 32]).token("192.0.2.1".parse().unwrap()),
            t("192.0.2.1")
        );
    }

    #[test]
    fn forwarded_for_only_when_trusted() {
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.5, 10.0.0.1".parse().unwrap());
        assert_eq!(client_ip(peer, &h, false), peer.ip());
        assert_eq!(
            client_ip(peer, &h, true),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        h.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(client_ip(peer, &h, true), peer.ip());
        assert_eq!(client_ip(peer, &HeaderMap::new(), true), peer.ip());
    }
}
