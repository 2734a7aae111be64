import assert from "node:assert/strict";
import { test } from "node:test";
import { fieldOf, problems, startsOver, toConfig, toDraft } from "./sync-model.js";

const braze = {
  name: "to-braze",
  cohort: "dropped",
  every_secs: 7200,
  destination: { kind: "braze", url: "https://rest.iad-01.braze.com", api_key: { env: "BRAZE_KEY" }, match_by: "external_id" },
  retry: { max_attempts: 8, base_ms: 1000, max_ms: 128000, timeout_ms: 10000 },
};

test("a saved sync with an environment secret round-trips through the form unchanged", () => {
  const draft = toDraft(braze, "other");
  assert.equal(draft.schedule, "every");
  assert.equal(draft.every, "2");
  assert.equal(draft.unit, "hours");
  assert.deepEqual(problems(draft, { isNew: false }), {});
  assert.deepEqual(toConfig(draft), braze);
  assert.deepEqual(startsOver(braze, draft).changed, []);
});

test("a hidden secret left alone is kept, and a new one may start the sync over", () => {
  const hook = { name: "h", cohort: "c", destination: { kind: "webhook", url: "http://x.test/h", secret: "(hidden)", headers: { "X-A": "1" } }, retry: {} };
  const draft = toDraft(hook, "c");
  assert.equal(draft.webhook.secret.stored, "value");
  assert.deepEqual(problems(draft, { isNew: false }), {}, "an empty field keeps the stored secret");
  assert.equal(toConfig(draft).destination.secret, "(hidden)", "which the server reads as: keep it");
  assert.deepEqual(startsOver(hook, draft), { changed: [], secretUnknown: false });
  draft.webhook.secret.value = "s3cret";
  assert.deepEqual(problems(draft, { isNew: false }), {});
  assert.equal(toConfig(draft).destination.secret, "s3cret");
  assert.deepEqual(toConfig(draft).destination.headers, { "X-A": "1" });
  assert.deepEqual(startsOver(hook, draft), { changed: [], secretUnknown: true });
  draft.webhook.secret.mode = "none";
  assert.equal(toConfig(draft).destination.secret, undefined);
  assert.deepEqual(startsOver(hook, draft).changed, ["destination"]);
});

test("a new sync is checked before it is sent", () => {
  const draft = toDraft(null, "c");
  draft.name = "Bad Name";
  draft.schedule = "every";
  draft.every = "30";
  draft.unit = "seconds";
  draft.kind = "kafka";
  draft.kafka.topic = "a topic";
  const p = problems(draft);
  assert.deepEqual(Object.keys(p).sort(), ["brokers", "every", "name", "topic"]);
  const file = toDraft(null, "c");
  Object.assign(file, { name: "f", kind: "file", schedule: "every", every: "15", unit: "minutes" });
  file.file.dir = "/tmp/out";
  assert.deepEqual(problems(file), {});
  assert.deepEqual(toConfig(file), { name: "f", cohort: "c", every_secs: 900, destination: { kind: "file", dir: "/tmp/out", format: "csv" } });
});

test("changing the cohort or a destination field starts over", () => {
  const draft = toDraft(braze, "x");
  draft.braze.batch_size = "60";
  assert.deepEqual(startsOver(braze, draft).changed, ["destination"]);
  const other = toDraft(braze, "x");
  other.cohort = "else";
  other.every = "3";
  assert.deepEqual(startsOver(braze, other).changed, ["cohort"]);
});

test("server messages name their field", () => {
  assert.equal(fieldOf("sync config: every_secs is 30: syncs run at most once a minute (60)"), "every");
  assert.equal(fieldOf("invalid sync config: missing field `api_key` at line 1 column 81"), "api_key");
  assert.equal(fieldOf("sync config: batch_size 100: Braze takes at most 75 objects per request"), "batch_size");
  assert.equal(fieldOf('sync config: topic "bad topic": Kafka topics are 1 to 249 of a-z'), "topic");
  assert.equal(fieldOf('sync config: header "bad header" is not a valid HTTP header'), "headers");
  assert.equal(fieldOf("sync config: retry: base_ms must not be above max_ms"), "retry");
  assert.equal(fieldOf('sync config: url "ftp://x" is not an http:// or https:// URL'), "url");
  assert.equal(fieldOf('sync config: sync name: invalid name "A"'), "name");
  assert.equal(fieldOf("invalid sync config: unknown variant `xml`, expected `csv` or `parquet`"), "format");
  assert.equal(fieldOf("something else"), null);
});

test("an untouched edit of a sync with a hidden secret does not read as a new destination", () => {
  const hook = { name: "h", cohort: "c", destination: { kind: "webhook", url: "http://x.test/h", secret: "(hidden)" }, retry: {} };
  assert.deepEqual(startsOver(hook, toDraft(hook, "c")).changed, []);
  const key = { ...braze, destination: { ...braze.destination, api_key: "(hidden)" } };
  assert.deepEqual(startsOver(key, toDraft(key, "c")).changed, []);
});
