import * as assert from "node:assert/strict";
import { eventData } from "./mcp_http.ts";

Deno.test("eventData() reads the data of each event of a stream", async (t) => {
  await t.step("events end at a blank line; data lines join with newlines", () => {
    assert.deepEqual(eventData('event: message\ndata: {"a":1}\n\ndata: x\ndata: y\n\n'), ['{"a":1}', "x\ny"]);
  });
  await t.step("CRLF and CR line ends, comments, other fields, an event without data", () => {
    assert.deepEqual(eventData(": hi\r\nid: 1\r\ndata:a\r\n\r\nretry: 5\r\n\r\ndata: b\rdata:  c\r\r"), [
      "a",
      "b\n c",
    ]);
  });
  await t.step("a last event without its blank line still counts", () => {
    assert.deepEqual(eventData("data: last"), ["last"]);
    assert.deepEqual(eventData(""), []);
  });
});
