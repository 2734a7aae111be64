import assert from "node:assert/strict";
import { test } from "node:test";
import { cleanDefinition, editable, fmtTime, measureOf, missing, newCondition, periodStart, previewCaveats, summarize } from "./model.js";

const ev = (event_type, where) => (where ? { event_type, where } : { event_type });

test("the conditions the builder has controls for, and those it shows read-only", () => {
  const editableOnes = [
    { performed: { event: ev("A"), during: { last_days: 7 }, sum: { property: "price", op: "greater", value: 9.5 } } },
    { performed: { event: ev("A"), during: { within_days_of_first_use: 3 }, distinct_days: { op: "greater_or_equal", value: 2 } } },
    { performed: { event: ev("A"), during: { last_days: 7 }, nth_time: 2 } },
    { then: { first: ev("A"), then: ev("B"), during: { since: "2026-01-01" } } },
    { relative_count: { event: ev("A"), op: "greater", compared_to: ev("B"), during: { last_days: 30 } } },
    { rfm: { segment: "at_risk", revenue_event: ev("Purchase Completed"), revenue_property: "price", during: { last_days: 180 } } },
    // A funnel as `from-funnel` saves it: order and window spelled out, exclusions kept.
    {
      funnel: {
        steps: [ev("A"), ev("B"), ev("C")],
        conversion_window: { value: 7, unit: "day" },
        order: "this",
        exclusions: [ev("X")],
        during: { from: "2026-11-01", to: "2026-11-07" },
        dropped_after: 2,
      },
    },
    // a retention cell and a lifecycle bar as `from-retention` and `from-lifecycle` save them
    {
      retention: {
        start_event: ev("_new"),
        return_event: ev("_all"),
        started_during: { from: "2026-11-02", to: "2026-11-02" },
        interval: "day",
        week_start: "monday",
        boundaries: "rolling",
        period: 1,
        returned: true,
      },
    },
    { retention: { start_event: ev("A"), return_event: ev("B"), started_during: { last_days: 30 }, interval: "week", periods: [1, 4], returned: false } },
    { lifecycle: { event: ev("_all"), state: "dormant", interval: "week", week_start: "monday", in: "2026-11-02" } },
  ];
  for (const node of editableOnes) assert.ok(editable(node), JSON.stringify(node));
  const readOnly = [
    // two measures at once is the server's error to report, not a form state
    { performed: { event: ev("A"), during: { last_days: 7 }, count: { op: "greater", value: 1 }, nth_time: 1 } },
    // rfm and funnels need the same days for everyone
    { rfm: { segment: "lost", revenue_event: ev("P"), revenue_property: "price", during: { within_days_of_first_use: 3 } } },
    { funnel: { steps: [ev("A"), ev("B")], during: { last_days: 7 }, reached: 1, dropped_after: 1 } },
    { funnel: { steps: [ev("A"), ev("B")], during: { last_days: 7 }, reached: 1, strict: [] } },
    // a retention condition needs `returned`, and one of a period and a bracket
    { retention: { start_event: ev("A"), return_event: ev("B"), started_during: { last_days: 7 }, period: 1 } },
    { retention: { start_event: ev("A"), return_event: ev("B"), started_during: { last_days: 7 }, period: 1, periods: [1, 2], returned: true } },
    { lifecycle: { event: ev("A"), state: "asleep", in: "2026-11-02" } },
  ];
  for (const node of readOnly) assert.equal(editable(node), false, JSON.stringify(node));
});

test("every condition the builder adds is editable, and says what is missing before it can run", () => {
  const complete = ["was_new", "retention", "lifecycle"]; // their defaults run as they are
  for (const kind of ["performed", "did_not_perform", "user_property", "in_cohort", "was_new", "then", "relative_count", "funnel", "rfm", "retention", "lifecycle", "group"]) {
    const node = newCondition(kind);
    assert.ok(editable(node), kind);
    assert.equal(!missing(node), complete.includes(kind), `whether a new ${kind} condition can run as it is`);
  }
  const funnel = newCondition("funnel");
  funnel.funnel.steps = [ev("A"), ev("B"), ev("")];
  assert.deepEqual(missing(funnel, "definition.all[1]"), { path: "definition.all[1]", message: "Choose every step's event." });
  funnel.funnel.steps[2] = ev("C");
  assert.equal(missing(funnel), null);
  const rfm = newCondition("rfm");
  rfm.rfm.revenue_event = ev("Purchase Completed");
  assert.match(missing(rfm).message, /amount/);
  const sum = { performed: { event: ev("A"), during: { last_days: 7 }, sum: { property: "", op: "greater", value: 1 } } };
  assert.match(missing(sum).message, /property/);
  assert.equal(measureOf(sum.performed), "sum");
  assert.equal(measureOf({ event: ev("A") }), "");
});

test("the cleaned definition drops half-filled filters from every event a condition names", () => {
  const half = { property: "category", op: "is", values: [] };
  const whole = { property: "category", op: "is", values: ["design"] };
  const node = {
    all: [
      { then: { first: ev("A", [half]), then: ev("B", [whole]), during: { last_days: 7 } } },
      { relative_count: { event: ev("A", [half]), op: "less", compared_to: ev("B", [half]), during: { last_days: 7 } } },
      { funnel: { steps: [ev("A", [whole, half]), ev("B", [half])], order: "any", during: { last_days: 7 }, reached: 2 } },
      { rfm: { segment: "lost", revenue_event: ev("P", [half]), revenue_property: "price", during: { last_days: 90 } } },
    ],
  };
  assert.deepEqual(cleanDefinition(node), {
    all: [
      { then: { first: ev("A"), then: ev("B", [whole]), during: { last_days: 7 } } },
      { relative_count: { event: ev("A"), op: "less", compared_to: ev("B"), during: { last_days: 7 } } },
      { funnel: { steps: [ev("A", [whole]), ev("B")], order: "any", during: { last_days: 7 }, reached: 2 } },
      { rfm: { segment: "lost", revenue_event: ev("P"), revenue_property: "price", during: { last_days: 90 } } },
    ],
  });
});

test("the summary reads the new conditions in plain words", () => {
  const dropped = {
    funnel: { steps: [ev("Category Viewed"), ev("Service Viewed"), ev("Purchase Completed")], conversion_window: { value: 1, unit: "day" }, order: "this", during: { last_days: 7 }, dropped_after: 2 },
  };
  assert.equal(
    summarize(dropped),
    "entered the funnel “Category Viewed” → “Service Viewed” → “Purchase Completed” in the last 7 days and reached step 2 but not step 3 (within 1 day)",
  );
  assert.equal(
    summarize({ relative_count: { event: ev("A"), op: "greater_or_equal", compared_to: ev("B"), during: { last_days: 30 } } }),
    "did “A” at least as many times as “B” in the last 30 days",
  );
  assert.equal(summarize({ performed: { event: ev("A"), during: { last_days: 30 }, nth_time: 2 } }), "did “A” for the 2nd time ever in the last 30 days");
});

test("measures and RFM segments are worded for people, with what is still to choose named", () => {
  const sum = { performed: { event: ev("Purchase Completed"), during: { last_days: 30 }, sum: { property: "price", op: "greater_or_equal", value: 100 } } };
  assert.equal(summarize(sum), "did “Purchase Completed” with price adding up to at least 100 in the last 30 days");
  sum.performed.sum.property = "";
  assert.match(summarize(sum), /with \(a property to choose\) adding up to/);
  const rfm = { rfm: { segment: "cant_lose_them", revenue_event: ev("Purchase Completed"), revenue_property: "price", during: { last_days: 180 } } };
  assert.equal(summarize(rfm), "is a buyer in RFM segment “can't lose them” (purchases: “Purchase Completed”, revenue from property price) in the last 180 days");
});

test("a lifecycle condition's day snaps to the first day of its week or month", () => {
  assert.equal(periodStart("2026-12-05", "day"), "2026-12-05");
  assert.equal(periodStart("2026-12-05", "month"), "2026-12-01");
  assert.equal(periodStart("2026-12-05", "week"), "2026-11-30", "a Saturday's week starts on Monday the 30th");
  assert.equal(periodStart("2026-12-05", "week", "sunday"), "2026-11-29");
  assert.equal(periodStart("2026-11-30", "week"), "2026-11-30", "a Monday is its own week's start");
  assert.equal(periodStart("2026-12-06", "week", "sunday"), "2026-12-06");
  assert.equal(periodStart("", "week"), "", "an empty date stays empty, for the builder to ask for");
});

test("computation times read in the cohort's zone, beside its as-of day", () => {
  const ms = Date.UTC(2026, 11, 5, 16, 13); // 16:13 UTC is the 6th, 01:13 in Seoul
  assert.equal(fmtTime(ms, "Asia/Seoul"), "2026-12-06 01:13");
  assert.equal(fmtTime(ms, "UTC"), "2026-12-05 16:13");
  assert.match(fmtTime(ms, "Not/AZone"), /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/, "an unknown zone falls back to the browser's");
  assert.equal(fmtTime(0, "UTC"), "–");
});

test("a preview warns of lifecycle periods not over on its day, and of saved cohorts read as they are now", () => {
  const week = { lifecycle: { event: { event_type: "_all" }, state: "dormant", interval: "week", in: "2026-11-30" } };
  assert.match(previewCaveats({ all: [week] }, "2026-11-30", true)[0], /week starting 2026-11-30 is not over on 2026-11-30/);
  assert.equal(previewCaveats({ all: [week] }, "2026-12-06", false).length, 0, "the week's last day: it is over");
  assert.equal(previewCaveats({ all: [week] }, "2026-12-05", false).length, 1);
  const month = { not: { lifecycle: { ...week.lifecycle, interval: "month", in: "2026-11-01" } } };
  assert.equal(previewCaveats(month, "2026-11-29", false).length, 1, "found under a negation");
  assert.equal(previewCaveats(month, "2026-11-30", false).length, 0);
  const cohort = { any: [{ in_cohort: "buyers" }, { was_new: { during: { last_days: 7 } } }] };
  assert.match(previewCaveats(cohort, "2026-11-20", true)[0], /latest computation, not its members on 2026-11-20/);
  assert.equal(previewCaveats(cohort, "2026-12-05", false).length, 0, "today: the latest computation is today's");
});
