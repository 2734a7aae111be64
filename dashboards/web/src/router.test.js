import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeState, encodeState, parseHash } from "./router.js";

test("a spec survives the URL, Korean text and URL-unsafe characters included", () => {
  const spec = { steps: [{ event_type: "구매 완료", where: [{ values: ["a+b/c=d?"] }] }], n: 1.5 };
  const text = encodeState(spec);
  assert.match(text, /^[A-Za-z0-9_-]+$/, "base64url without padding");
  assert.deepEqual(decodeState(text), spec);
});

test("routes split into parts and parameters", () => {
  const route = parseHash("#/charts/c-1?spec=abc&view=table");
  assert.deepEqual(route.parts, ["charts", "c-1"]);
  assert.equal(route.params.get("view"), "table");
  assert.deepEqual(parseHash("").parts, []);
});
