import * as assert from "node:assert/strict";
import { ERROR_CODES, errorCodeOf, isErrorCode, isIssueCode, ISSUE_CODES } from "./errors.ts";

Deno.test("isErrorCode() and errorCodeOf() accept only the table's keys", async (t) => {
  await t.step("known", () => {
    assert.ok(isErrorCode("ERR_CAPABILITY_DENIED"));
    assert.equal(errorCodeOf("ERR_TIMEOUT", "ERR_IO"), "ERR_TIMEOUT");
  });
  await t.step("unknown, malformed and inherited names", () => {
    for (const s of ["ERR_MADE_UP", "err_limit", "", "toString", "__proto__", 42, null, undefined, {}]) {
      assert.ok(!isErrorCode(s), String(s));
      assert.equal(errorCodeOf(s, "ERR_IO"), "ERR_IO");
    }
  });
  await t.step("ERROR_CODES is frozen", () => {
    assert.ok(Object.isFrozen(ERROR_CODES) && Object.isFrozen(ISSUE_CODES));
  });
  await t.step("every meaning is one line", () => {
    for (const [code, meaning] of Object.entries(ERROR_CODES)) {
      assert.match(code, /^ERR_[A-Z0-9_]+$/);
      assert.ok(meaning.length > 10 && !meaning.includes("\n") && !meaning.endsWith("."), code);
    }
  });
  await t.step("issue codes are a subset", () => {
    for (const c of ISSUE_CODES) assert.ok(isErrorCode(c) && isIssueCode(c), c);
    assert.ok(!isIssueCode("ERR_TIMEOUT"));
  });
});
