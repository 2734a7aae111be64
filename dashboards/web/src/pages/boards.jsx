// Dashboards: the list, and one board — its charts in a grid, each run with the board's date
// range when one is chosen (the range is in the URL; editors can keep it on the board).
import { useEffect, useState } from "preact/hooks";
import { del, get, post, put } from "../api.js";
import { DateRange } from "../components/controls.jsx";
import { Result } from "../components/result.jsx";
import { navigate } from "../router.js";
import { canEdit, useSession } from "../session.js";

function BoardList() {
  const me = useSession();
  const [boards, setBoards] = useState(null);
  const [error, setError] = useState(null);
  const [name, setName] = useState("");
  useEffect(() => {
    get("/boards").then((b) => setBoards(b.boards), (e) => setError(e.message));
  }, []);
  if (error) return <p class="error" role="alert">{error}</p>;
  if (!boards) return <p class="loading">Loading…</p>;
  const create = async (e) => {
    e.preventDefault();
    try {
      const board = await post("/boards", { name, owner: me.name, charts: [] });
      navigate(`/boards/${board.id}`);
    } catch (err) {
      setError(err.message);
    }
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
        </form>
      )}
    </div>
  );
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
  const [error, setError] = useState(null);
  const urlRange = params.get("range");
  const range = urlRange ? JSON.parse(urlRange) : board?.date_range ?? null;
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
  const setRange = (r) => navigate(`/boards/${id}?range=${encodeURIComponent(JSON.stringify(r))}`);
  const save = async (patch) => {
    try {
      setBoard(await put(`/boards/${id}`, { ...board, ...patch }));
    } catch (e) {
      setError(e.message);
    }
  };
  const remove = async () => {
    if (!confirm(`Delete the dashboard "${board.name}"? Its charts are kept.`)) return;
    try {
      await del(`/boards/${id}`);
      navigate("/boards");
    } catch (e) {
      setError(e.message);
    }
  };
  return (
    <div class="page board">
      <div class="board-head">
        {renaming ? (
          <BoardDetails board={board} onSave={(patch) => save(patch).then(() => setRenaming(false))} onCancel={() => setRenaming(false)} />
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
          <DateRange value={range ?? { last_days: 30 }} onChange={setRange} testid="board-range" />
          {!range && <span class="hint">each chart's own dates</span>}
          {urlRange && <a href={`#/boards/${id}`}>reset</a>}
          {editable && urlRange && (
            <button type="button" class="link" onClick={() => save({ date_range: JSON.parse(urlRange) }).then(() => navigate(`/boards/${id}`))}>
              Keep this range on the board
            </button>
          )}
          {editable && (
            <button type="button" class="link danger" data-testid="delete-board" onClick={remove}>
              Delete dashboard
            </button>
          )}
        </span>
      </div>
      <div class="grid">
        {board.charts.map((tile, i) => (
          <Tile
            key={tile.chart_id}
            tile={tile}
            chart={charts[tile.chart_id]}
            range={range}
            editable={editable}
            onRemove={() => save({ charts: board.charts.filter((t) => t.chart_id !== tile.chart_id) })}
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
