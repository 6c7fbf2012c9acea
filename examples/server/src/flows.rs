//! Ceremonies in progress (kept in memory until they finish or expire) and
//! the limit on how fast one client may start them.
//!
//! Every start (sign-up, sign-in, new passkey, recovery) costs one token from
//! its client address's bucket, whatever username it names: a client cannot
//! create flows without bound by varying the username, and probing which
//! usernames exist costs one token a name. All flows together are capped, so
//! many addresses cannot exhaust memory either; expired ones go first.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use uuid::Uuid;
use webauthn_rs::prelude::{PasskeyAuthentication, PasskeyRegistration};

use crate::config::Limits;
use crate::error::{ApiError, ApiResult};

/// A ceremony in progress.
pub enum Flow {
    /// Sign-up: the passkey being registered for a new user.
    Signup {
        /// The new user's id (also the WebAuthn user handle).
        user_id: Uuid,
        /// The username asked for.
        username: String,
        /// webauthn-rs registration state.
        state: PasskeyRegistration,
    },
    /// Sign-in with a passkey.
    Login {
        /// The user signing in.
        user_id: String,
        /// webauthn-rs authentication state.
        state: PasskeyAuthentication,
    },
    /// A signed-in user adding a passkey.
    AddPasskey {
        /// The user.
        user_id: String,
        /// webauthn-rs registration state.
        state: PasskeyRegistration,
    },
    /// Recovery: the challenge the vault's identity key must sign.
    Recover {
        /// The user recovering.
        user_id: String,
        /// The random challenge sent.
        challenge: Vec<u8>,
    },
    /// A signed-in user deleting the account: the challenge the vault's
    /// destroy request must sign.
    DeleteAccount {
        /// The user.
        user_id: String,
        /// The random challenge sent.
        challenge: Vec<u8>,
    },
}

struct Pending {
    flows: HashMap<String, (Instant, Flow)>,
    /// Ids in the order they were started: expiry pops from the front.
    order: VecDeque<(Instant, String)>,
}

/// The flows in progress.
pub struct Flows {
    pending: Mutex<Pending>,
    ttl: Duration,
    max: usize,
}

impl Flows {
    /// An empty store with the limits' lifetime and cap.
    pub fn new(limits: &Limits) -> Flows {
        Flows {
            pending: Mutex::new(Pending {
                flows: HashMap::new(),
                order: VecDeque::new(),
            }),
            ttl: limits.flow_ttl,
            max: limits.max_pending_flows,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a flow under `id` (a random token); 503 when the cap is reached
    /// even after dropping expired flows.
    pub fn put(&self, id: String, flow: Flow) -> ApiResult<()> {
        let mut p = self.lock();
        let now = Instant::now();
        while let Some((t, _)) = p.order.front() {
            if now.duration_since(*t) < self.ttl {
                break;
            }
            if let Some((_, old)) = p.order.pop_front() {
                p.flows.remove(&old);
            }
        }
        // `order` also holds ids already taken; compact it when it grows past the live ones.
        if p.order.len() > 2 * p.flows.len() + 64 {
            let Pending { flows, order } = &mut *p;
            order.retain(|(_, id)| flows.contains_key(id));
        }
        if p.flows.len() >= self.max {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins in progress; try again in a few minutes",
            ));
        }
        p.order.push_back((now, id.clone()));
        p.flows.insert(id, (now, flow));
        Ok(())
    }

    /// Takes the flow out (each flow finishes at most once).
    pub fn take(&self, id: &str) -> ApiResult<Flow> {
        match self.lock().flows.remove(id) {
            Some((t, f)) if t.elapsed() < self.ttl => Ok(f),
            _ => Err(ApiError::bad("this sign-in attempt expired; start again")),
        }
    }

    /// How many flows are stored (expired ones included until the next `put`).
    pub fn len(&self) -> usize {
        self.lock().flows.len()
    }

    /// Whether no flow is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The unit one client is limited as: its IPv4 address, or its IPv6 /64
/// (one subscriber usually holds a whole /64, so single IPv6 addresses would
/// be free for the taking).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Buckets {
    map: HashMap<IpAddr, Bucket>,
    swept: Instant,
}

/// A token bucket per client address: for ceremony starts, and (another
/// instance) for SMART Health Link manifest requests.
pub struct StartLimiter {
    buckets: Mutex<Buckets>,
    burst: f64,
    per_sec: f64,
    /// The 429's message.
    message: &'static str,
}

/// Client addresses tracked at most; past it, unknown addresses are refused
/// until full buckets are swept out.
const MAX_TRACKED: usize = 100_000;

impl StartLimiter {
    /// A limiter with the limits' burst and rate for ceremony starts.
    pub fn new(limits: &Limits) -> StartLimiter {
        Self::with_rate(
            limits.flow_starts_burst,
            limits.flow_starts_per_minute,
            "too many sign-in attempts from your address; wait a minute",
        )
    }

    /// A limiter of `burst` at once and `per_minute` after that, answering
    /// 429 with `message` past it.
    pub fn with_rate(burst: u32, per_minute: u32, message: &'static str) -> StartLimiter {
        StartLimiter {
            buckets: Mutex::new(Buckets {
                map: HashMap::new(),
                swept: Instant::now(),
            }),
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            message,
        }
    }

    /// Takes one start from `ip`'s bucket; 429 when it is empty.
    pub fn check(&self, ip: IpAddr) -> ApiResult<()> {
        let key = client_key(ip);
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (burst, per_sec) = (self.burst, self.per_sec);
        let full =
            |k: &Bucket| k.tokens + now.duration_since(k.at).as_secs_f64() * per_sec >= burst;
        if now.duration_since(b.swept) > Duration::from_secs(10) || b.map.len() >= MAX_TRACKED {
            // A full bucket says nothing the default does not: drop it.
            b.map.retain(|_, k| !full(k));
            b.swept = now;
        }
        if b.map.len() >= MAX_TRACKED && !b.map.contains_key(&key) {
            return Err(limited(self.message));
        }
        let k = b.map.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        k.tokens = (k.tokens + now.duration_since(k.at).as_secs_f64() * per_sec).min(burst);
        k.at = now;
        if k.tokens < 1.0 {
            return Err(limited(self.message));
        }
        k.tokens -= 1.0;
        Ok(())
    }
}

fn limited(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_limited_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let m: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(m), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn bucket_refills_at_the_rate() {
        let l = StartLimiter::new(&Limits {
            flow_starts_burst: 2,
            flow_starts_per_minute: 600,
            ..Limits::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(l.check(ip).is_ok() && l.check(ip).is_ok());
        assert!(l.check(ip).is_err());
        std::thread::sleep(Duration::from_millis(150));
        assert!(l.check(ip).is_ok());
    }
}
