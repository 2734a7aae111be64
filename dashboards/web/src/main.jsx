// The app shell: who is logged in, the navigation, and which page the URL names.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get, post, setUnauthorizedHandler } from "./api.js";
import { navigate, useRoute } from "./router.js";
import { Session } from "./session.js";
import { Login } from "./pages/login.jsx";
import { BoardsPage } from "./pages/boards.jsx";
import { BuilderPage } from "./pages/builder.jsx";
import { TaxonomyPage } from "./pages/taxonomy.jsx";
import { CohortsPage } from "./pages/cohorts.jsx";
import { AdminPage } from "./pages/admin.jsx";
import "./style.css";

const NAV = [
  { path: "/boards", label: "Dashboards", match: ["boards", ""] },
  { path: "/chart", label: "New chart", match: ["chart", "charts"] },
  { path: "/cohorts", label: "Cohorts", match: ["cohorts"] },
  { path: "/taxonomy", label: "Data", match: ["taxonomy"] },
  { path: "/admin", label: "Admin", match: ["admin"], role: "admin" },
];

function Page({ route }) {
  const [first = ""] = route.parts;
  switch (first) {
    case "":
    case "boards":
      return <BoardsPage route={route} />;
    case "chart":
    case "charts":
      return <BuilderPage route={route} />;
    case "taxonomy":
      return <TaxonomyPage route={route} />;
    case "cohorts":
      return <CohortsPage route={route} />;
    case "admin":
      return <AdminPage route={route} />;
    default:
      return <p class="error">No page at {route.path}.</p>;
  }
}

function App() {
  const route = useRoute();
  const [me, setMe] = useState(undefined);
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => {
    setUnauthorizedHandler(() => setMe(null));
    get("/me").then(setMe, () => setMe(null));
  }, []);
  useEffect(() => setMenuOpen(false), [route.path]);
  if (me === undefined) return <p class="loading">Loading…</p>;
  if (me === null) return <Login onLogin={setMe} />;
  const logout = async () => {
    await post("/logout", {}).catch(() => {});
    setMe(null);
    navigate("/");
  };
  const [first = ""] = route.parts;
  return (
    <Session.Provider value={me}>
      <header class="top">
        <a class="brand" href="#/boards">Sluice</a>
        <button class="menu-toggle" aria-label="Menu" onClick={() => setMenuOpen(!menuOpen)}>☰</button>
        <nav class={menuOpen ? "open" : ""}>
          {NAV.filter((n) => !n.role || n.role === me.role).map((n) => (
            <a href={`#${n.path}`} class={n.match.includes(first) ? "active" : ""}>{n.label}</a>
          ))}
          <span class="who" title={`signed in via ${me.via}`}>
            {me.name} <small>({me.role})</small>
          </span>
          {me.via === "session" && <button class="link" onClick={logout}>Log out</button>}
        </nav>
      </header>
      <main>
        <Page route={route} />
      </main>
    </Session.Provider>
  );
}

render(<App />, document.getElementById("app"));
