//! Saved charts and dashboards (boards), one JSON file each under `<data>/charts/<id>.json` and
//! `<data>/boards/<id>.json`, replaced atomically. A chart is a query spec with a name and how it
//! is shown; a board is an ordered layout of charts with an optional date range that overrides
//! the charts' own (the UI puts it into each spec before running it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_query::clock::now_ms;
use sluice_query::durable_file::write_atomically;
use sluice_query::spec::DateRange;
use sluice_query::{QueryEngine, QuerySpec};

/// Longest name or description.
const MAX_TEXT: usize = 2_000;
/// Most charts on one board.
const MAX_BOARD_CHARTS: usize = 50;

/// A saved chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// Its id (given by the store).
    #[serde(default)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it shows and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who looks after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The query it runs.
    pub spec: QuerySpec,
    /// How the UI shows it (chart type, table or chart, …): kept as given.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub view: Value,
    /// When it was first saved, Unix ms (given by the store).
    #[serde(default)]
    pub created_ms: i64,
    /// When it was last saved, Unix ms (given by the store).
    #[serde(default)]
    pub updated_ms: i64,
}

/// A dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Its id (given by the store).
    #[serde(default)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Who looks after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The days every chart shows, instead of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_range: Option<DateRange>,
    /// Its charts, in order.
    #[serde(default)]
    pub charts: Vec<Tile>,
    /// When it was first saved, Unix ms (given by the store).
    #[serde(default)]
    pub created_ms: i64,
    /// When it was last saved, Unix ms (given by the store).
    #[serde(default)]
    pub updated_ms: i64,
}

/// One chart on a board, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tile {
    /// The saved chart.
    pub chart_id: String,
    /// Its width in grid columns (1 to 12; 6 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u8>,
}

/// What can go wrong with saved charts and boards.
#[derive(Debug, thiserror::Error)]
pub enum SavedError {
    /// The request is wrong; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// Nothing has that id.
    #[error("no {kind} has the id {id:?}")]
    NotFound {
        /// `chart` or `board`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// A chart still on boards cannot be deleted.
    #[error("chart {id:?} is on board(s) {boards:?}: take it off them first")]
    InUse {
        /// The chart.
        id: String,
        /// The boards showing it.
        boards: Vec<String>,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The saved charts and boards of one data directory.
#[derive(Debug, Clone)]
pub struct SavedStore {
    data_dir: PathBuf,
}

/// Which kind of file.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Chart,
    Board,
}

impl Kind {
    fn folder(self) -> &'static str {
        match self {
            Kind::Chart => "charts",
            Kind::Board => "boards",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Chart => "chart",
            Kind::Board => "board",
        }
    }
}

impl SavedStore {
    /// The store of `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        SavedStore {
            data_dir: data_dir.to_owned(),
        }
    }

    fn path(&self, kind: Kind, id: &str) -> Result<PathBuf, SavedError> {
        let valid = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(SavedError::NotFound {
                kind: kind.name(),
                id: id.to_owned(),
            });
        }
        Ok(self.data_dir.join(kind.folder()).join(format!("{id}.json")))
    }

    fn read<T: serde::de::DeserializeOwned>(&self, kind: Kind, id: &str) -> Result<T, SavedError> {
        let path = self.path(kind, id)?;
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(SavedError::NotFound {
                    kind: kind.name(),
                    id: id.to_owned(),
                });
            }
            Err(source) => return Err(SavedError::Io { path, source }),
        };
        serde_json::from_slice(&text).map_err(|e| SavedError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    fn write<T: Serialize>(&self, kind: Kind, id: &str, value: &T) -> Result<(), SavedError> {
        let path = self.path(kind, id)?;
        let io = |source| SavedError::Io {
            path: path.clone(),
            source,
        };
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(io)?;
        }
        let text = serde_json::to_vec_pretty(value)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        write_atomically(&path, &text).map_err(io)
    }

    fn ids(&self, kind: Kind) -> Result<Vec<String>, SavedError> {
        let folder = self.data_dir.join(kind.folder());
        let entries = match std::fs::read_dir(&folder) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SavedError::Io {
                    path: folder,
                    source,
                });
            }
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_owned();
                name.strip_suffix(".json").map(str::to_owned)
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    fn delete(&self, kind: Kind, id: &str) -> Result<(), SavedError> {
        let path = self.path(kind, id)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(SavedError::NotFound {
                kind: kind.name(),
                id: id.to_owned(),
            }),
            Err(source) => Err(SavedError::Io { path, source }),
        }
    }

    /// Saves `chart`: a new one (no id) gets an id; an existing one keeps its creation time.
    /// Its spec must be valid.
    pub fn save_chart(&self, mut chart: Chart) -> Result<Chart, SavedError> {
        check_text(&chart.name, chart.description.as_deref())?;
        QueryEngine::check_spec(&chart.spec)
            .map_err(|e| SavedError::Invalid(format!("spec: {e}")))?;
        let now = now_ms();
        chart.created_ms = self.created(Kind::Chart, &mut chart.id, now)?;
        chart.updated_ms = now;
        self.write(Kind::Chart, &chart.id.clone(), &chart)?;
        Ok(chart)
    }

    /// The chart `id`.
    pub fn chart(&self, id: &str) -> Result<Chart, SavedError> {
        self.read(Kind::Chart, id)
    }

    /// Every chart, by id.
    pub fn charts(&self) -> Result<Vec<Chart>, SavedError> {
        self.ids(Kind::Chart)?
            .iter()
            .map(|id| self.chart(id))
            .collect()
    }

    /// Deletes the chart `id`, unless a board shows it.
    pub fn delete_chart(&self, id: &str) -> Result<(), SavedError> {
        self.chart(id)?;
        let boards: Vec<String> = self
            .boards()?
            .into_iter()
            .filter(|b| b.charts.iter().any(|t| t.chart_id == id))
            .map(|b| b.id)
            .collect();
        if !boards.is_empty() {
            return Err(SavedError::InUse {
                id: id.to_owned(),
                boards,
            });
        }
        self.delete(Kind::Chart, id)
    }

    /// Saves `board`: every chart on it must exist, and appear once.
    pub fn save_board(&self, mut board: Board) -> Result<Board, SavedError> {
        check_text(&board.name, board.description.as_deref())?;
        if board.charts.len() > MAX_BOARD_CHARTS {
            return Err(SavedError::Invalid(format!(
                "charts: at most {MAX_BOARD_CHARTS} on a board"
            )));
        }
        let mut seen = BTreeSet::new();
        for (i, tile) in board.charts.iter().enumerate() {
            if !seen.insert(tile.chart_id.as_str()) {
                return Err(SavedError::Invalid(format!(
                    "charts[{i}]: chart {:?} is on the board already",
                    tile.chart_id
                )));
            }
            if tile.width.is_some_and(|w| !(1..=12).contains(&w)) {
                return Err(SavedError::Invalid(format!("charts[{i}].width: 1 to 12")));
            }
            if let Err(e) = self.chart(&tile.chart_id) {
                return Err(SavedError::Invalid(format!("charts[{i}]: {e}")));
            }
        }
        if let Some(range) = &board.date_range
            && let Err(e) = range.check()
        {
            return Err(SavedError::Invalid(e.to_string())); // its message names date_range
        }
        let now = now_ms();
        board.created_ms = self.created(Kind::Board, &mut board.id, now)?;
        board.updated_ms = now;
        self.write(Kind::Board, &board.id.clone(), &board)?;
        Ok(board)
    }

    /// The board `id`.
    pub fn board(&self, id: &str) -> Result<Board, SavedError> {
        self.read(Kind::Board, id)
    }

    /// Every board, by id.
    pub fn boards(&self) -> Result<Vec<Board>, SavedError> {
        self.ids(Kind::Board)?
            .iter()
            .map(|id| self.board(id))
            .collect()
    }

    /// Deletes the board `id` (its charts stay).
    pub fn delete_board(&self, id: &str) -> Result<(), SavedError> {
        self.delete(Kind::Board, id)
    }

    /// The creation time of the `kind` saved as `id`: its own when it exists; `now` for a new
    /// one, which gets a fresh id when it has none.
    fn created(&self, kind: Kind, id: &mut String, now: i64) -> Result<i64, SavedError> {
        if id.is_empty() {
            *id = fresh_id(kind);
            return Ok(now);
        }
        let existing: Result<Value, SavedError> = self.read(kind, id);
        match existing {
            Ok(value) => Ok(value["created_ms"].as_i64().unwrap_or(now)),
            Err(SavedError::NotFound { .. }) => {
                // A new id chosen by the caller: it must be a valid one.
                self.path(kind, id)?;
                Ok(now)
            }
            Err(e) => Err(e),
        }
    }
}

fn check_text(name: &str, description: Option<&str>) -> Result<(), SavedError> {
    if name.trim().is_empty() {
        return Err(SavedError::Invalid("name: give a name".to_owned()));
    }
    if name.len() > MAX_TEXT || description.is_some_and(|d| d.len() > MAX_TEXT) {
        return Err(SavedError::Invalid(format!(
            "name and description: at most {MAX_TEXT} bytes"
        )));
    }
    Ok(())
}

/// `c-` or `b-` and 12 random base-36 characters.
fn fresh_id(kind: Kind) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let prefix = match kind {
        Kind::Chart => "c-",
        Kind::Board => "b-",
    };
    let tail: String = (0..12)
        .map(|_| DIGITS[rand::random_range(0..DIGITS.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(name: &str) -> Chart {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "spec": {"version": 1, "analysis": "segmentation", "date_range": {"last_days": 7},
                     "events": [{"event_type": "_all"}]},
            "view": {"type": "line"}
        }))
        .unwrap()
    }

    #[test]
    fn charts_and_boards_are_saved_listed_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = SavedStore::new(dir.path());
        let saved = store.save_chart(chart("Daily actives")).unwrap();
        assert!(
            saved.id.starts_with("c-") && saved.id.len() == 14,
            "{}",
            saved.id
        );
        assert_eq!(store.chart(&saved.id).unwrap(), saved);
        let board: Board = serde_json::from_value(serde_json::json!({
            "name": "Key metrics", "date_range": {"last_days": 14},
            "charts": [{"chart_id": saved.id, "width": 12}]}))
        .unwrap();
        let board = store.save_board(board).unwrap();
        assert_eq!(store.boards().unwrap(), vec![board.clone()]);

        // Saving again keeps the id and the creation time.
        let mut renamed = saved.clone();
        renamed.name = "Daily active people".to_owned();
        let renamed = store.save_chart(renamed).unwrap();
        assert_eq!(
            (renamed.id.as_str(), renamed.created_ms),
            (saved.id.as_str(), saved.created_ms)
        );

        // A chart on a board is not deleted; the board first.
        let error = store.delete_chart(&saved.id).unwrap_err();
        assert!(matches!(error, SavedError::InUse { .. }), "{error}");
        store.delete_board(&board.id).unwrap();
        store.delete_chart(&saved.id).unwrap();
        assert!(store.charts().unwrap().is_empty());
    }

    #[test]
    fn bad_charts_and_boards_say_what_to_fix() {
        let dir = tempfile::tempdir().unwrap();
        let store = SavedStore::new(dir.path());
        let mut bad = chart("x");
        bad.spec = serde_json::from_value(serde_json::json!({"version": 1,
            "analysis": "segmentation", "date_range": {"last_days": 7}, "events": []}))
        .unwrap();
        let error = store.save_chart(bad).unwrap_err().to_string();
        assert!(error.starts_with("spec: "), "{error}");
        let board: Board = serde_json::from_value(serde_json::json!({
            "name": "B", "charts": [{"chart_id": "c-missing"}]}))
        .unwrap();
        let error = store.save_board(board).unwrap_err().to_string();
        assert!(
            error.contains("charts[0]") && error.contains("c-missing"),
            "{error}"
        );
        let error = store.save_chart(chart("  ")).unwrap_err().to_string();
        assert!(error.contains("name"), "{error}");
        for (range, says) in [
            (
                serde_json::json!({"from": "2026-12-10", "to": "2026-12-05"}),
                "after",
            ),
            (serde_json::json!({}), "date_range"),
            (serde_json::json!({"last_days": 0}), "date_range"),
        ] {
            let board: Board = serde_json::from_value(
                serde_json::json!({"name": "B", "charts": [], "date_range": range}),
            )
            .unwrap();
            let error = store.save_board(board).unwrap_err().to_string();
            assert!(
                error.starts_with("date_range") && error.contains(says),
                "{range}: {error}"
            );
        }
        let mut odd = chart("x");
        odd.id = "../escape".to_owned();
        assert!(store.save_chart(odd).is_err());
    }
}
