//! The person map kept between queries: identity files are written once and never change, so
//! a query reads only the files written since the last one and rebuilds the map from the rows
//! kept (a live server writes a file for every batch with a login; rereading them all for every
//! chart would grow without end).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::execution::context::SessionContext;

use crate::error::Result;
use crate::identity::{Merge, PersonMap, UserId, identity_files, read_identity_rows};

/// The identity rows read so far and the map built from them.
#[derive(Debug, Default)]
struct Known {
    files: BTreeSet<String>,
    merges: Vec<Merge>,
    users: Vec<UserId>,
    map: Arc<PersonMap>,
}

/// A [`PersonMap`] cache for one data directory, shared by the queries of one engine.
#[derive(Debug, Default)]
pub(crate) struct PersonCache {
    known: Mutex<Arc<Known>>,
}

impl PersonCache {
    /// The person map of `data_dir` now, reading only identity files not read before (all of
    /// them again if a file read before is gone).
    pub(crate) async fn person_map(
        &self,
        ctx: &SessionContext,
        data_dir: &Path,
    ) -> Result<Arc<PersonMap>> {
        let files = identity_files(data_dir).await?;
        let known = Arc::clone(&self.known.lock().unwrap_or_else(PoisonError::into_inner));
        if known.files == files {
            return Ok(Arc::clone(&known.map));
        }
        let base = if known.files.is_subset(&files) {
            known
        } else {
            Arc::new(Known::default())
        };
        let new: Vec<&str> = files.difference(&base.files).map(String::as_str).collect();
        let (mut merges, mut users) = read_identity_rows(ctx, data_dir, &new).await?;
        merges.splice(0..0, base.merges.iter().copied());
        users.splice(0..0, base.users.iter().cloned());
        let map = Arc::new(PersonMap::build(
            merges.iter().copied(),
            users.iter().cloned(),
        ));
        let updated = Arc::new(Known {
            files,
            merges,
            users,
            map: Arc::clone(&map),
        });
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        // A concurrent query may have read more files meanwhile; keep the larger picture.
        if known.files.is_subset(&updated.files) {
            *known = updated;
        }
        Ok(map)
    }
}
