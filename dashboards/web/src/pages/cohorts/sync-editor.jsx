// The form that creates or changes a cohort sync (`PUT /api/v1/syncs/{name}`): name, cohort,
// schedule, the destination's fields (docs/query-api.md, "Cohort syncs"), secrets as a value or an
// environment variable's name, and the retry policy under "Advanced". Its logic is in
// sync-model.js; the server's 400 message is shown beside the field it names.
import { useEffect, useRef, useState } from "preact/hooks";
import { get, put } from "../../api.js";
import { num } from "../../charts/format.js";
import {
  BATCH_DEFAULTS,
  BRAZE_MAX_BATCH,
  KINDS,
  MAX_HEADERS,
  RETRY_DEFAULTS,
  fieldOf,
  problems,
  startsOver,
  toConfig,
  toDraft,
} from "./sync-model.js";

/** The fields the form shows for each destination (a server message about another is shown by Save). */
const COMMON = ["name", "cohort", "every", "retry"];
const FIELDS = {
  braze: [...COMMON, "url", "api_key", "attribute", "match_by", "batch_size"],
  webhook: [...COMMON, "url", "secret", "headers", "batch_size"],
  file: [...COMMON, "dir", "format", "batch_size"],
  kafka: [...COMMON, "brokers", "topic", "batch_size", "partitions"],
};

/** A labelled field with its hint and, when it has one, its problem. */
function Row({ label, hint, error, errorId, children, wide }) {
  return (
    <div class={`sync-field${wide ? " wide" : ""}${error ? " has-error" : ""}`}>
      <label>
        <span class="sync-label">{label}</span>
        {children}
      </label>
      {hint && <small class="hint">{hint}</small>}
      {error && (
        <p class="error field-error" role="alert" data-testid={errorId}>
          {error}
        </p>
      )}
    </div>
  );
}

/** A secret: written out (stored in the data directory) or an environment variable's name. */
function SecretInput({ label, value, onChange, optional, error, errorId, testid }) {
  const stored = value.stored;
  const modes = [
    ["env", "an environment variable"],
    ["value", "a value"],
  ];
  if (optional) modes.unshift(["none", "no secret"]);
  let hint;
  if (value.mode === "env") {
    hint = (
      <>
        Recommended. Only the variable's name is saved; sluice reads the secret from its own environment when the sync runs (set the variable where{" "}
        <code>sluice serve</code> starts), so the secret never lands in the data directory or its backups.
        {stored === "value" && " Saving replaces the stored value with this variable."}
      </>
    );
  } else if (value.mode === "value") {
    hint = stored === "value" ? (
      <strong class="warn" data-testid={`${testid}-retype`}>
        A secret is stored (the server never shows it): leave this empty to keep it, or type a new one. A different secret than the stored one starts the
        sync over.
      </strong>
    ) : (
      <>Saved in the sync's config in the data directory (<code>syncs/NAME/sync.json</code>); the API never shows it back.</>
    );
  } else {
    hint = stored === "value" || stored === "env" ? <strong class="warn">Saving removes the stored secret: messages are no longer signed.</strong> : "Messages are not signed.";
  }
  return (
    <div class={`sync-field wide${error ? " has-error" : ""}`}>
      <span class="sync-label">{label}</span>
      <div class="secret-row">
        <select aria-label={`${label}: given as`} data-testid={`${testid}-mode`} value={value.mode} onChange={(e) => onChange({ ...value, mode: e.target.value })}>
          {modes.map(([m, text]) => <option value={m}>{text}</option>)}
        </select>
        {value.mode === "env" && (
          <input
            aria-label={`${label}: environment variable`}
            data-testid={testid}
            placeholder="VARIABLE_NAME"
            spellcheck={false}
            autocapitalize="off"
            value={value.env}
            onInput={(e) => onChange({ ...value, env: e.target.value })}
          />
        )}
        {value.mode === "value" && (
          <input
            type="password"
            aria-label={`${label}: value`}
            data-testid={testid}
            autocomplete="new-password"
            placeholder={stored === "value" ? "empty: keep the stored secret" : "the secret"}
            value={value.value}
            onInput={(e) => onChange({ ...value, value: e.target.value })}
          />
        )}
      </div>
      <small class="hint">{hint}</small>
      {error && <p class="error field-error" role="alert" data-testid={errorId}>{error}</p>}
    </div>
  );
}

/**
 * `saved`: the sync being edited (as the API shows it), or null for a new one of `cohort`.
 * `cohortSize`: the cohort's latest size, for the "starts over" warning.
 */
export function SyncEditor({ saved, cohort, cohortSize, onSaved, onCancel }) {
  const isNew = !saved;
  const [draft, setDraft] = useState(() => toDraft(saved, cohort));
  const [cohorts, setCohorts] = useState(null);
  const [attempts, setAttempts] = useState(0); // after a first Save, problems are shown as they are fixed
  const [serverError, setServerError] = useState(null); // {field, message}
  const [busy, setBusy] = useState(false);
  const [advanced, setAdvanced] = useState(false);
  const form = useRef(null);
  useEffect(() => {
    get("/cohorts").then((c) => setCohorts(c.cohorts.map((x) => x.cohort.name)), () => setCohorts([]));
  }, []);
  useEffect(() => {
    // The first problem shown, in view (the form is long on a phone).
    const el = form.current?.querySelector(".field-error, [data-testid=sync-error]");
    if (el) el.scrollIntoView({ block: "center", behavior: "smooth" });
  }, [attempts, serverError]);

  const set = (patch) => setDraft((d) => ({ ...d, ...patch }));
  const setDest = (patch) => setDraft((d) => ({ ...d, [d.kind]: { ...d[d.kind], ...patch } }));
  const d = draft[draft.kind];
  const errors = attempts ? problems(draft, { isNew }) : {};
  const shown = (field) => errors[field] ?? (serverError?.field === field ? serverError.message : null);
  const errorId = (field) => (serverError?.field === field && !errors[field] ? "sync-error" : `sync-problem-${field}`);
  const over = startsOver(saved, draft);

  const save = async (e) => {
    e.preventDefault();
    setServerError(null);
    const found = problems(draft, { isNew });
    setAttempts((n) => n + 1);
    if (found.retry) setAdvanced(true);
    if (Object.keys(found).length) return;
    setBusy(true);
    try {
      if (isNew) {
        // PUT replaces a sync of the same name: a new one must not overwrite another.
        const { syncs } = await get("/syncs");
        const other = syncs.find((s) => s.sync.name === draft.name);
        if (other) {
          setServerError({ field: "name", message: `A sync named “${draft.name}” exists already (it sends ${other.sync.cohort}): pick another name, or edit that one.` });
          setBusy(false);
          return;
        }
      }
      const answer = await put(`/syncs/${encodeURIComponent(draft.name)}`, toConfig(draft));
      setBusy(false);
      onSaved(answer, over.changed.length > 0);
    } catch (err) {
      const named = err.status === 400 ? fieldOf(err.message) : null;
      const field = named && FIELDS[draft.kind].includes(named) ? named : null;
      if (field === "retry") setAdvanced(true);
      setServerError({ field, message: err.message });
      setBusy(false);
    }
  };

  const num_ = (field, placeholder, extra = {}) => (
    <input
      inputmode="numeric"
      data-testid={`sync-${field.replace(/_/g, "-")}`}
      placeholder={placeholder}
      value={d[field]}
      onInput={(e) => setDest({ [field]: e.target.value })}
      {...extra}
    />
  );
  const cohortOptions = cohorts ? [...new Set([...cohorts, draft.cohort])].sort() : [draft.cohort];

  return (
    <form class="sync-editor" data-testid="sync-editor" ref={form} onSubmit={save} noValidate>
      <h3>{isNew ? "New sync" : `Edit ${saved.name}`}</h3>
      <div class="sync-fields">
        <Row
          label="Name"
          hint={isNew ? "1–64 of a-z, 0-9, - and _. It names the sync's folder, its files and its message ids." : "A sync's name cannot change: to rename it, create a new sync and delete this one."}
          error={shown("name")}
          errorId={errorId("name")}
        >
          <input
            data-testid="sync-name"
            value={draft.name}
            disabled={!isNew}
            maxLength={64}
            spellcheck={false}
            autocapitalize="off"
            placeholder="e.g. dropoffs-to-crm"
            onInput={(e) => set({ name: e.target.value })}
          />
        </Row>
        <Row label="Cohort" error={shown("cohort")} errorId={errorId("cohort")}>
          <select data-testid="sync-cohort" value={draft.cohort} onChange={(e) => set({ cohort: e.target.value })}>
            {cohortOptions.map((c) => <option value={c}>{c}</option>)}
          </select>
        </Row>
        <Row
          label="Schedule"
          hint={draft.schedule === "every" ? "sluice serve computes the cohort afresh and syncs it this often (at least once a minute)." : "Runs only when someone clicks “Run sync now” (or sluice cohort sync run)."}
          error={shown("every")}
          errorId={errorId("every")}
        >
          <span class="schedule-row">
            <select data-testid="sync-schedule" value={draft.schedule} onChange={(e) => set({ schedule: e.target.value })}>
              <option value="manual">manual only</option>
              <option value="every">every…</option>
            </select>
            {draft.schedule === "every" && (
              <span class="every-group">
                <input class="short" inputmode="numeric" aria-label="how many" data-testid="sync-every" value={draft.every} onInput={(e) => set({ every: e.target.value })} />
                <select aria-label="unit" data-testid="sync-every-unit" value={draft.unit} onChange={(e) => set({ unit: e.target.value })}>
                  {draft.unit === "seconds" && <option value="seconds">seconds</option>}
                  <option value="minutes">minutes</option>
                  <option value="hours">hours</option>
                </select>
              </span>
            )}
          </span>
        </Row>
        <Row label="Destination">
          <select data-testid="sync-kind" value={draft.kind} onChange={(e) => set({ kind: e.target.value })}>
            {KINDS.map(([k, text]) => <option value={k}>{text}</option>)}
          </select>
        </Row>
      </div>

      <fieldset class="sync-fields dest" data-testid={`sync-dest-${draft.kind}`}>
        <legend>{KINDS.find(([k]) => k === draft.kind)[1]}</legend>
        {draft.kind === "braze" && (
          <>
            <Row label="REST endpoint (url)" wide hint="Your Braze instance's REST endpoint; users are updated with POST <url>/users/track." error={shown("url")} errorId={errorId("url")}>
              <input data-testid="sync-url" type="url" placeholder="https://rest.iad-01.braze.com" value={d.url} onInput={(e) => setDest({ url: e.target.value })} />
            </Row>
            <SecretInput label="API key (api_key)" testid="sync-secret" value={d.api_key} onChange={(v) => setDest({ api_key: v })} error={shown("api_key")} errorId={errorId("api_key")} />
            <Row label="Attribute" hint={`A boolean custom attribute, true while in the cohort. Empty: sluice_cohort_${draft.cohort}.`} error={shown("attribute")} errorId={errorId("attribute")}>
              <input data-testid="sync-attribute" placeholder={`sluice_cohort_${draft.cohort}`} value={d.attribute} onInput={(e) => setDest({ attribute: e.target.value })} />
            </Row>
            <Row label="Match users by" error={shown("match_by")} errorId={errorId("match_by")} hint={d.match_by === "external_id" ? "Persons never identified are not sent (counted as unmatched)." : "Persons never identified are sent as a device_id user alias."}>
              <select data-testid="sync-match-by" value={d.match_by} onChange={(e) => setDest({ match_by: e.target.value })}>
                <option value="external_id">user id (external_id)</option>
                <option value="external_id_or_device_alias">user id, else device alias</option>
              </select>
            </Row>
            <Row label="Batch size" hint={`Users per request; default 50, at most ${BRAZE_MAX_BATCH}.`} error={shown("batch_size")} errorId={errorId("batch_size")}>
              {num_("batch_size", BATCH_DEFAULTS.braze)}
            </Row>
          </>
        )}
        {draft.kind === "webhook" && (
          <>
            <Row label="URL" wide hint="Each batch is POSTed here as Amplitude's cohort-webhook JSON." error={shown("url")} errorId={errorId("url")}>
              <input data-testid="sync-url" type="url" placeholder="https://example.com/hooks/cohorts" value={d.url} onInput={(e) => setDest({ url: e.target.value })} />
            </Row>
            <SecretInput
              label="Signing secret (optional)"
              testid="sync-secret"
              optional
              value={d.secret}
              onChange={(v) => setDest({ secret: v })}
              error={shown("secret")}
              errorId={errorId("secret")}
            />
            <div class={`sync-field wide${shown("headers") ? " has-error" : ""}`}>
              <span class="sync-label">Headers ({d.headers.length} of {MAX_HEADERS})</span>
              {d.headers.map((h, i) => (
                <div class="header-row" data-testid={`sync-header-${i}`}>
                  <input aria-label={`header ${i + 1} name`} placeholder="Name" value={h.name} onInput={(e) => setDest({ headers: d.headers.map((x, j) => (j === i ? { ...x, name: e.target.value } : x)) })} />
                  <input aria-label={`header ${i + 1} value`} placeholder="value" value={h.value} onInput={(e) => setDest({ headers: d.headers.map((x, j) => (j === i ? { ...x, value: e.target.value } : x)) })} />
                  <button type="button" class="icon" title="Remove this header" onClick={() => setDest({ headers: d.headers.filter((_, j) => j !== i) })}>×</button>
                </div>
              ))}
              {d.headers.length < MAX_HEADERS && (
                <button type="button" class="link" data-testid="sync-header-add" onClick={() => setDest({ headers: [...d.headers, { name: "", value: "" }] })}>+ header</button>
              )}
              <small class="hint">Sent with every message, after Content-Type, User-Agent and X-Sluice-Message-Id. Header values are stored as written and shown back.</small>
              {shown("headers") && <p class="error field-error" role="alert" data-testid={errorId("headers")}>{shown("headers")}</p>}
            </div>
            <Row label="Batch size" hint="Users per message; default 1000." error={shown("batch_size")} errorId={errorId("batch_size")}>
              {num_("batch_size", BATCH_DEFAULTS.webhook)}
            </Row>
          </>
        )}
        {draft.kind === "file" && (
          <>
            <Row label="Folder (dir)" wide hint="A folder on the machine sluice runs on (an absolute path; made if missing). Files are named <sync>-<computed_ms>-<enter|exit>-<index>." error={shown("dir")} errorId={errorId("dir")}>
              <input data-testid="sync-dir" spellcheck={false} placeholder="/srv/exports/crm" value={d.dir} onInput={(e) => setDest({ dir: e.target.value })} />
            </Row>
            <Row label="Format" error={shown("format")} errorId={errorId("format")}>
              <select data-testid="sync-format" value={d.format} onChange={(e) => setDest({ format: e.target.value })}>
                <option value="csv">CSV</option>
                <option value="parquet">Parquet</option>
              </select>
            </Row>
            <Row label="Batch size" hint="Users per file; empty: one file of entering users and one of leaving ones." error={shown("batch_size")} errorId={errorId("batch_size")}>
              {num_("batch_size", BATCH_DEFAULTS.file)}
            </Row>
          </>
        )}
        {draft.kind === "kafka" && (
          <>
            <Row label="Brokers" wide hint="Bootstrap brokers: host:port, several separated by commas." error={shown("brokers")} errorId={errorId("brokers")}>
              <input data-testid="sync-brokers" spellcheck={false} placeholder="kafka-1:9092,kafka-2:9092" value={d.brokers} onInput={(e) => setDest({ brokers: e.target.value })} />
            </Row>
            <Row label="Topic" hint="Created when missing." error={shown("topic")} errorId={errorId("topic")}>
              <input data-testid="sync-topic" spellcheck={false} value={d.topic} onInput={(e) => setDest({ topic: e.target.value })} />
            </Row>
            <Row label="Batch size" hint="Records per delivery wait; default 1000." error={shown("batch_size")} errorId={errorId("batch_size")}>
              {num_("batch_size", BATCH_DEFAULTS.kafka)}
            </Row>
            <Row label="Partitions / replication" hint="Used only when the sync creates the topic; default 1 each." error={shown("partitions")} errorId={errorId("partitions")}>
              <span class="schedule-row">
                {num_("partitions", "1", { class: "short", "aria-label": "partitions" })}
                {num_("replication", "1", { class: "short", "aria-label": "replication" })}
              </span>
            </Row>
          </>
        )}
      </fieldset>

      <details class="sync-advanced" open={advanced} onToggle={(e) => setAdvanced(e.currentTarget.open)}>
        <summary data-testid="sync-advanced">Advanced: retries</summary>
        <p class="hint">
          A batch not delivered is tried again, waiting from the first wait doubling up to the longest wait (half of each wait random); a 429 waits for the destination's reset time. Empty fields take the defaults.
        </p>
        <div class="sync-fields">
          {[
            ["max_attempts", "Tries per batch"],
            ["base_ms", "First wait (ms)"],
            ["max_ms", "Longest wait (ms)"],
            ["timeout_ms", "Timeout per try (ms)"],
          ].map(([k, label]) => (
            <Row label={label}>
              <input
                class="retry-input"
                inputmode="numeric"
                data-testid={`sync-retry-${k.replace(/_/g, "-")}`}
                placeholder={String(RETRY_DEFAULTS[k])}
                value={draft.retry[k]}
                onInput={(e) => set({ retry: { ...draft.retry, [k]: e.target.value } })}
              />
            </Row>
          ))}
        </div>
        {shown("retry") && <p class="error field-error" role="alert" data-testid={errorId("retry")}>{shown("retry")}</p>}
      </details>

      {over.changed.length > 0 && (
        <p class="warn-note" data-testid="sync-warning">
          Changing this sync's {over.changed.join(" and ")} starts it over: its next run sends every member of{" "}
          {draft.cohort}{cohortSize != null && draft.cohort === cohort ? ` (${num(cohortSize)} persons)` : ""} as entering, and what was sent before is not
          taken back from {over.changed.includes("destination") ? "the old destination" : "the destination"}.
        </p>
      )}
      {serverError && !serverError.field && (
        <p class="error" role="alert" data-testid="sync-error">{serverError.message}</p>
      )}
      {serverError?.field && <p class="hint not-saved">Not saved: see the message above.</p>}
      <div class="buttons">
        <button type="submit" class="primary" data-testid="sync-save" disabled={busy}>{busy ? "Saving…" : isNew ? "Create sync" : "Save changes"}</button>
        <button type="button" data-testid="sync-cancel" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
