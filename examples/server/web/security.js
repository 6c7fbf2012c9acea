// The Security page: medseal's check-up of this vault's set-up
// (`vault.posture`, issue 17) turned into plain-language advice with one
// button per fix. medseal judges; this page only words each finding and
// wires its button to the demo's existing flow (add a passkey, make a new
// recovery code, remove a passkey, revoke a share, retire old keys). The
// check-up reads the manifest, the verified vault log (every entry with its
// inclusion proof in the tree this device pinned) and this browser's PRF
// support; it runs again after every fix, so a fixed finding disappears.
import { webauthn } from "/pkg/dist/index.js";

const day = (t) => new Date(t * 1000).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
const named = (label) => (label ? `“${label}”` : "one of your passkeys");

let prfSupport = null;
/** What this browser says of PRF, asked once (no prompt): `webauthn.support()`. */
async function support() {
  prfSupport ??= await webauthn.support().catch(() => undefined);
  return prfSupport;
}

/** The findings for this vault now: the log synced first, then read whole (with proofs) for medseal to check. */
export async function check(vault, api, log) {
  await log.sync(vault, api);
  const entries = await log.all(vault, api);
  return vault.posture({ log: entries, prf: await support(), now: Date.now() });
}

/**
 * One finding in words: `title` (what is wrong), `text` (why it matters and what to do), and the fix
 * button's `button` label and `fix` (a name of the handlers `render` takes), or none (advice only).
 */
function advice(f, { passkeys }) {
  const onlyOne = passkeys < 2;
  switch (f.kind) {
    case "OnePasskey":
      return {
        title: "You have only one passkey",
        text: "If you lose the device it is on, only your recovery code will get you back in. Add a second passkey, on another phone or a security key, as a backup.",
        button: "Add a backup passkey",
        fix: "addPasskey",
      };
    case "RecoveryUnconfirmed":
      return {
        title: "Your recovery code has never been checked",
        text: "Nothing shows you still have it written down. Type it in to check it (it is checked in this browser only), or make a new one if it is lost.",
        button: "Check my recovery code",
        fix: "checkRecoveryCode",
      };
    case "RecoveryOlderThanRekey":
      return {
        title: "Your recovery code is older than your vault's current key",
        text: `The code was made before your vault got a new key (key generation ${f.epoch}, the code dates from ${f.sinceEpoch}), and it still opens everything. If the new key was made because something leaked, anyone who copied the code still gets in. Make a new code and destroy the old one.`,
        button: "Make a new recovery code",
        fix: "newRecoveryCode",
      };
    case "PasskeyUnused":
      return {
        title: `${named(f.label)} has not been used for a long time`,
        text: `${f.lastUsed ? `It last unlocked your vault on ${day(f.lastUsed)}.` : "It has never unlocked your vault since it was added."} It may be lost, or on a device someone else now has. If you still have it, sign in with it once; if not, remove it.${onlyOne ? " (Add a backup passkey first: it is your only one.)" : ""}`,
        button: "Remove this passkey",
        fix: onlyOne ? null : "removePasskey",
      };
    case "PasskeyWithoutUv":
      return {
        title: `${named(f.label)} unlocks without a PIN, fingerprint or face`,
        text: `Its last unlock did not verify who you are, so whoever holds that device can open your records. Remove it, and add a passkey that asks for your PIN or fingerprint.${onlyOne ? " (Add that one first: this is your only passkey.)" : ""}`,
        button: "Remove this passkey",
        fix: onlyOne ? null : "removePasskey",
      };
    case "PrfUnsupported":
      return {
        title: "This browser cannot unlock your vault with a passkey",
        text: "It does not support the passkey feature (PRF) that releases your vault's key, so here only your recovery code unlocks it. Use an up-to-date Chrome, Edge, Safari or Firefox with a passkey provider that supports it.",
      };
    case "ActiveShare": {
      const who = f.link ? `Your health link${f.name ? ` “${f.name}”` : ""}` : `Your share with ${f.name ?? "someone"}${f.scope ? ` (all your ${f.scope} records)` : ""}`;
      return {
        title: f.expired ? `${who} has ended but is still listed` : `${who} is active until ${day(f.expires)}`,
        text: f.expired
          ? "It no longer opens anything; revoke it to remove it from your vault."
          : `${f.link ? "Anyone with the link" : "They"} can open what it gives until then. What was already opened cannot be taken back; revoking stops anything more. Revoke it if it is no longer needed.`,
        button: "Revoke",
        fix: "revoke",
      };
    }
    case "OldEpochKeys":
      return {
        title: "Your vault still keeps its old keys",
        text: `After a passkey was removed or the recovery code changed, your vault got a new key, but it keeps the old one${f.epochs.length > 1 ? `s (${f.epochs.length})` : ""} so older records still open: a copy of an old key would open them too. Re-wrap every record and file under the current key (only a few bytes of each change) and drop the old keys.`,
        button: "Re-key / finish re-wrapping",
        fix: "retireOldKeys",
      };
    default:
      return { title: f.kind, text: "medseal reported something this page does not know how to explain yet." };
  }
}

/**
 * Draws the findings into `root` (the #security section): a summary line, then one item each with its
 * advice and its fix button. `handlers` maps each fix name to an async function of the finding
 * (`checkRecoveryCode` gets the typed code too); `run(fix)` runs one, shows its errors, and runs the
 * check-up again, so a fixed finding disappears. `passkeys`: how many the vault has (the last one
 * cannot be removed: its remove button is disabled and the advice says to add one first).
 */
export function render(root, findings, { passkeys, handlers, run }) {
  const list = root.querySelector("#security-list");
  const summary = root.querySelector("#security-summary");
  // The list is drawn again after every action: a recovery-code field the
  // patient opened (and may be typing in) stays open, with what they typed.
  const before = list.querySelector("input.recovery-check");
  const keep = before && !before.parentElement.hidden ? { value: before.value, focused: document.activeElement === before } : null;
  list.replaceChildren();
  summary.textContent = findings.length === 0 ? "Nothing to fix: your set-up looks good." : `${findings.length} thing${findings.length === 1 ? "" : "s"} to look at, the most important first.`;
  summary.dataset.count = String(findings.length);
  for (const f of findings) {
    const a = advice(f, { passkeys });
    const li = document.createElement("li");
    li.dataset.kind = f.kind;
    li.append(Object.assign(document.createElement("strong"), { textContent: a.title }), Object.assign(document.createElement("p"), { textContent: a.text }));
    if (a.button) {
      const b = Object.assign(document.createElement("button"), { textContent: a.button, className: "fix", disabled: !a.fix });
      if (a.fix === "checkRecoveryCode") {
        // The code is typed here, in a field that is not a password field (no password manager keeps it).
        const form = Object.assign(document.createElement("div"), { className: "row", hidden: true });
        const input = Object.assign(document.createElement("input"), { className: "recovery-check", autocomplete: "off", spellcheck: false, placeholder: "XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX" });
        input.setAttribute("aria-label", "your recovery code");
        const go = Object.assign(document.createElement("button"), { textContent: "Check", className: "fix-go" });
        go.onclick = () => run(() => handlers.checkRecoveryCode(f, input.value));
        form.append(input, go);
        b.onclick = () => { form.hidden = false; b.hidden = true; input.focus(); };
        li.append(b, form);
        if (keep) {
          form.hidden = false;
          b.hidden = true;
          input.value = keep.value;
          if (keep.focused) queueMicrotask(() => input.focus());
        }
      } else {
        if (a.fix) b.onclick = () => run(() => handlers[a.fix](f));
        li.append(b);
      }
    }
    list.append(li);
  }
}
