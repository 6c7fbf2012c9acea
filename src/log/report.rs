//! The patient's view of a verified log: an access report with the fields
//! of an accounting of disclosures (45 CFR 164.528: date, recipient, what,
//! purpose), and alerts on unusual access under rules a patient can read.
//! Both are computed on the device, from entries it verified.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::log::entry::{strings, Author, Entry, Event};

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
/// at grant or link creation are carried to later access events). A device
/// reports from its `Digest` instead ([`crate::log::LogState::report`]), a
/// page at a time.
pub fn access_report(entries: &[Entry], from: Option<u64>, to: Option<u64>) -> Vec<AccessEvent> {
    let mut d = Digest::default();
    let mut out = Vec::new();
    for e in entries {
        d.apply(e, &[], &AlertRules::default());
        if from.is_none_or(|f| e.t >= f) && to.is_none_or(|t| e.t < t) {
            out.extend(describe(e, &d));
        }
    }
    out
}

/// One entry as a line of the report, shares named from `names`.
pub fn describe(e: &Entry, names: &Digest) -> Option<AccessEvent> {
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
            base(e.event.kind(), s("your vault"), "vault", what)
        }
        Event::Unlock {
            via,
            method,
            device,
            ..
        } => {
            let mut ev = base(
                e.event.kind(),
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
        Event::RecoveryCheck { via } => {
            let mut ev = base(
                e.event.kind(),
                s("your device"),
                "device",
                s("checked the recovery code (still held)"),
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
            let what = match (records, scope) {
                (Some(n), _) => format!("shared {n} record(s)"),
                (None, Some(l)) => format!("shared all {l} records"),
                (None, None) => s("shared records of a kind"),
            };
            let mut ev = base(e.event.kind(), to.clone(), "person", what);
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
            let mut ev = base(
                e.event.kind(),
                name,
                "link",
                s("created a SMART Health Link"),
            );
            ev.expires = Some(*expires);
            ev.target = Some(share.clone());
            ev.purpose = Some("at the patient's request");
            ev
        }
        Event::Revoke { share } => {
            let who = names.name_of(share).unwrap_or("a share").to_owned();
            let mut ev = base(e.event.kind(), who, "person", s("access revoked"));
            ev.target = Some(share.clone());
            ev
        }
        Event::Delete { record } => {
            let mut ev = base(
                e.event.kind(),
                s("your vault"),
                "vault",
                s("record deleted"),
            );
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
                e.event.kind(),
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
            let label = names.name_of(link).map(str::to_owned);
            let mut ev = base(
                e.event.kind(),
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
            via,
        } => {
            let mut ev = base(
                e.event.kind(),
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
            ev.target = via.clone();
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
    pub rule: String,
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
    pub action: String,
}

/// Most alerts a device keeps (the newest); older ones were shown or are
/// in the log.
pub const MAX_ALERTS: usize = 200;
/// Most networks counted per link (enough to pass any threshold).
const MAX_PLACES: usize = 64;
/// How close (seconds, either way) a device's recovery unlock must be to the
/// server's recovery sign-in to be taken as the same use of the code.
const SAME_SIGN_IN: u64 = 600;

/// What a device keeps of the log it verified, to raise alerts entry by
/// entry as it syncs (never needing the whole log again) and to name shares
/// in the report: share names, unlock entries seen, recent fetches per
/// grantee, networks per link, the raised alerts. Part of the log state in
/// the seen state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Digest {
    names: Vec<(String, String)>,
    used: Vec<String>,
    fetches: Vec<(String, Vec<(u64, u32)>)>,
    burst_raised: Vec<String>,
    places: Vec<(String, Vec<String>)>,
    places_raised: Vec<String>,
    /// The last successful recovery sign-in the server recorded, not yet
    /// matched by the device's unlock: (position, time).
    recovery_login: Option<(u64, u64)>,
    alerts: Vec<Alert>,
}

// The digest's JSON, written and read by hand through `serde_json::Value`
// (derived code for these nested tuples cost the wasm module 10 KB gzip):
// `{names: [[share, name]], used: [id], fetches: [[who, [[t, n]]]],
// burstRaised: [who], places: [[link, [net]]], placesRaised: [link],
// recoveryLogin: [n, t] | null, alerts: [{rule, index, time, actor, count,
// target, action}]}`.
fn str_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn pair(v: &Value) -> Option<(&Value, &Value)> {
    match v.as_array()?.as_slice() {
        [a, b] => Some((a, b)),
        _ => None,
    }
}

impl Digest {
    /// The digest as JSON (kept in the seen state).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        let pairs = |v: &[(String, String)]| {
            Value::Array(
                v.iter()
                    .map(|(a, b)| Value::Array(vec![a.as_str().into(), b.as_str().into()]))
                    .collect(),
            )
        };
        m.insert("names".into(), pairs(&self.names));
        m.insert("used".into(), strings(&self.used));
        m.insert(
            "fetches".into(),
            Value::Array(
                self.fetches
                    .iter()
                    .map(|(who, l)| {
                        let list = l
                            .iter()
                            .map(|(t, n)| Value::Array(vec![(*t).into(), (*n).into()]))
                            .collect();
                        Value::Array(vec![who.as_str().into(), Value::Array(list)])
                    })
                    .collect(),
            ),
        );
        m.insert("burstRaised".into(), strings(&self.burst_raised));
        m.insert(
            "places".into(),
            Value::Array(
                self.places
                    .iter()
                    .map(|(l, nets)| Value::Array(vec![l.as_str().into(), strings(nets)]))
                    .collect(),
            ),
        );
        m.insert("placesRaised".into(), strings(&self.places_raised));
        m.insert(
            "recoveryLogin".into(),
            self.recovery_login
                .map_or(Value::Null, |(n, t)| Value::Array(vec![n.into(), t.into()])),
        );
        m.insert(
            "alerts".into(),
            Value::Array(
                self.alerts
                    .iter()
                    .map(|a| {
                        let mut o = Map::new();
                        o.insert("rule".into(), a.rule.as_str().into());
                        o.insert("index".into(), a.index.into());
                        o.insert("time".into(), a.time.into());
                        o.insert("actor".into(), a.actor.as_str().into());
                        o.insert("count".into(), a.count.into());
                        o.insert(
                            "target".into(),
                            a.target.as_deref().map_or(Value::Null, Value::from),
                        );
                        o.insert("action".into(), a.action.as_str().into());
                        Value::Object(o)
                    })
                    .collect(),
            ),
        );
        Value::Object(m)
    }

    /// Reads what [`Digest::to_value`] wrote; `None` for anything else.
    pub fn from_value(v: &Value) -> Option<Digest> {
        let o = v.as_object()?;
        let get = |k: &str| o.get(k);
        let n32 = |v: &Value| v.as_u64().and_then(|x| u32::try_from(x).ok());
        let names = get("names")?
            .as_array()?
            .iter()
            .map(|p| {
                let (a, b) = pair(p)?;
                Some((a.as_str()?.to_owned(), b.as_str()?.to_owned()))
            })
            .collect::<Option<_>>()?;
        let fetches = get("fetches")?
            .as_array()?
            .iter()
            .map(|p| {
                let (who, list) = pair(p)?;
                let list = list
                    .as_array()?
                    .iter()
                    .map(|x| {
                        let (t, n) = pair(x)?;
                        Some((t.as_u64()?, n32(n)?))
                    })
                    .collect::<Option<_>>()?;
                Some((who.as_str()?.to_owned(), list))
            })
            .collect::<Option<_>>()?;
        let places = get("places")?
            .as_array()?
            .iter()
            .map(|p| {
                let (l, nets) = pair(p)?;
                Some((l.as_str()?.to_owned(), str_list(nets)?))
            })
            .collect::<Option<_>>()?;
        let recovery_login = match get("recoveryLogin")? {
            Value::Null => None,
            p => {
                let (n, t) = pair(p)?;
                Some((n.as_u64()?, t.as_u64()?))
            }
        };
        let alerts = get("alerts")?
            .as_array()?
            .iter()
            .map(|a| {
                let a = a.as_object()?;
                let text = |k: &str| a.get(k)?.as_str().map(str::to_owned);
                Some(Alert {
                    rule: text("rule")?,
                    index: a.get("index")?.as_u64()?,
                    time: a.get("time")?.as_u64()?,
                    actor: text("actor")?,
                    count: n32(a.get("count")?)?,
                    target: match a.get("target")? {
                        Value::Null => None,
                        t => Some(t.as_str()?.to_owned()),
                    },
                    action: text("action")?,
                })
            })
            .collect::<Option<_>>()?;
        Some(Digest {
            names,
            used: str_list(get("used")?)?,
            fetches,
            burst_raised: str_list(get("burstRaised")?)?,
            places,
            places_raised: str_list(get("placesRaised")?)?,
            recovery_login,
            alerts,
        })
    }
}

fn push_unique(list: &mut Vec<String>, v: &str) -> bool {
    if list.iter().any(|x| x == v) {
        return false;
    }
    list.push(v.to_owned());
    true
}

impl Digest {
    /// The name a share was given (the grantee, or the link's label).
    pub fn name_of(&self, share: &str) -> Option<&str> {
        self.names
            .iter()
            .rev()
            .find(|(k, _)| k == share)
            .map(|(_, v)| v.as_str())
    }

    /// The alerts raised by entries at positions `since` and after.
    pub fn alerts(&self, since: u64) -> Vec<Alert> {
        self.alerts
            .iter()
            .filter(|a| a.index >= since)
            .cloned()
            .collect()
    }

    fn raise(
        &mut self,
        e: &Entry,
        rule: &str,
        actor: &str,
        count: u32,
        target: Option<&str>,
        action: &str,
    ) {
        if self.alerts.len() == MAX_ALERTS {
            self.alerts.remove(0);
        }
        self.alerts.push(Alert {
            rule: rule.to_owned(),
            index: e.n,
            time: e.t,
            actor: actor.to_owned(),
            count,
            target: target.map(str::to_owned),
            action: action.to_owned(),
        });
    }

    /// Takes in the next verified entry (in log order): remembers what the
    /// rules need and raises the alerts it calls for. `own` lists this
    /// device's unlock entry ids (its own unlocks raise nothing).
    // One arm per event: remembering what it says (unconditionally) and
    // raising an alert (conditionally) read better as two steps than as
    // match guards with side effects.
    #[allow(clippy::collapsible_match)]
    pub fn apply(&mut self, e: &Entry, own: &[&str], rules: &AlertRules) {
        let window = u64::from(rules.burst_minutes) * 60;
        match &e.event {
            Event::Grant { share, to, .. } => self.names.push((share.clone(), to.clone())),
            Event::Link { share, label, .. } => self.names.push((
                share.clone(),
                label.clone().unwrap_or_else(|| "a health link".into()),
            )),
            Event::Unlock {
                via,
                method,
                device,
                ..
            } => {
                let mine = own.contains(&via.as_str());
                let actor = device.as_deref().unwrap_or("a device");
                let first_use = push_unique(&mut self.used, via);
                if method == "recovery" {
                    // The device's unlock right after the server's recovery
                    // sign-in is the same use of the code: one alert. Any
                    // other recovery unlock is its own.
                    let same = self
                        .recovery_login
                        .take()
                        .is_some_and(|(at, t)| at < e.n && t.abs_diff(e.t) <= SAME_SIGN_IN);
                    if !mine && !same {
                        self.raise(
                            e,
                            "recovery-used",
                            actor,
                            1,
                            Some(via),
                            "rotate-recovery-code",
                        );
                    }
                } else if !mine && first_use {
                    self.raise(
                        e,
                        "new-unlock-method",
                        actor,
                        1,
                        Some(via),
                        "remove-passkey",
                    );
                }
            }
            Event::Login {
                method,
                outcome,
                from,
                via: Some(via),
            } if method == "passkey" && outcome == "ok" => {
                // The server's record of a passkey sign-in names the passkey:
                // one never seen before raises the alert even if the device
                // that used it writes no unlock entry of its own.
                if push_unique(&mut self.used, via) && !own.contains(&via.as_str()) {
                    let actor = format!("network {from}");
                    self.raise(
                        e,
                        "new-unlock-method",
                        &actor,
                        1,
                        Some(via),
                        "remove-passkey",
                    );
                }
            }
            Event::Login {
                method,
                outcome,
                from,
                ..
            } if method == "recovery" => {
                // Every recovery sign-in the server saw is its own alert,
                // failed ones included (someone is trying the code).
                self.raise(e, "recovery-used", from, 1, None, "rotate-recovery-code");
                self.recovery_login = (outcome == "ok").then_some((e.n, e.t));
            }
            Event::SharedFetch {
                grant,
                by,
                records,
                outcome,
            } => {
                if outcome != "ok" {
                    self.raise(e, "after-expiry", by, 1, Some(grant), "revoke-grant");
                    return;
                }
                let n: u32 = records.len().try_into().unwrap_or(u32::MAX);
                let at = match self.fetches.iter().position(|(k, _)| k == by) {
                    Some(i) => i,
                    None => {
                        self.fetches.push((by.clone(), Vec::new()));
                        self.fetches.len() - 1
                    }
                };
                let total = match self.fetches.get_mut(at) {
                    Some((_, list)) => {
                        // Only the window before this fetch counts.
                        list.retain(|(t, _)| t.abs_diff(e.t) <= window);
                        list.push((e.t, n));
                        list.iter().map(|(_, k)| *k).fold(0u32, u32::saturating_add)
                    }
                    None => 0,
                };
                if total > rules.burst_records && push_unique(&mut self.burst_raised, by) {
                    self.raise(e, "burst", by, total, Some(grant), "revoke-grant");
                }
            }
            Event::LinkFetch {
                link,
                recipient,
                from,
                outcome,
            } => {
                if outcome == "expired" || outcome == "revoked" {
                    self.raise(e, "after-expiry", recipient, 1, Some(link), "revoke-link");
                    return;
                }
                let at = match self.places.iter().position(|(k, _)| k == link) {
                    Some(i) => i,
                    None => {
                        self.places.push((link.clone(), Vec::new()));
                        self.places.len() - 1
                    }
                };
                let count = match self.places.get_mut(at) {
                    Some((_, nets)) => {
                        if nets.len() < MAX_PLACES {
                            push_unique(nets, from);
                        }
                        nets.len().try_into().unwrap_or(u32::MAX)
                    }
                    None => 0,
                };
                if count > rules.link_places && push_unique(&mut self.places_raised, link) {
                    self.raise(
                        e,
                        "link-places",
                        recipient,
                        count,
                        Some(link),
                        "revoke-link",
                    );
                }
            }
            _ => {}
        }
    }
}

/// The alerts raised by entries at positions `since` and after, the whole
/// log folded in from its start (what a device's syncs compute a page at a
/// time). `own` lists this device's own unlock entry ids.
pub fn alerts(entries: &[Entry], since: u64, own: &[&str], rules: &AlertRules) -> Vec<Alert> {
    let mut d = Digest::default();
    for e in entries {
        d.apply(e, own, rules);
    }
    d.alerts(since)
}

/// The report and alerts as the JSON `{events, alerts}` (the wasm surface's
/// form).
pub fn report_json(events: &[AccessEvent], alerts: &[Alert]) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        events: &'a [AccessEvent],
        alerts: &'a [Alert],
    }
    serde_json::to_string(&Out { events, alerts }).unwrap_or_default()
}

/// A sync's new entries and the alerts they raised, as the JSON
/// `{entries, alerts}` (the wasm surface's form).
pub fn sync_json(entries: &[Entry], alerts: &[Alert]) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        entries: &'a [Entry],
        alerts: &'a [Alert],
    }
    serde_json::to_string(&Out { entries, alerts }).unwrap_or_default()
}
