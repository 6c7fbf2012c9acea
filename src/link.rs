//! SMART Health Links made by a vault (docs/FORMAT.md §15.8): a link key,
//! listed in the vault's manifest like a grant (so the owner's devices can
//! list, rebuild and revoke it), files encrypted to it as JWE (src/shl.rs),
//! and the `shlink:/` payload that carries the key in a URL fragment the
//! server never sees.
//!
//! The link's manifest URL names a **link id** derived one-way from the
//! key, so the owner can rebuild the URL from the key alone and the server
//! learns nothing about the key from it. The manifest entry's digest binds
//! the link id, expiry, flags and label: a server that stores a link checks
//! that the owner's signed manifest lists exactly that link.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::kdf::{self, put_lp};
use crate::manifest::{ShareKind, SHARE_ID_LEN};
use crate::shl::LinkPayload;
use crate::vault::Vault;

/// HKDF info: the link id from the link key.
const LINK_ID: &[u8] = b"medseal/v3/link/id";
/// First field (`lp`) of a link's digest.
const LINK_DIGEST: &[u8] = b"medseal/v3/link/digest";

/// The link id of a link key: base64url of `HKDF(key, "", "medseal/v3/link/id")`
/// (43 characters, 256 bits, as the spec asks of a manifest URL).
pub fn link_id(key: &[u8; 32]) -> String {
    crate::b64::encode(&kdf::hkdf32(key, &[], LINK_ID, &[]))
}

/// What a link's manifest entry binds: `SHA-256(lp("medseal/v3/link/digest")
/// || lp(link id) || u64be(expires) || lp(flag) || lp(label or ""))`. A
/// server recomputes it from what it is asked to store.
pub fn link_digest(link_id: &str, expires: u64, flag: &str, label: Option<&str>) -> [u8; 32] {
    let mut b = Vec::with_capacity(128);
    put_lp(&mut b, LINK_DIGEST);
    put_lp(&mut b, link_id.as_bytes());
    b.extend_from_slice(&expires.to_be_bytes());
    put_lp(&mut b, flag.as_bytes());
    put_lp(&mut b, label.unwrap_or("").as_bytes());
    Sha256::digest(&b).into()
}

/// A new link.
#[derive(Debug)]
pub struct LinkRequest<'a> {
    /// The manifest URL's prefix; the link id is appended (for example
    /// `https://phr.example/shl/`).
    pub base_url: &'a str,
    /// A short description for the receiver (at most 80 characters).
    pub label: Option<String>,
    /// Expiry, seconds since the Unix epoch.
    pub expires: u64,
    /// Whether the server asks for a passcode (flag `P`).
    pub passcode: bool,
}

/// A link just made.
#[derive(Debug)]
pub struct NewLink {
    /// The id of its manifest entry (what `revoke_share` takes).
    pub share_id: [u8; SHARE_ID_LEN],
    /// The link id: the last part of its manifest URL.
    pub link_id: String,
    /// The flags (`"P"` with a passcode, else `""`).
    pub flag: String,
    /// The link itself: `shlink:/…`, holding the key. Show it to the
    /// patient (QR code); never send it to the server.
    pub shlink: String,
}

fn flag(passcode: bool) -> &'static str {
    if passcode {
        "P"
    } else {
        ""
    }
}

impl Vault {
    /// Makes a SMART Health Link: a fresh link key listed in a new revision
    /// of the manifest (store it before the link's files: the reference
    /// server accepts only links the manifest lists). Encrypt the files with
    /// [`Vault::seal_link_file`]; revoke with [`Vault::revoke_share`].
    pub fn create_link(&mut self, req: LinkRequest<'_>) -> Result<NewLink> {
        if req.expires == 0 || req.expires > crate::manifest::MAX_REVISION {
            return Err(Error::InvalidArgument(
                "a link expires 1 to 2^53 - 1 seconds after 1970",
            ));
        }
        let key = Zeroizing::new(self.rng_mut().array::<32>()?);
        let share_id: [u8; SHARE_ID_LEN] = self.rng_mut().array()?;
        let link_id = link_id(&key);
        let flag = flag(req.passcode).to_string();
        let shlink = payload(
            &key,
            req.base_url,
            &link_id,
            &flag,
            req.label.as_deref(),
            req.expires,
        )?;
        let digest = link_digest(&link_id, req.expires, &flag, req.label.as_deref());
        let entry = self.share_entry(ShareKind::Link, share_id, None, req.expires, digest, &key)?;
        self.push_share(entry)?;
        Ok(NewLink {
            share_id,
            link_id,
            flag,
            shlink,
        })
    }

    /// The `shlink:/` text of one of this vault's active links again (to
    /// show its QR code on another device): the same key, URL and fields.
    /// `NotGranted` if the manifest does not list it (revoked).
    pub fn link_payload(
        &self,
        share_id: &[u8],
        base_url: &str,
        label: Option<&str>,
        passcode: bool,
    ) -> Result<String> {
        let (expires, digest, key) = self.share_key_of(share_id, ShareKind::Link)?;
        let id = link_id(&key);
        let flag = flag(passcode);
        if link_digest(&id, expires, flag, label).as_slice() != digest.as_slice() {
            return Err(Error::InvalidArgument(
                "label or passcode flag differ from the link's",
            ));
        }
        payload(&key, base_url, &id, flag, label, expires)
    }

    /// Encrypts one file of an active link (a FHIR Bundle, as
    /// `application/fhir+json`) as a JWE to the link key.
    pub fn seal_link_file(
        &mut self,
        share_id: &[u8],
        content_type: &str,
        data: &[u8],
        now: u64,
    ) -> Result<String> {
        let (expires, _, key) = self.share_key_of(share_id, ShareKind::Link)?;
        if now >= expires {
            return Err(Error::GrantExpired { expires });
        }
        // The vault's random source (seeded in the vector tests) draws the IV.
        crate::shl::jwe_encrypt_with(self.rng_mut(), &key, content_type, data)
    }
}

fn payload(
    key: &[u8; 32],
    base_url: &str,
    link_id: &str,
    flag: &str,
    label: Option<&str>,
    expires: u64,
) -> Result<String> {
    let mut p = LinkPayload::new(format!("{base_url}{link_id}"), *key);
    p.exp = Some(expires);
    p.flag = flag.to_string();
    p.label = label.map(str::to_owned);
    p.to_shlink()
}

/// A file of a link opened by its receiver (who holds the `shlink:/` text,
/// and no vault).
pub struct LinkFile {
    /// The JWE's `cty`.
    pub content_type: Option<String>,
    /// The decrypted bytes.
    pub data: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for LinkFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkFile")
            .field("content_type", &self.content_type)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Opens a link's file with the key of its `shlink:/` text (or a viewer URL
/// ending in `#shlink:/…`). Any authentication failure is
/// `DecryptionFailed`.
pub fn open_link_file(shlink: &str, jwe: &str) -> Result<LinkFile> {
    let p = crate::shl::parse_shlink(shlink)?;
    let c = crate::shl::jwe_decrypt(p.key(), jwe)?;
    Ok(LinkFile {
        content_type: c.content_type,
        data: Zeroizing::new(c.plaintext),
    })
}
