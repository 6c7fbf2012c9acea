//! The patient's view of a verified log: an access report with the fields
//! of an accounting of disclosures (45 CFR 164.528: date, recipient, what,
//! purpose), and alerts on unusual access under rules a patient can read.
//! Both are computed on the device, from entries it verified.

use serde::Serialize;

use crate::log::entry::{Author, Entry, Event};

/// One line of the access report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEvent {
    /// Position in the log.
    pub index: u64,
    /// When (unix seconds, as its author gives it).
    pub time: u64,
    /// The entry's type (`unlock`, `shared_fetch`, …).
    pub kind: &'static str,
    /// Who acted or received: a device label, a person's account name, a
    /// link's declared recipient.
    pub actor: String,
    /// `device`, `person`, `link`, `sign-in` or `vault`.
    pub actor_kind: &'static str,
    /// What was done, in a few words.
    pub what: String,
    /// Record ids concerned, where the log names them.
    pub records: Vec<String>,
    /// Purpose, where known (a disclosure the patient set up).
    pub purpose: Option<&'static str>,
    /// `ok`, or why it was refused.
    pub outcome: String,
    /// True for a disclosure of records to someone else (what 164.528 asks
    /// to be accounted for).
    pub disclosure: bool,
    /// Who signed the entry.
    pub attested_by: Author,
    /// The grant, link or unlock entry concerned.
    pub target: Option<String>,
    /// For a grant or link made: when it ends (unix seconds).
    pub expires: Option<u64>,
}

fn s(v: &str) -> String {
    v.to_owned()
}

/// The events of `entries` with `from <= time < to`, oldest first.
/// `entries` must be the verified log from its start, in order (names given
/// at grant or link creation are carried to later access events).
pub fn access_report(entries: &[Entry], from: Option<u64>, to: Option<u64>) -> Vec<AccessEvent> {
    // Small linear maps, not BTreeMap: few distinct shares per vault, and
    // each BTreeMap instantiation is kilobytes of wasm.
    let mut names: Vec<(&str, String)> = Vec::new();
    let mut out = Vec::new();
    for e in entries {
        let ev = describe(e, &mut names);
        let in_range = from.is_none_or(|f| e.t >= f) && to.is_none_or(|t| e.t < t);
        if let Some(ev) = ev {
            if in_range {
                out.push(ev);
            }
        }
    }
    out
}

fn name_of<'a>(names: &'a [(&str, String)], share: &str) -> Option<&'a String> {
    names
        .iter()
        .rev()
        .find(|(k, _)| *k == share)
        .map(|(_, v)| v)
}

fn describe<'a>(e: &'a Entry, names: &mut Vec<(&'a str, String)>) -> Option<AccessEvent> {
    let base = |kind, actor: String, actor_kind, what: String| AccessEvent {
        index: e.n,
        time: e.t,
        kind,
        actor,
        actor_kind,
        what,
        records: Vec::new(),
        purpose: None,
        outcome: s("ok"),
        disclosure: false,
        attested_by: e.author,
        target: None,
        expires: None,
    };
    Some(match &e.event {
        Event::Server { .. } => return None,
        Event::Manifest {
            rev,
            epoch,
            added,
            removed,
            ..
        } => {
            let mut what = format!("vault settings changed (revision {rev}, key epoch {epoch})");
            if !added.is_empty() {
                what.push_str(&format!("; {} unlock method(s) added", added.len()));
            }
            if !removed.is_empty() {
                what.push_str(&format!("; {} unlock method(s) removed", removed.len()));
            }
            base("manifest", s("your vault"), "vault", what)
        }
        Event::Unlock {
            via,
            method,
            device,
        } => {
            let mut ev = base(
                "unlock",
                device.clone().unwrap_or_else(|| s("a device")),
                "device",
                if method == "recovery" {
                    s("unlocked with the recovery code")
                } else {
                    s("unlocked with a passkey")
                },
            );
            ev.target = Some(via.clone());
            ev
        }
        Event::Grant {
            share,
            to,
            records,
            scope,
            expires,
        } => {
            names.push((share, to.clone()));
            let what = match (records, scope) {
                (Some(n), _) => format!("shared {n} record(s)"),
                (None, Some(l)) => format!("shared all {l} records"),
                (None, None) => s("shared records of a kind"),
            };
            let mut ev = base("grant", to.clone(), "person", what);
            ev.expires = Some(*expires);
            ev.target = Some(share.clone());
            ev.purpose = Some("at the patient's request");
            ev
        }
        Event::Link {
            share,
            label,
            expires,
        } => {
            let name = label.clone().unwrap_or_else(|| s("a health link"));
            names.push((share, name.clone()));
            let mut ev = base("link", name, "link", s("created a SMART Health Link"));
            ev.expires = Some(*expires);
            ev.target = Some(share.clone());
            ev.purpose = Some("at the patient's request");
            ev
        }
        Event::Revoke { share } => {
            let who = name_of(names, share)
                .cloned()
                .unwrap_or_else(|| s("a share"));
            let mut ev = base("revoke", who, "person", s("access revoked"));
            ev.target = Some(share.clone());
            ev
        }
        Event::Delete { record } => {
            let mut ev = base("delete", s("your vault"), "vault", s("record deleted"));
            ev.records = vec![record.clone()];
            ev
        }
        Event::SharedFetch {
            grant,
            by,
            records,
            outcome,
        } => {
            let mut ev = base(
                "shared_fetch",
                by.clone(),
                "person",
                if outcome == "ok" {
                    format!("opened {} shared record(s)", records.len())
                } else {
                    format!("tried to open shared records ({outcome})")
                },
            );
            ev.records = records.clone();
            ev.outcome = outcome.clone();
            ev.disclosure = outcome == "ok";
            ev.purpose = Some("at the patient's request");
            ev.target = Some(grant.clone());
            ev
        }
        Event::LinkFetch {
            link,
            recipient,
            outcome,
            ..
        } => {
            let label = name_of(names, link).cloned();
            let mut ev = base(
                "link_fetch",
                recipient.clone(),
                "link",
                match (&label, outcome.as_str()) {
                    (Some(l), "ok") => format!("opened the health link \u{201c}{l}\u{201d}"),
                    (None, "ok") => s("opened a health link"),
                    (_, o) => format!("tried to open a health link ({o})"),
                },
            );
            ev.outcome = outcome.clone();
            ev.disclosure = outcome == "ok";
            ev.purpose = Some("at the patient's request");
            ev.target = Some(link.clone());
            ev
        }
        Event::Login {
            method,
            outcome,
            from,
        } => {
            let mut ev = base(
                "login",
                format!("network {from}"),
                "sign-in",
                format!(
                    "{} sign-in {}",
                    if method == "recovery" {
                        "recovery-code"
                    } else {
                        "passkey"
                    },
                    if outcome == "ok" {
                        "succeeded"
                    } else {
                        "failed"
                    }
                ),
            );
            ev.outcome = outcome.clone();
            ev
        }
    })
}

/// Thresholds of the alert rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertRules {
    /// A grantee opening more than this many records…
    pub burst_records: u32,
    /// …within this many minutes raises a burst alert.
    pub burst_minutes: u32,
    /// A link opened from more than this many networks raises an alert.
    pub link_places: u32,
}

impl Default for AlertRules {
    fn default() -> Self {
        AlertRules {
            burst_records: 20,
            burst_minutes: 10,
            link_places: 3,
        }
    }
}

/// An alert: which rule, the entry that raised it, and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// `new-unlock-method`, `recovery-used`, `burst`, `after-expiry` or
    /// `link-places`.
    pub rule: &'static str,
    /// The entry that raised it.
    pub index: u64,
    /// Its time.
    pub time: u64,
    /// Who: device label, person, link recipient or network token.
    pub actor: String,
    /// How many (records in the burst, networks of the link; else 1).
    pub count: u32,
    /// The unlock entry, grant or link to act on.
    pub target: Option<String>,
    /// What the patient can do: `remove-passkey`, `rotate-recovery-code`,
    /// `revoke-grant`, `revoke-link`.
    pub action: &'static str,
}

/// The alerts raised by entries at positions `since` and after. `entries`
/// is the verified log from its start, in order; `own` lists this device's
/// own unlock entry ids (its own unlocks raise nothing).
pub fn alerts(entries: &[Entry], since: u64, own: &[&str], rules: &AlertRules) -> Vec<Alert> {
    let mut out = Vec::new();
    // Linear sets and maps (few devices, grantees and links per vault).
    let mut used: Vec<&str> = Vec::new();
    let mut fetches: Vec<(&str, Vec<(u64, u32)>)> = Vec::new();
    let mut burst_raised: Vec<&str> = Vec::new();
    let mut places: Vec<(&str, &str)> = Vec::new();
    let mut places_raised: Vec<&str> = Vec::new();
    let window = u64::from(rules.burst_minutes) * 60;
    // A recovery sign-in is seen twice (the server's login, the device's
    // unlock): one alert for uses within ten minutes of each other.
    let mut last_recovery: Option<u64> = None;
    for e in entries {
        let new = e.n >= since;
        let alert = |rule, actor: &str, count, target: Option<&str>, action| Alert {
            rule,
            index: e.n,
            time: e.t,
            actor: actor.to_owned(),
            count,
            target: target.map(str::to_owned),
            action,
        };
        match &e.event {
            Event::Unlock {
                via,
                method,
                device,
            } => {
                let mine = own.contains(&via.as_str());
                let actor = device.as_deref().unwrap_or("a device");
                if new && !mine && method == "recovery" {
                    if last_recovery.is_none_or(|t| e.t.saturating_sub(t) > 600) {
                        out.push(alert(
                            "recovery-used",
                            actor,
                            1,
                            Some(via),
                            "rotate-recovery-code",
                        ));
                    }
                    last_recovery = Some(e.t);
                } else if new && !mine && !used.contains(&via.as_str()) {
                    out.push(alert(
                        "new-unlock-method",
                        actor,
                        1,
                        Some(via),
                        "remove-passkey",
                    ));
                }
                if !used.contains(&via.as_str()) {
                    used.push(via);
                }
            }
            Event::Login { method, from, .. } if method == "recovery" && new => {
                if last_recovery.is_none_or(|t| e.t.saturating_sub(t) > 600) {
                    out.push(alert(
                        "recovery-used",
                        from,
                        1,
                        None,
                        "rotate-recovery-code",
                    ));
                }
                last_recovery = Some(e.t);
            }
            Event::SharedFetch {
                grant,
                by,
                records,
                outcome,
            } => {
                if outcome != "ok" {
                    if new {
                        out.push(alert("after-expiry", by, 1, Some(grant), "revoke-grant"));
                    }
                    continue;
                }
                let at = match fetches.iter().position(|(k, _)| *k == by.as_str()) {
                    Some(i) => i,
                    None => {
                        fetches.push((by.as_str(), Vec::new()));
                        fetches.len() - 1
                    }
                };
                let Some((_, list)) = fetches.get_mut(at) else {
                    continue;
                };
                // Only the window before this fetch counts: older ones are dropped.
                list.retain(|(t, _)| t.saturating_add(window) >= e.t);
                list.push((e.t, records.len().try_into().unwrap_or(u32::MAX)));
                let total: u32 = list.iter().map(|(_, n)| *n).fold(0u32, u32::saturating_add);
                if new && total > rules.burst_records && !burst_raised.contains(&by.as_str()) {
                    burst_raised.push(by);
                    out.push(alert("burst", by, total, Some(grant), "revoke-grant"));
                }
            }
            Event::LinkFetch {
                link,
                recipient,
                from,
                outcome,
            } => {
                if outcome == "expired" || outcome == "revoked" {
                    if new {
                        out.push(alert(
                            "after-expiry",
                            recipient,
                            1,
                            Some(link),
                            "revoke-link",
                        ));
                    }
                    continue;
                }
                if !places.contains(&(link.as_str(), from.as_str())) {
                    places.push((link, from));
                }
                let count = places
                    .iter()
                    .filter(|(l, _)| *l == link.as_str())
                    .count()
                    .try_into()
                    .unwrap_or(u32::MAX);
                if new && count > rules.link_places && !places_raised.contains(&link.as_str()) {
                    places_raised.push(link);
                    out.push(alert(
                        "link-places",
                        recipient,
                        count,
                        Some(link),
                        "revoke-link",
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// The report and alerts as the JSON `{events, alerts}` (the wasm surface's
/// form).
pub fn report_json(
    entries: &[Entry],
    from: Option<u64>,
    to: Option<u64>,
    since: u64,
    own: &[&str],
    rules: &AlertRules,
) -> String {
    #[derive(Serialize)]
    struct Out {
        events: Vec<AccessEvent>,
        alerts: Vec<Alert>,
    }
    serde_json::to_string(&Out {
        events: access_report(entries, from, to),
        alerts: alerts(entries, since, own, rules),
    })
    .unwrap_or_default()
}
