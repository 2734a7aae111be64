// A searchable picker: a button showing the choice; a click opens a search box over the options
// (event types with their volumes, properties with their kinds), a click on one chooses it.
import { useEffect, useRef, useState } from "preact/hooks";

/**
 * `options`: [{key, label, hint?, group?}]; `value`: the chosen key; `onChange(key)`.
 * `testid` names the button for the browser tests.
 */
export function Picker({ options, value, onChange, placeholder = "Choose…", testid, allowCustom = false }) {
  const [open, setOpen] = useState(false);
  const [search, setSearch] = useState("");
  const box = useRef(null);
  const input = useRef(null);
  useEffect(() => {
    if (!open) return undefined;
    input.current?.focus(); // `autoFocus` only works on page load
    const close = (e) => {
      if (box.current && !box.current.contains(e.target)) setOpen(false);
    };
    document.addEventListener("mousedown", close);
    return () => document.removeEventListener("mousedown", close);
  }, [open]);
  const needle = search.trim().toLowerCase();
  // Exact matches first, then those starting with the search, then the rest (Enter takes the top).
  const rank = (label) => (label === needle ? 0 : label.startsWith(needle) ? 1 : 2);
  const shown = needle
    ? options
      .filter((o) => o.label.toLowerCase().includes(needle))
      .map((o, i) => ({ o, i, r: rank(o.label.toLowerCase()) }))
      .sort((a, b) => a.r - b.r || a.i - b.i)
      .map(({ o }) => o)
      .slice(0, 200)
    : options.slice(0, 200);
  const chosen = options.find((o) => o.key === value);
  const choose = (key) => {
    onChange(key);
    setOpen(false);
    setSearch("");
  };
  return (
    <span class="picker" ref={box}>
      <button type="button" class={`picker-button ${value ? "" : "empty"}`} data-testid={testid} onClick={() => setOpen(!open)}>
        {chosen ? chosen.label : value || placeholder}
      </button>
      {open && (
        <div class="picker-panel">
          <input
            ref={input}
            autoFocus
            placeholder="Search…"
            value={search}
            onInput={(e) => setSearch(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && shown.length) choose(shown[0].key);
              else if (e.key === "Enter" && allowCustom && needle) choose(search.trim());
              else if (e.key === "Escape") setOpen(false);
            }}
          />
          <ul role="listbox">
            {shown.map((o) => (
              <li role="option" aria-selected={o.key === value} onClick={() => choose(o.key)} title={o.title ?? ""}>
                <span>{o.label}</span>
                {o.hint && <small>{o.hint}</small>}
              </li>
            ))}
            {!shown.length && <li class="none">Nothing matches.</li>}
          </ul>
        </div>
      )}
    </span>
  );
}

const compact = new Intl.NumberFormat("en", { notation: "compact" });

/** The event options: special events first, then every event type by volume. */
export function eventOptions(catalog, specials = []) {
  const special = {
    _all: { label: "Any event", hint: "_all" },
    _new: { label: "New user (first event)", hint: "_new" },
  };
  return [
    ...specials.map((key) => ({ key, ...special[key] })),
    ...catalog.events.map((e) => ({
      key: e.name,
      label: e.name,
      hint: e.planned === false ? "unplanned" : `${compact.format(e.events)} / 30 d`,
      title: e.description,
    })),
  ];
}

/** The property options, keyed `kind:property`. */
export function propertyOptions(catalog, { cohorts = true } = {}) {
  return catalog.properties
    .filter((p) => cohorts || p.kind !== "cohort")
    .map((p) => ({
      key: `${p.kind}:${p.property}`,
      label: p.kind === "cohort" ? `cohort: ${p.property}` : p.property,
      hint: { event: "event", user: "user", field: "field", cohort: "cohort" }[p.kind],
      title: p.description ?? "",
    }));
}

export function refKey(ref) {
  return ref ? `${ref.kind}:${ref.property}` : "";
}

export function keyRef(key) {
  const at = key.indexOf(":");
  return { kind: key.slice(0, at), property: key.slice(at + 1) };
}
