// Admin: the accounts (`GET /api/v1/users`), who used what (`GET /api/v1/usage`, the saved charts
// named from `GET /api/v1/charts`), and how accounts are made (on the server's command line).
import { useEffect, useState } from "preact/hooks";
import { get } from "../api.js";
import { num } from "../charts/format.js";
import { UsageTable } from "../components/usage-table.jsx";
import { isAdmin, useSession } from "../session.js";

const ROLES = [
  ["viewer", "reads every chart and dashboard and runs queries"],
  ["editor", "also saves and deletes charts, dashboards, cohorts and syncs"],
  ["admin", "also sees this page: the accounts and who used what"],
];

function load() {
  return Promise.all([
    get("/users"),
    get("/usage"),
    get("/charts").catch(() => ({ charts: [] })),
  ]).then(([users, usage, charts]) => ({
    users: users.users,
    members: usage.members,
    charts: new Map(charts.charts.map((c) => [c.id, c])),
  }));
}

function UsersTable({ users, members }) {
  const queries = new Map(members.map((m) => [m.user, m.queries]));
  return (
    <div class="table-scroll">
      <table class="data users" data-testid="users-table">
        <thead>
          <tr>
            <th>Name</th>
            <th>Role</th>
            <th class="n">Queries</th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => (
            <tr data-testid={`user-row-${u.name}`}>
              <td><strong>{u.name}</strong></td>
              <td><span class={`badge role-${u.role}`}>{u.role}</span></td>
              <td class="n">{num(queries.get(u.name) ?? 0)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function HowToAdd() {
  return (
    <section class="card admin-help" data-testid="admin-help">
      <h2>Adding people</h2>
      <p>
        Accounts are made on the server, with the <code>sluice</code> command and the same data directory as{" "}
        <code>sluice serve</code>. A new user logs in here with the password given:
      </p>
      <pre>SLUICE_PASSWORD='…' sluice user add NAME --role viewer|editor|admin --data-dir DIR</pre>
      <p>
        (or <code>--password-file FILE</code>). Running it again for an existing name changes the role and the password. For
        scripts and the API, an API token (printed once, sent as <code>Authorization: Bearer slt_…</code>):
      </p>
      <pre>sluice user token NAME --role viewer|editor|admin --data-dir DIR</pre>
      <p>
        <code>sluice user list</code> lists the accounts, <code>sluice user delete NAME</code> removes one.
      </p>
      <dl class="roles">
        {ROLES.map(([role, what]) => (
          <>
            <dt><span class={`badge role-${role}`}>{role}</span></dt>
            <dd>{what}</dd>
          </>
        ))}
      </dl>
    </section>
  );
}

export function AdminPage() {
  const me = useSession();
  const admin = isAdmin(me);
  const [state, setState] = useState({ data: null, error: null });
  useEffect(() => {
    // Others are told so here rather than by two refused requests.
    if (!admin) return;
    load().then((data) => setState({ data, error: null }), (e) => setState({ data: null, error: e.message }));
  }, [admin]);
  const { data } = state;
  const error = admin ? state.error : `Only admins see the accounts and who used what; you are ${me ? `a ${me.role}` : "not logged in"}.`;
  return (
    <div class="page admin" data-testid="admin-page">
      <h1>Admin</h1>
      {error && <p class="error" role="alert" data-testid="admin-error">{error}</p>}
      {!error && !data && <p class="loading" data-testid="admin-loading">Loading…</p>}
      {data && (
        <>
          <section class="card">
            <h2>Users ({data.users.length})</h2>
            <UsersTable users={data.users} members={data.members} />
          </section>
          <section class="card">
            <h2>Usage</h2>
            <p class="hint">
              Every query counts for the person who ran it, and for the saved chart it ran from; most queries first.
            </p>
            <UsageTable members={data.members} charts={data.charts} />
          </section>
        </>
      )}
      <HowToAdd />
    </div>
  );
}
