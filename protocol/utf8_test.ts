import assert from "node:assert/strict";
import { utf8ByteLength } from "./utf8.ts";

Deno.test("utf8ByteLength() agrees with TextEncoder on every kind of code unit", () => {
  const samples = [
    "",
    "plain ASCII",
    "é".repeat(1000),
    "€ and 中文",
    "😀🎉 pairs",
    "\ud800 lone high",
    "lone low \udc00",
    "\udbff",
    "end high \ud83d",
    "\u007f\u0080\u07ff\u0800\uffff",
  ];
  for (const s of samples) {
    assert.equal(utf8ByteLength(s), new TextEncoder().encode(s).length, JSON.stringify(s));
  }
});
