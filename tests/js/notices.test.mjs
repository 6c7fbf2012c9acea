// Security notices through the package (FORMAT.md §18): a notice signed by
// an operator key with node:crypto (an implementation of C2SP signed notes
// written apart from medseal's, tests/js/log-server.mjs) verifies against
// the pinned key; forged, edited, unsigned or re-signed notices are
// NoticeInvalid, so an app shows nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { init, notices, ErrorCode } from "../../pkg/dist/node.js";
import { code } from "./codes.mjs";
import { signNote, compressed, toB64u } from "./log-server.mjs";

await init();

const operator = () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { name: "notices.phr.example", privateKey, publicKey, pin: { name: "notices.phr.example", key: toB64u(compressed(publicKey)) } };
};
const text = (over = {}) => {
  const f = { id: "2026-12-01-incident", issued: 1764547200, expires: 1765152000, severity: "critical", action: "rekey", title: "We had a security incident", body: "Re-key your vault now.", ...over };
  return `medseal-notice/v1\nid ${f.id}\nissued ${f.issued}\nexpires ${f.expires}\nseverity ${f.severity}\naction ${f.action}\ntitle ${f.title}\nbody ${f.body}\n`;
};

test("a notice signed by the pinned operator key verifies, with current by the clock", () => {
  const op = operator();
  const n = notices.verify(signNote(text(), [op]), { keys: [op.pin], now: 1764600000 * 1000 });
  assert.deepEqual(n, { id: "2026-12-01-incident", issued: 1764547200, expires: 1765152000, severity: "critical", action: "rekey", title: "We had a security incident", body: "Re-key your vault now.", current: true });
  assert.equal(notices.verify(signNote(text(), [op]), { keys: [op.pin], now: new Date(1765152000 * 1000) }).current, false, "expired");
  // Another key pinned beside it changes nothing; a co-signature by an unpinned key is ignored.
  const other = operator();
  assert.equal(notices.verify(signNote(text(), [op, other]), { keys: [op.pin] }).id, "2026-12-01-incident");
});

test("forged notices are NoticeInvalid: edited, unsigned, another key, a moved signature", () => {
  const op = operator();
  const signed = signNote(text(), [op]);
  const keys = [op.pin];
  assert.equal(code(() => notices.verify(signed.replace("action rekey", "action none"), { keys })), ErrorCode.NoticeInvalid);
  assert.equal(code(() => notices.verify(`${text()}\n`, { keys })), ErrorCode.NoticeInvalid);
  assert.equal(code(() => notices.verify(text(), { keys })), ErrorCode.NoticeInvalid);
  const mallory = operator();
  assert.equal(code(() => notices.verify(signNote(text(), [mallory]), { keys })), ErrorCode.NoticeInvalid, "same name, another key");
  const calm = signNote(text({ title: "All clear", action: "none" }), [op]);
  const moved = `${text()}\n${calm.split("\n\n")[1]}`;
  assert.equal(code(() => notices.verify(moved, { keys })), ErrorCode.NoticeInvalid);
  // Signed but not a notice (a signed note of anything else): Malformed.
  assert.equal(code(() => notices.verify(signNote("hello\n", [op]), { keys })), ErrorCode.Malformed);
  // Bad arguments.
  assert.equal(code(() => notices.verify(signed, { keys: [] })), ErrorCode.InvalidArgument);
  assert.equal(code(() => notices.verify(signed, { keys: [{ name: "x", key: "AAAA" }] })), ErrorCode.InvalidArgument);
  assert.equal(code(() => notices.verify(42, { keys })), ErrorCode.InvalidArgument);
});
