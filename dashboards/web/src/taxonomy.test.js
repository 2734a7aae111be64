import assert from "node:assert/strict";
import test from "node:test";
import { decodeState } from "./router.js";
import { chartLink } from "./taxonomy.js";

test("an event's chart link charts what the Data page shows: its events per day over the chosen window", () => {
  const link = chartLink("Service Viewed", { name: "marketplace", time_zone: "Asia/Seoul" }, 90);
  const spec = decodeState(new URLSearchParams(link.split("?")[1]).get("spec"));
  assert.deepEqual(spec.date_range, { last_days: 90 });
  assert.deepEqual(spec.events, [{ event_type: "Service Viewed", measure: "totals" }]);
  assert.equal(spec.interval, "day");
  assert.equal(spec.time_zone, "Asia/Seoul");
});
