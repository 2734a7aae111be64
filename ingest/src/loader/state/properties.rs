//! User and group property state, and the stamping of events with it.
//!
//! Events are processed in log order (arrival order). For each event:
//! 1. a user who appears for the first time with a `user_id` on a device that already has
//!    anonymous properties inherits them (the anonymous device becomes that user, as in Amplitude);
//! 2. its `user_properties` (operations, or plain values meaning `$set`) update the user, unless
//!    `$skip_user_properties_sync`; an `$identify` with `groups` (`setGroup`) records the user's
//!    group memberships; a `$groupidentify` updates each named group's properties;
//! 3. it is stamped with the result: `user_properties` = the user's whole state, `groups` = the
//!    user's memberships overlaid with the event's own, `group_properties` =
//!    `{group type: {group value: properties}}` for every group it belongs to.
//!
//! Users are keyed by `user_id`, or by `device_id` while anonymous. Identity merging beyond the
//! first login (a device shared by several users) is the query layer's job.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};
use sluice_schema::operations::apply_operations;
use sluice_schema::{EventRow, Properties, PropertiesRef};

/// Which state an entry belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub(crate) enum Table {
    /// A user's (or anonymous device's) properties.
    User,
    /// A user's group memberships (`{group type: value}`).
    Memberships,
    /// A group's properties.
    Group,
}

/// Property state of every user and group. Entries are shared with the events stamped with them
/// (a user's properties are stamped on each of its events); an update copies an entry only while
/// events of the batch still hold it.
#[derive(Default)]
pub(crate) struct PropertyStore {
    /// One map per [`Table`] (looked up by `&str`: no key is copied to read an entry).
    tables: [HashMap<String, Arc<Properties>>; 3],
}

impl Table {
    const ALL: [Table; 3] = [Table::User, Table::Memberships, Table::Group];

    fn index(self) -> usize {
        match self {
            Table::User => 0,
            Table::Memberships => 1,
            Table::Group => 2,
        }
    }
}

/// The entries a batch changed, to be journaled.
pub(crate) type Changed = BTreeSet<(Table, String)>;

fn user_key(project: &str, user_id: &str) -> String {
    format!("{project}\u{0}u\u{0}{user_id}")
}

fn device_key(project: &str, device_id: &str) -> String {
    format!("{project}\u{0}d\u{0}{device_id}")
}

fn group_key(project: &str, group_type: &str, value: &str) -> String {
    format!("{project}\u{0}{group_type}\u{0}{value}")
}

/// The values of one group type on an event (`"acme"` or `["acme", "globex"]`), as text.
fn group_values(value: &Value) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match value {
        Value::Array(values) => values.iter().map(text).collect(),
        Value::Null => Vec::new(),
        other => vec![text(other)],
    }
}

impl PropertyStore {
    /// Restores one entry from the journal (`None` deletes it).
    pub(crate) fn restore(&mut self, table: Table, key: String, value: Option<Properties>) {
        match value {
            Some(props) => {
                self.table(table).insert(key, Arc::new(props));
            }
            None => {
                self.table(table).remove(&key);
            }
        }
    }

    /// The current value of an entry.
    pub(crate) fn get(&self, table: Table, key: &str) -> Option<&Properties> {
        self.tables[table.index()].get(key).map(|p| &**p)
    }

    /// Every entry.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (Table, &String, &Properties)> {
        Table::ALL.into_iter().flat_map(move |table| {
            self.tables[table.index()]
                .iter()
                .map(move |(key, props)| (table, key, &**props))
        })
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.tables.iter().map(HashMap::len).sum()
    }

    fn table(&mut self, table: Table) -> &mut HashMap<String, Arc<Properties>> {
        &mut self.tables[table.index()]
    }

    /// Updates the state from `event` and stamps it (see the module docs).
    pub(crate) fn process(&mut self, event: &mut EventRow<'_>, changed: &mut Changed) {
        let key = self.user_entry(event, changed);
        if !event.user_properties.is_empty() && !event.skip_user_properties_sync {
            let state = self.table(Table::User).entry(key.clone()).or_default();
            if apply_operations(Arc::make_mut(state), &event.user_properties) {
                changed.insert((Table::User, key.clone()));
            }
        }
        if &*event.event_type == "$identify" && !event.groups.is_empty() {
            let memberships = Arc::make_mut(
                self.table(Table::Memberships)
                    .entry(key.clone())
                    .or_default(),
            );
            let before = memberships.clone();
            memberships.extend(event.groups.iter().map(|(k, v)| (k.clone(), v.clone())));
            if *memberships != before {
                changed.insert((Table::Memberships, key.clone()));
            }
        }
        if &*event.event_type == "$groupidentify" && !event.group_properties.is_empty() {
            for (group_type, value) in event.groups.iter() {
                for value in group_values(value) {
                    let gkey = group_key(&event.project, group_type, &value);
                    let state = self.table(Table::Group).entry(gkey.clone()).or_default();
                    if apply_operations(Arc::make_mut(state), &event.group_properties) {
                        changed.insert((Table::Group, gkey));
                    }
                }
            }
        }
        self.stamp(event, &key);
    }

    /// The user entry of an event, carrying anonymous properties over on first login.
    fn user_entry(&mut self, event: &EventRow<'_>, changed: &mut Changed) -> String {
        let Some(user_id) = &event.user_id else {
            return device_key(&event.project, &event.device_id);
        };
        let key = user_key(&event.project, user_id);
        for table in [Table::User, Table::Memberships] {
            if self.tables[table.index()].contains_key(&key) {
                continue;
            }
            let device = device_key(&event.project, &event.device_id);
            if let Some(anonymous) = self.tables[table.index()].get(&device).cloned() {
                self.table(table).insert(key.clone(), anonymous);
                changed.insert((table, key.clone()));
            }
        }
        key
    }

    fn stamp(&self, event: &mut EventRow<'_>, key: &str) {
        event.user_properties = match self.tables[Table::User.index()].get(key) {
            Some(props) => PropertiesRef::Shared(Arc::clone(props)),
            None => PropertiesRef::default(),
        };
        if let Some(memberships) = self.tables[Table::Memberships.index()].get(key) {
            let mut groups = Properties::clone(memberships);
            groups.extend(event.groups.iter().map(|(k, v)| (k.clone(), v.clone())));
            event.groups = PropertiesRef::Owned(groups);
        }
        let mut group_properties = Map::new();
        for (group_type, value) in event.groups.iter() {
            let mut by_value = Map::new();
            for value in group_values(value) {
                let gkey = group_key(&event.project, group_type, &value);
                if let Some(props) = self.tables[Table::Group.index()].get(&gkey) {
                    by_value.insert(value, Value::Object(Properties::clone(props)));
                }
            }
            if !by_value.is_empty() {
                group_properties.insert(group_type.clone(), Value::Object(by_value));
            }
        }
        event.group_properties = PropertiesRef::Owned(group_properties);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sluice_schema::Event;

    use super::*;
    use crate::loader::state::row;

    fn props(value: Value) -> Properties {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    fn event(
        event_type: &str,
        user: Option<&str>,
        device: &str,
        user_props: Value,
    ) -> EventRow<'static> {
        row(&Event {
            project: "shop".into(),
            event_type: event_type.into(),
            user_id: user.map(str::to_owned),
            device_id: device.into(),
            user_properties: props(user_props),
            ..Event::default()
        })
    }

    fn run<'r>(store: &mut PropertyStore, mut e: EventRow<'r>) -> EventRow<'r> {
        let mut changed = Changed::new();
        store.process(&mut e, &mut changed);
        e
    }

    #[test]
    fn events_carry_the_state_as_it_was_when_they_arrived() {
        let mut store = PropertyStore::default();
        let first = run(&mut store, event("View", Some("u1"), "d1", json!({})));
        assert!(first.user_properties.is_empty());
        run(
            &mut store,
            event(
                "$identify",
                Some("u1"),
                "d1",
                json!({"$set": {"plan": "pro"}, "$add": {"n": 2}}),
            ),
        );
        let later = run(&mut store, event("View", Some("u1"), "d2", json!({})));
        assert_eq!(
            Value::Object(later.user_properties.clone().into_owned()),
            json!({"plan": "pro", "n": 2})
        );
        run(
            &mut store,
            event(
                "$identify",
                Some("u1"),
                "d1",
                json!({"$set": {"plan": "free"}}),
            ),
        );
        let last = run(&mut store, event("View", Some("u1"), "d1", json!({})));
        assert_eq!(last.user_properties["plan"], "free");
        // The earlier event was stamped with "pro" and keeps it.
        assert_eq!(later.user_properties["plan"], "pro");
    }

    #[test]
    fn anonymous_properties_follow_the_device_into_the_first_login() {
        let mut store = PropertyStore::default();
        run(
            &mut store,
            event("$identify", None, "d1", json!({"$set": {"source": "ad"}})),
        );
        let anon = run(&mut store, event("View", None, "d1", json!({})));
        assert_eq!(anon.user_properties["source"], "ad");
        let login = run(
            &mut store,
            event("Login", Some("u1"), "d1", json!({"plan": "pro"})),
        );
        assert_eq!(
            Value::Object(login.user_properties.into_owned()),
            json!({"source": "ad", "plan": "pro"})
        );
        // Another user on the same device does not inherit, once the first one exists.
        let mut changed = Changed::new();
        let mut other = event("Login", Some("u1"), "d9", json!({}));
        store.process(&mut other, &mut changed);
        assert!(changed.is_empty());
    }

    #[test]
    fn skip_sync_leaves_the_user_unchanged() {
        let mut store = PropertyStore::default();
        let mut e = event("View", Some("u1"), "d1", json!({"plan": "pro"}));
        e.skip_user_properties_sync = true;
        let stamped = run(&mut store, e);
        assert!(stamped.user_properties.is_empty());
    }

    #[test]
    fn groups_memberships_and_group_properties() {
        let mut store = PropertyStore::default();
        let mut set_group = event(
            "$identify",
            Some("u1"),
            "d1",
            json!({"$set": {"org": "acme"}}),
        );
        set_group.groups = PropertiesRef::Owned(props(json!({"org": "acme"})));
        run(&mut store, set_group);
        let mut identify_group = event("$groupidentify", Some("u1"), "d1", json!({}));
        identify_group.groups = PropertiesRef::Owned(props(json!({"org": "acme"})));
        identify_group.group_properties =
            PropertiesRef::Owned(props(json!({"$set": {"tier": "gold"}})));
        run(&mut store, identify_group);
        let view = run(&mut store, event("View", Some("u1"), "d1", json!({})));
        assert_eq!(
            Value::Object(view.groups.into_owned()),
            json!({"org": "acme"})
        );
        assert_eq!(
            Value::Object(view.group_properties.into_owned()),
            json!({"org": {"acme": {"tier": "gold"}}})
        );
        // An event's own groups overlay the memberships.
        let mut other = event("View", Some("u1"), "d1", json!({}));
        other.groups = PropertiesRef::Owned(props(json!({"org": ["acme", "globex"], "team": "x"})));
        let other = run(&mut store, other);
        assert_eq!(
            Value::Object(other.groups.into_owned()),
            json!({"org": ["acme", "globex"], "team": "x"})
        );
        assert_eq!(
            Value::Object(other.group_properties.into_owned()),
            json!({"org": {"acme": {"tier": "gold"}}})
        );
    }
}
