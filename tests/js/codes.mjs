// The error code a call throws, for tests: fails unless it throws a MedsealError.
import assert from "node:assert/strict";
import { MedsealError } from "../../pkg/dist/node.js";

/** The `code` of the MedsealError `f()` throws. */
export function code(f) {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof MedsealError, `not a MedsealError: ${e?.stack ?? e}`);
    return e.code;
  }
  assert.fail("did not throw");
}

/** The `code` of the MedsealError `await f()` throws. */
export async function acode(f) {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof MedsealError, `not a MedsealError: ${e?.stack ?? e}`);
    return e.code;
  }
  assert.fail("did not throw");
}
