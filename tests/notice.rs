//! Security notices (FORMAT.md §18): a notice signed by the pinned operator
//! key verifies; every forgery a server can make is `NoticeInvalid` or
//! `Malformed`, never a notice shown: unsigned, signed by the server's own
//! (log) key or another operator's, the text edited after signing, a
//! signature moved from another notice.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use medseal::log::ServerLogKey;
use medseal::notice::{Action, Notice, OperatorKey, Severity};
use medseal::Error;

fn notice() -> Notice {
    Notice {
        id: "2026-12-01-incident".into(),
        issued: 1_764_547_200,
        expires: 1_765_152_000,
        severity: Severity::Critical,
        action: Action::Rekey,
        title: "We had a security incident".into(),
        body: "Someone copied our database on 30 November. Your records stay encrypted, but start a new key now: press Re-key."
            .into(),
    }
}

#[test]
fn a_signed_notice_verifies_with_the_pinned_key() {
    let op = OperatorKey::generate("notices.phr.example").unwrap();
    let signed = op.sign(&notice()).unwrap();
    let pk = op.public_key();
    let n = Notice::verify(&signed, &[("notices.phr.example", &pk)]).unwrap();
    assert_eq!(n, notice());
    assert!(n.is_current(1_764_600_000));
    assert!(!n.is_current(1_765_152_000), "expired");
    assert!(!n.is_current(1_764_000_000), "not yet issued");
    // The key survives a round trip through its stored secret.
    let again = OperatorKey::from_secret("notices.phr.example", &*op.secret()).unwrap();
    assert_eq!(again.public_key(), pk);
    assert!(!format!("{op:?}").contains(&format!("{:?}", &*op.secret())));
}

#[test]
fn forged_notices_are_refused() {
    let op = OperatorKey::generate("notices.phr.example").unwrap();
    let pk = op.public_key();
    let pinned: &[(&str, &[u8])] = &[("notices.phr.example", &pk)];
    let signed = op.sign(&notice()).unwrap();

    // The text edited after signing (the action changed, the body changed).
    let edited = signed.replace("action rekey", "action none");
    assert_eq!(Notice::verify(&edited, pinned), Err(Error::NoticeInvalid));
    let edited = signed.replace("press Re-key", "call 555-0100");
    assert_eq!(Notice::verify(&edited, pinned), Err(Error::NoticeInvalid));

    // Unsigned: the text alone, or with its signature line removed.
    let text = notice().to_text().unwrap();
    assert_eq!(Notice::verify(&text, pinned), Err(Error::NoticeInvalid));
    let unsigned = format!("{text}\n");
    assert_eq!(Notice::verify(&unsigned, pinned), Err(Error::NoticeInvalid));

    // Signed by a key the app does not pin: the server's log key, another operator, under the pinned name.
    let server = ServerLogKey::generate("notices.phr.example").unwrap();
    let cp_like =
        medseal::notice::OperatorKey::from_secret("notices.phr.example", &*server.secret())
            .unwrap()
            .sign(&notice())
            .unwrap();
    assert_eq!(Notice::verify(&cp_like, pinned), Err(Error::NoticeInvalid));
    let other = OperatorKey::generate("notices.phr.example").unwrap();
    assert_eq!(
        Notice::verify(&other.sign(&notice()).unwrap(), pinned),
        Err(Error::NoticeInvalid)
    );

    // A valid signature of another notice moved onto this text.
    let mut calm = notice();
    calm.action = Action::None;
    calm.title = "All clear".into();
    let calm_signed = op.sign(&calm).unwrap();
    let sig_line = calm_signed.rsplit_once("\n\n").unwrap().1;
    let moved = format!("{text}\n{sig_line}");
    assert_eq!(Notice::verify(&moved, pinned), Err(Error::NoticeInvalid));

    // Garbage of every kind: never a panic, never a notice.
    for g in [
        "",
        "\n",
        "medseal-notice/v1\n",
        "x\n\n\u{2014} a AAAA\n",
        &signed[..signed.len() - 3],
    ] {
        assert!(Notice::verify(g, pinned).is_err(), "{g:?}");
    }
}

#[test]
fn the_text_is_parsed_strictly() {
    let good = notice().to_text().unwrap();
    assert_eq!(Notice::parse_text(&good).unwrap(), notice());
    let cases = [
        good.replace("medseal-notice/v1", "medseal-notice/v2"),
        good.replace("severity critical", "severity panic"),
        good.replace("action rekey", "action delete-everything"),
        good.replace("issued 1764547200", "issued 01764547200"),
        good.replace("expires 1765152000", "expires 1764547200"),
        good.replace("id 2026-12-01-incident", "id bad id"),
        good.replace("title We had", "title  We had"),
        format!("{good}extra line\n"),
        good.replace("\ntitle ", "\nheadline "),
    ];
    for c in cases {
        assert!(
            matches!(Notice::parse_text(&c), Err(Error::Malformed(_))),
            "{c}"
        );
    }
    let mut long = notice();
    long.title = "x".repeat(121);
    assert!(long.to_text().is_err());
}
