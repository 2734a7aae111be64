// Dashboards: the list, and one board — its charts in a grid, each run with the board's date
// range when one is chosen (the range is in the URL; editors can keep it on the board).
import { useEffect, useState } from "preact/hooks";
import { del, get, post, put } from "../api.js";
import { DateRange } from "../components/controls.jsx";
import { Result } from "../components/result.jsx";
import { navigate } from "../router.js";
import { canEdit, useSession } from "../session.js";

const fmtDay = (ms) => new Date(ms).toISOString().slice(0, 10);

/**
 * Every saved chart, with the boards that show it, so a chart taken off its last board is still
 * found; editors delete one here (the API refuses while a board shows it, and says which).
 */
function ChartList({ boards, editable }) {
  const [charts, setCharts] = useState(null);
  const [error, setError] = useState(null);
  const load = () => get("/charts").then((c) => setCharts(c.charts), (e) => setError(e.message));
  useEffect(() => {
    load();
  }, []);
  if (!charts) return error ? <p class="error" role="alert">{error}</p> : null;
  const shownOn = (id) => boards.filter((b) => b.charts.some((t) => t.chart_id === id));
  const remove = async (chart) => {
    if (!confirm(`Delete the chart "${chart.name}"?`)) return;
    setError(null);
    try {
      await del(`/charts/${chart.id}`);
      await load();
    } catch (e) {
      setError(e.message);
    }
  };
  const sorted = [...charts].sort((a, b) => b.updated_ms - a.updated_ms);
  return (
    <section class="chart-list">
      <h2>Saved charts</h2>
      {error && <p class="error" role="alert" data-testid="chart-list-error">{error}</p>}
      {sorted.length ? (
        <div class="table-scroll">
          <table class="data" data-testid="chart-list">
            <thead><tr><th>chart</th><th>analysis</th><th>owner</th><th>changed</th><th>on dashboards</th>{editable && <th />}</tr></thead>
            <tbody>
              {sorted.map((c) => {
                const on = shownOn(c.id);
                return (
                  <tr data-testid={`chart-row-${c.id}`}>
                    <td><a href={`#/charts/${c.id}`}>{c.name}</a></td>
                    <td>{c.spec?.analysis}</td>
                    <td>{c.owner ?? "–"}</td>
                    <td>{fmtDay(c.updated_ms)}</td>
                    <td>{on.length ? on.map((b, i) => <>{i > 0 && ", "}<a href={`#/boards/${b.id}`}>{b.name}</a></>) : <span class="hint">none</span>}</td>
                    {editable && (
                      <td>
                        <button type="button" class="link danger" data-testid={`chart-delete-${c.id}`} disabled={on.length > 0} title={on.length ? "Take it off its dashboards first" : "Delete this chart"} onClick={() => remove(c)}>
                          Delete
                        </button>
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="hint">No saved charts yet: build one under “New chart” and save it.</p>
      )}
    </section>
  );
}

function BoardList() {
  const me = useSession();
  const [boards, setBoards] = useState(null);
  const [error, setError] = useState(null);
  const [name, setName] = useState("");
  const [createError, setCreateError] = useState(null);
  useEffect(() => {
    get("/boards").then((b) => setBoards(b.boards), (e) => setError(e.message));
  }, []);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!boards) return <p class="loading">Loading…</p>;
  const create = async (e) => {
    e.preventDefault();
    if (!name.trim()) return setCreateError("Give the dashboard a name.");
    try {
      const board = await post("/boards", { name: name.trim(), owner: me.name, charts: [] });
      navigate(`/boards/${board.id}`);
    } catch (err) {
      setCreateError(err.message);
    }
    return undefined;
  };
  return (
    <div class="page">
      <h1>Dashboards</h1>
      <ul class="cards" data-testid="board-list">
        {boards.map((b) => (
          <li>
            <a href={`#/boards/${b.id}`}>{b.name}</a>
            <small>
              {b.charts.length} charts{b.owner ? ` · ${b.owner}` : ""}
            </small>
            {b.description && <p>{b.description}</p>}
          </li>
        ))}
      </ul>
      {!boards.length && <p class="hint">No dashboards yet: save a chart onto a new one from the chart builder.</p>}
      {canEdit(me) && (
        <form class="inline" onSubmit={create}>
          <input required placeholder="New dashboard name" value={name} onInput={(e) => setName(e.target.value)} />
          <button type="submit">Create</button>
          {createError && <p class="error" role="alert" data-testid="board-create-error">{createError}</p>}
        </form>
      )}
      <ChartList boards={boards} editable={canEdit(me)} />
    </div>
  );
}

/** A range from the URL (`{range}`), or null when it is absent or cannot be read. */
function parseRange(text) {
  if (!text) return null;
  try {
    const range = JSON.parse(text);
    const ok = range && typeof range === "object" && (Number.isInteger(range.last_days) || (typeof range.from === "string" && typeof range.to === "string"));
    return ok ? { range } : null;
  } catch {
    return null;
  }
}

/** A chart's spec as the board shows it: the board's date range instead of the chart's own. */
function onBoard(spec, range) {
  return range ? { ...spec, date_range: range } : spec;
}

const WIDTHS = [["3", "¼"], ["4", "⅓"], ["6", "½"], ["8", "⅔"], ["12", "full"]];

function Tile({ tile, chart, range, editable, onRemove, onMove, onWidth }) {
  const [view, setView] = useState(chart?.view?.type ?? null);
  if (!chart) return <div class="tile missing">A chart of this board is gone ({tile.chart_id}).</div>;
  const spec = onBoard(chart.spec, range);
  const width = Math.min(12, Math.max(3, tile.width ?? 6));
  return (
    <div class="tile" style={{ "--span": width }} data-testid={`tile-${chart.id}`}>
      <div class="tile-head">
        <a href={`#/charts/${chart.id}`} class="tile-title">{chart.name}</a>
        {editable && (
          <span class="tile-tools">
            <button type="button" class="icon" title="Move earlier" onClick={() => onMove(-1)}>‹</button>
            <button type="button" class="icon" title="Move later" onClick={() => onMove(1)}>›</button>
            <select title="Width" value={String(width)} onChange={(e) => onWidth(Number(e.target.value))}>
              {WIDTHS.map(([w, label]) => <option value={w}>{label}</option>)}
            </select>
            <button type="button" class="icon" title="Remove from this dashboard" data-testid={`remove-${chart.id}`} onClick={onRemove}>
              ×
            </button>
          </span>
        )}
      </div>
      <Result spec={spec} chartId={chart.id} view={view} onView={setView} compact name={chart.name} height={260} />
    </div>
  );
}

/** An editor's form for a board's name and description. */
function BoardDetails({ board, onSave, onCancel }) {
  const [name, setName] = useState(board.name);
  const [description, setDescription] = useState(board.description ?? "");
  return (
    <form
      class="inline board-details"
      onSubmit={(e) => {
        e.preventDefault();
        onSave({ name, description: description || null });
      }}
    >
      <input required value={name} data-testid="board-name-input" onInput={(e) => setName(e.target.value)} />
      <input placeholder="Description" value={description} onInput={(e) => setDescription(e.target.value)} />
      <button type="submit" class="primary">Save</button>
      <button type="button" onClick={onCancel}>Cancel</button>
    </form>
  );
}

function Board({ id, params }) {
  const me = useSession();
  const [renaming, setRenaming] = useState(false);
  const [board, setBoard] = useState(null);
  const [charts, setCharts] = useState({});
  const [error, setError] = useState(null); // the board could not be loaded
  const [actionError, setActionError] = useState(null); // a change was refused; the board stays
  // The URL's range (`none`: each chart's own dates) overrides the one kept on the board.
  const urlRange = params.get("range");
  const fromUrl = urlRange === "none" ? { range: null } : parseRange(urlRange);
  const range = fromUrl ? fromUrl.range : board?.date_range ?? null;
  const load = () =>
    Promise.all([get(`/boards/${id}`), get("/charts")]).then(
      ([b, c]) => {
        setBoard(b);
        setCharts(Object.fromEntries(c.charts.map((x) => [x.id, x])));
      },
      (e) => setError(e.message),
    );
  useEffect(() => {
    load();
  }, [id]);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!board) return <p class="loading">Loading…</p>;
  const editable = canEdit(me);
  const kept = board.date_range ?? null;
  const setRange = (r) => {
    const same = JSON.stringify(r) === JSON.stringify(kept);
    navigate(same ? `/boards/${id}` : `/boards/${id}?range=${r ? encodeURIComponent(JSON.stringify(r)) : "none"}`);
  };
  /** Saves a change; answers whether it was taken (a refusal is shown, the board stays). */
  const save = async (patch) => {
    setActionError(null);
    try {
      setBoard(await put(`/boards/${id}`, { ...board, ...patch }));
      return true;
    } catch (e) {
      setActionError(e.message);
      return false;
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the dashboard "${board.name}"? Its charts are kept.`)) return;
    try {
      await del(`/boards/${id}`);
      navigate("/boards");
    } catch (e) {
      setActionError(e.message);
    }
  };
  return (
    <div class="page board">
      <div class="board-head">
        {renaming ? (
          <BoardDetails board={board} onSave={(patch) => save(patch).then((ok) => ok && setRenaming(false))} onCancel={() => setRenaming(false)} />
        ) : (
          <>
            <h1 data-testid="board-name">{board.name}</h1>
            {board.description && <p class="hint">{board.description}</p>}
            {board.owner && <span class="hint">· {board.owner}</span>}
            {editable && (
              <button type="button" class="link" data-testid="edit-board" onClick={() => setRenaming(true)}>
                Rename
              </button>
            )}
          </>
        )}
        <span class="board-controls">
          <DateRange value={range} onChange={setRange} none="Each chart's own dates" testid="board-range" />
          {fromUrl && <a href={`#/boards/${id}`} data-testid="board-range-reset">{kept ? "back to the board's range" : "reset"}</a>}
          {editable && fromUrl && (
            <button
              type="button"
              class="link"
              data-testid="board-range-keep"
              onClick={() => save({ date_range: fromUrl.range }).then((ok) => ok && navigate(`/boards/${id}`))}
            >
              {fromUrl.range ? "Keep this range on the board" : "Keep each chart's own dates"}
            </button>
          )}
          {editable && (
            <button type="button" class="link danger" data-testid="delete-board" onClick={remove}>
              Delete dashboard
            </button>
          )}
        </span>
      </div>
      {urlRange && !fromUrl && <p class="error" role="alert">This link's date range could not be read; the board's own is shown.</p>}
      {actionError && <p class="error" role="alert" data-testid="board-error">{actionError}</p>}
      <div class="grid">
        {board.charts.map((tile, i) => (
          <Tile
            key={tile.chart_id}
            tile={tile}
            chart={charts[tile.chart_id]}
            range={range}
            editable={editable}
            onRemove={() => {
              const name = charts[tile.chart_id]?.name ?? "this chart";
              if (confirm(`Take "${name}" off this dashboard? The chart stays saved (Dashboards → Saved charts).`)) {
                save({ charts: board.charts.filter((t) => t.chart_id !== tile.chart_id) });
              }
            }}
            onMove={(step) => {
              const j = i + step;
              if (j < 0 || j >= board.charts.length) return;
              const order = [...board.charts];
              [order[i], order[j]] = [order[j], order[i]];
              save({ charts: order });
            }}
            onWidth={(w) => save({ charts: board.charts.map((t) => (t.chart_id === tile.chart_id ? { ...t, width: w } : t)) })}
          />
        ))}
      </div>
      {!board.charts.length && (
        <p class="hint">
          This dashboard is empty: build a chart in <a href="#/chart">New chart</a> and save it here.
        </p>
      )}
    </div>
  );
}

export function BoardsPage({ route }) {
  const [, id] = route.parts;
  const [boards, setBoards] = useState(null);
  // `#/` opens the oldest dashboard ("Key metrics" on the demo), the morning's page.
  useEffect(() => {
    if (!route.parts.length) get("/boards").then((b) => setBoards(b.boards), () => setBoards([]));
  }, [route.path]);
  if (!route.parts.length) {
    if (!boards) return <p class="loading">Loading…</p>;
    if (boards.length) {
      const first = boards.reduce((a, b) => (b.created_ms < a.created_ms ? b : a));
      return <Board id={first.id} params={route.params} />;
    }
    return <BoardList />;
  }
  return id ? <Board id={id} params={route.params} /> : <BoardList />;
}
