//! Persons at query time: stored `person_id`s with the merges learnt since applied.
//!
//! The loader stamps every event with a dense integer `person_id` and writes what it learns later
//! to the identity dataset (`sluice_schema::layout::identity`): an anonymous device's person
//! merging into a user's, and, with several log partitions, each partition's id for a user. This
//! module reads that dataset into a [`PersonMap`] (`id → canonical id`) and gives analyses the
//! expression they aggregate on ([`PersonMap::person_expr`]): the stored id itself when nothing
//! was merged, else `sluice_person(person_id)`, a lookup in the map. History is never rewritten.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::cast::{as_int64_array, as_string_array};
use datafusion::common::{Result as DfResult, ScalarValue};
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};
use datafusion::prelude::{ParquetReadOptions, coalesce};
use sluice_schema::layout::identity::{
    IDENTITY_DIR, KIND_COLUMN, KIND_MERGE, KIND_USER, MERGED_INTO_COLUMN, PERSON_ID_COLUMN,
    PROJECT_COLUMN, USER_ID_COLUMN,
};

use crate::error::{QueryError, Result};
use crate::property::column;
use crate::shared::Shared;

/// The column holding the loader's person id.
pub(crate) const PERSON_COLUMN: &str = "person_id";

/// Stored person id → the person it belongs to now (only ids that changed are present).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct PersonMap {
    canonical: HashMap<i64, i64>,
}

/// Longest chain of merges followed (merges point from anonymous persons to users, and users'
/// extra ids to their first one, so real chains have at most two links).
const MAX_CHAIN: usize = 16;

impl PersonMap {
    /// Builds the map from merges `(from, into)` and user ids `((project, user_id), id)`: each
    /// user's ids map to the smallest, then every id follows its merges to the end.
    pub(crate) fn build(
        merges: impl IntoIterator<Item = (i64, i64)>,
        users: impl IntoIterator<Item = ((String, String), i64)>,
    ) -> Self {
        let mut direct: HashMap<i64, i64> = merges.into_iter().collect();
        let mut ids_of_user: HashMap<(String, String), Vec<i64>> = HashMap::new();
        for (user, id) in users {
            ids_of_user.entry(user).or_default().push(id);
        }
        for ids in ids_of_user.values() {
            let Some(&first) = ids.iter().min() else {
                continue;
            };
            for &id in ids.iter().filter(|&&id| id != first) {
                direct.insert(id, first);
            }
        }
        let canonical = direct
            .keys()
            .map(|&id| {
                let mut to = id;
                for _ in 0..MAX_CHAIN {
                    match direct.get(&to) {
                        Some(&next) if next != to => to = next,
                        _ => break,
                    }
                }
                (id, to)
            })
            .filter(|(id, to)| id != to)
            .collect();
        PersonMap { canonical }
    }

    /// The person `id` belongs to.
    pub(crate) fn resolve(&self, id: i64) -> i64 {
        self.canonical.get(&id).copied().unwrap_or(id)
    }

    /// Number of ids that map elsewhere.
    pub(crate) fn len(&self) -> usize {
        self.canonical.len()
    }

    /// The expression analyses group persons by, for a table with `schema`: `person_id`
    /// (through the map when it holds merges). Data written before persons existed has no
    /// `person_id` column; it is counted by a 64-bit hash of `coalesce(user_id, device_id)`
    /// instead (no identity resolution; rows of such files in a dataset that also has newer
    /// files have a null `person_id` and are not counted).
    pub(crate) fn person_expr(self: &Arc<Self>, schema: &Schema) -> Expr {
        if schema.field_with_name(PERSON_COLUMN).is_err() || self.canonical.is_empty() {
            return Self::stored_person_expr(schema);
        }
        ScalarUDF::new_from_impl(ResolvePerson {
            map: Shared(Arc::clone(self)),
            signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
        })
        .call(vec![column(PERSON_COLUMN)])
    }
}

impl PersonMap {
    /// The person as stored, before merges: `person_id`, or for data written before persons
    /// existed the hash of `coalesce(user_id, device_id)` (see [`PersonMap::person_expr`]).
    pub(crate) fn stored_person_expr(schema: &Schema) -> Expr {
        if schema.field_with_name(PERSON_COLUMN).is_err() {
            let key = coalesce(vec![column("user_id"), column("device_id")]);
            return ScalarUDF::new_from_impl(HashPersonKey::new()).call(vec![key]);
        }
        column(PERSON_COLUMN)
    }
}

/// A merge: `(from, into)` person ids.
pub(crate) type Merge = (i64, i64);
/// A user's id in one log partition: `((project, user_id), person id)`.
pub(crate) type UserId = ((String, String), i64);

/// The identity files of `data_dir` (non-hidden `.parquet` names in `identity/`; files are
/// written under a hidden name and renamed, so a listed file is whole).
pub(crate) async fn identity_files(data_dir: &Path) -> Result<BTreeSet<String>> {
    let dir = data_dir.join(IDENTITY_DIR);
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(QueryError::io(&dir, e)),
    };
    let mut files = BTreeSet::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|e| QueryError::io(&dir, e))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".parquet") && !name.starts_with('.') {
            files.insert(name);
        }
    }
    Ok(files)
}

/// The merges and user ids in the identity files `names` of `data_dir`.
pub(crate) async fn read_identity_rows(
    ctx: &SessionContext,
    data_dir: &Path,
    names: &[&str],
) -> Result<(Vec<Merge>, Vec<UserId>)> {
    if names.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let dir = data_dir.join(IDENTITY_DIR);
    let paths = names
        .iter()
        .map(|name| {
            let path = dir.join(name);
            path.to_str().map(str::to_owned).ok_or_else(|| {
                QueryError::Internal(format!("{} is not valid UTF-8", path.display()))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let options = ParquetReadOptions::default().file_extension(".parquet");
    let batches = ctx.read_parquet(paths, options).await?.collect().await?;
    let mut merges = Vec::new();
    let mut users = Vec::new();
    for batch in &batches {
        let text = |name: &str| -> Result<_> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| QueryError::Internal(format!("identity files lack `{name}`")))?;
            // Parquet text reads as `Utf8View`.
            let text =
                cast(column, &DataType::Utf8).map_err(datafusion::error::DataFusionError::from)?;
            Ok(as_string_array(&text)?.clone())
        };
        let int = |name: &str| -> Result<Int64Array> {
            let column = batch
                .column_by_name(name)
                .ok_or_else(|| QueryError::Internal(format!("identity files lack `{name}`")))?;
            Ok(as_int64_array(column)?.clone())
        };
        let (kind, project, user_id) = (
            text(KIND_COLUMN)?,
            text(PROJECT_COLUMN)?,
            text(USER_ID_COLUMN)?,
        );
        let (person, merged_into) = (int(PERSON_ID_COLUMN)?, int(MERGED_INTO_COLUMN)?);
        for row in 0..batch.num_rows() {
            match kind.value(row) {
                KIND_MERGE if merged_into.is_valid(row) => {
                    merges.push((person.value(row), merged_into.value(row)));
                }
                KIND_USER if user_id.is_valid(row) => {
                    let user = (project.value(row).to_owned(), user_id.value(row).to_owned());
                    users.push((user, person.value(row)));
                }
                _ => {}
            }
        }
    }
    Ok((merges, users))
}

/// `sluice_person_key(text) -> Int64`: a person number for data without `person_id`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct HashPersonKey {
    signature: Signature,
}

impl HashPersonKey {
    fn new() -> Self {
        let types = [DataType::Utf8, DataType::Utf8View, DataType::LargeUtf8];
        let variants = types
            .into_iter()
            .map(|t| TypeSignature::Exact(vec![t]))
            .collect();
        HashPersonKey {
            signature: Signature::one_of(variants, Volatility::Immutable),
        }
    }
}

/// A fixed 64-bit hash of `key` (FNV-1a: the same in every process and version).
fn key_hash(key: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

impl ScalarUDFImpl for HashPersonKey {
    fn name(&self) -> &str {
        "sluice_person_key"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [key] = args.args.as_slice() else {
            return datafusion::common::exec_err!("sluice_person_key takes one argument");
        };
        let keys = key.to_array(args.number_rows)?;
        let keys = cast(&keys, &DataType::Utf8)?;
        let keys = as_string_array(&keys)?;
        let hashed: Int64Array = keys.iter().map(|k| k.map(key_hash)).collect();
        Ok(ColumnarValue::Array(Arc::new(hashed)))
    }
}

/// `sluice_person(person_id) -> Int64`: the person a stored id belongs to now.
#[derive(PartialEq, Eq, Hash)]
struct ResolvePerson {
    map: Shared<PersonMap>,
    signature: Signature,
}

impl fmt::Debug for ResolvePerson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResolvePerson({} merged ids)", self.map.len())
    }
}

impl ScalarUDFImpl for ResolvePerson {
    fn name(&self) -> &str {
        "sluice_person"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let [id] = args.args.as_slice() else {
            return datafusion::common::exec_err!("sluice_person takes one argument");
        };
        match id {
            ColumnarValue::Scalar(ScalarValue::Int64(id)) => Ok(ColumnarValue::Scalar(
                ScalarValue::Int64(id.map(|id| self.map.resolve(id))),
            )),
            ColumnarValue::Scalar(other) => {
                datafusion::common::exec_err!("sluice_person expects Int64, got {other:?}")
            }
            ColumnarValue::Array(array) => {
                let ids = as_int64_array(array)?;
                let resolved: Int64Array = ids.unary(|id| self.map.resolve(id));
                Ok(ColumnarValue::Array(Arc::new(resolved) as ArrayRef))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(project: &str, id: &str) -> (String, String) {
        (project.to_owned(), id.to_owned())
    }

    #[test]
    fn merges_follow_to_the_users_first_id() {
        let p1 = 1 << 40;
        // Anonymous 7 merged into the user's partition-1 id, whose partition-0 id is 3.
        let map = PersonMap::build(
            [(7, p1 + 2)],
            [(user("p", "u"), p1 + 2), (user("p", "u"), 3)],
        );
        assert_eq!(map.resolve(7), 3);
        assert_eq!(map.resolve(p1 + 2), 3);
        assert_eq!(map.resolve(3), 3);
        assert_eq!(map.resolve(99), 99);
    }

    #[test]
    fn legacy_keys_hash_stably() {
        assert_eq!(key_hash(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
        assert_ne!(key_hash("u1"), key_hash("u2"));
    }

    #[test]
    fn the_same_user_id_in_two_projects_is_two_persons() {
        let map = PersonMap::build([], [(user("a", "u"), 1), (user("b", "u"), 2)]);
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn a_merge_cycle_cannot_hang_the_build() {
        let map = PersonMap::build([(1, 2), (2, 1)], []);
        assert!(map.resolve(1) == 1 || map.resolve(1) == 2);
    }

    #[test]
    fn the_person_expression_depends_on_the_data() {
        use datafusion::arrow::datatypes::Field;
        let with = Schema::new(vec![Field::new(PERSON_COLUMN, DataType::Int64, true)]);
        let without = Schema::new(vec![Field::new("user_id", DataType::Utf8, true)]);
        let empty = Arc::new(PersonMap::default());
        assert_eq!(empty.person_expr(&with), column(PERSON_COLUMN));
        assert!(
            empty
                .person_expr(&without)
                .to_string()
                .contains("sluice_person_key")
        );
        let merged = Arc::new(PersonMap::build([(1, 2)], []));
        assert!(
            merged
                .person_expr(&with)
                .to_string()
                .contains("sluice_person")
        );
    }
}
