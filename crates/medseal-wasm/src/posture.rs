//! The security check-up (the core's `medseal::posture`) and the recovery
//! code check it asks for. The log crosses as the JSON the app holds:
//! entries as `syncLog` returned them, or entries with inclusion proofs
//! (`[{index, leaf, proof}]`, as `accessReport` takes them), which are
//! verified against this device's pinned checkpoint first.

use wasm_bindgen::prelude::*;

use medseal::log::{included_from_json, LogState};
use medseal::posture::{check, findings_json, Logged, PostureOptions, Prf, MAX_UNUSED_DAYS};
use medseal::RecoveryCode;

use crate::share::seconds;
use crate::{invalid, to_js, VaultHandle};

#[wasm_bindgen]
impl VaultHandle {
    /// The check-up's findings as a JSON array (`[{kind, …}]`). `log`: the
    /// vault log's entries as JSON, or none; `proofs`: they carry inclusion
    /// proofs (then they are verified against the pinned checkpoint). `now`
    /// in seconds; `prf`: whether this browser can evaluate PRF (none:
    /// unknown); `unused_days` from 1 to 36500.
    pub fn posture(
        &self,
        log: Option<String>,
        proofs: bool,
        now: f64,
        prf: Option<bool>,
        unused_days: f64,
    ) -> Result<String, JsValue> {
        let now = seconds(now, "now must be a time")?;
        if !(unused_days >= 1.0
            && unused_days <= f64::from(MAX_UNUSED_DAYS)
            && unused_days.fract() == 0.0)
        {
            return Err(invalid(
                "unusedDays must be a whole number of days from 1 to 36500",
            ));
        }
        let vault = self.get()?;
        let entries: Option<Vec<Logged>> = match log {
            None => None,
            Some(json) if proofs => {
                let items = included_from_json(&json).map_err(to_js)?;
                let state = self
                    .seen
                    .log()
                    .cloned()
                    .unwrap_or_else(|| LogState::new(vault.manifest().vault_id()));
                let verified = state.verify_included(&items).map_err(to_js)?;
                Some(verified.into_iter().map(Logged::from).collect())
            }
            Some(json) => Some(Logged::list_from_json(&json).map_err(to_js)?),
        };
        let opts = PostureOptions {
            now,
            log: entries.as_deref(),
            prf: match prf {
                Some(true) => Prf::Supported,
                Some(false) => Prf::Unsupported,
                None => Prf::Unknown,
            },
            unused_days: unused_days as u32,
        };
        Ok(findings_json(&check(vault.manifest(), &opts)))
    }

    /// Checks the recovery code as the user typed it against this vault's
    /// current recovery entry, without unlocking: `InvalidRecoveryCode` for
    /// a typo, `UnlockFailed` for another (or an old) code.
    #[wasm_bindgen(js_name = confirmRecoveryCode)]
    pub fn confirm_recovery_code(&self, code: &str) -> Result<(), JsValue> {
        let code = RecoveryCode::parse(code).map_err(to_js)?;
        self.get()?.confirm_recovery_code(&code).map_err(to_js)
    }
}
