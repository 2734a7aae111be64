//! Saved cohorts as conditions: `{"kind": "cohort", "property": "<name>", "op": "is"}` in any
//! `where` list or segment keeps the events of the cohort's members (`is_not`: of everyone else),
//! by its latest computation.
//!
//! A spec is validated before anything is read, so a condition cannot hold the members yet: it
//! holds a [`CohortCell`], which the engine fills once it has read the cohort's latest members and
//! the person map (`QueryEngine`). Validation runs inside [`collecting`], which hands the engine
//! every cell the spec's conditions created. The condition's expression is
//! `sluice_in_cohort(person)`, reading the cell: the stored person id, resolved through the
//! merges, is a member or not.

use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::cast::as_int64_array;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use roaring::RoaringTreemap;

use crate::identity::PersonMap;

thread_local! {
    /// The cells created by the validation running on this thread inside [`collecting`].
    static COLLECTED: RefCell<Option<Vec<Arc<CohortCell>>>> = const { RefCell::new(None) };
}

/// Runs `validate` and returns, with its answer, the cohort cells it created.
pub(crate) fn collecting<T>(validate: impl FnOnce() -> T) -> (T, Vec<Arc<CohortCell>>) {
    let outer = COLLECTED.with(|c| c.borrow_mut().replace(Vec::new()));
    let answer = validate();
    let cells = COLLECTED.with(|c| std::mem::replace(&mut *c.borrow_mut(), outer));
    (answer, cells.unwrap_or_default())
}

/// A condition's saved cohort: its name, then (once the engine read them) its members.
#[derive(Debug)]
pub(crate) struct CohortCell {
    pub(crate) name: String,
    loaded: OnceLock<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    members: RoaringTreemap,
    persons: Arc<PersonMap>,
}

impl CohortCell {
    /// A cell for the cohort `name`, handed to the enclosing [`collecting`].
    pub(crate) fn new(name: &str) -> Arc<Self> {
        let cell = Arc::new(CohortCell {
            name: name.to_owned(),
            loaded: OnceLock::new(),
        });
        COLLECTED.with(|c| {
            if let Some(cells) = c.borrow_mut().as_mut() {
                cells.push(Arc::clone(&cell));
            }
        });
        cell
    }

    /// Gives the cell its members and the person map their ids are resolved with (the first
    /// fill wins: one query reads one computation).
    pub(crate) fn fill(&self, members: RoaringTreemap, persons: Arc<PersonMap>) {
        let _ = self.loaded.set(Loaded { members, persons });
    }

    /// Whether the stored person `id` is a member.
    fn contains(&self, id: i64) -> Option<bool> {
        let loaded = self.loaded.get()?;
        Some(loaded.members.contains(loaded.persons.resolve(id) as u64))
    }

    /// Whether `person` (already resolved through the merges) is a member; `None` before the
    /// cell is filled.
    pub(crate) fn has_person(&self, person: i64) -> Option<bool> {
        Some(self.loaded.get()?.members.contains(person as u64))
    }
}

impl PartialEq for CohortCell {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for CohortCell {}

impl Hash for CohortCell {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

/// The condition "the event's person is (`negate`: is not) a member of `cell`'s cohort", for
/// rows of a table with `schema`.
pub(crate) fn in_cohort(cell: &Arc<CohortCell>, negate: bool, schema: &Schema) -> Expr {
    ScalarUDF::new_from_impl(InCohort {
        cell: Arc::clone(cell),
        negate,
        signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
    })
    .call(vec![PersonMap::stored_person_expr(schema)])
}

/// `sluice_in_cohort(person) -> Boolean`, never null.
#[derive(Debug, PartialEq, Eq, Hash)]
struct InCohort {
    cell: Arc<CohortCell>,
    negate: bool,
    signature: Signature,
}

impl InCohort {
    fn test(&self, id: Option<i64>) -> Result<bool> {
        let member = match id {
            Some(id) => match self.cell.contains(id) {
                Some(member) => member,
                None => return exec_err!("cohort {:?} was not loaded", self.cell.name),
            },
            None => false,
        };
        Ok(member != self.negate)
    }
}

impl ScalarUDFImpl for InCohort {
    fn name(&self) -> &str {
        "sluice_in_cohort"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [person] = args.args.as_slice() else {
            return exec_err!("sluice_in_cohort takes one argument");
        };
        match person {
            ColumnarValue::Scalar(ScalarValue::Int64(id)) => Ok(ColumnarValue::Scalar(
                ScalarValue::Boolean(Some(self.test(*id)?)),
            )),
            ColumnarValue::Scalar(other) => {
                exec_err!("sluice_in_cohort expects Int64, got {other:?}")
            }
            ColumnarValue::Array(array) => {
                let tested: BooleanArray = as_int64_array(array)?
                    .iter()
                    .map(|id| self.test(id).map(Some))
                    .collect::<Result<_>>()?;
                Ok(ColumnarValue::Array(Arc::new(tested) as ArrayRef))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_made_while_collecting_are_handed_over_and_nested_calls_keep_theirs() {
        let (_, outer) = collecting(|| {
            CohortCell::new("a");
            let (_, inner) = collecting(|| CohortCell::new("b"));
            assert_eq!(inner.len(), 1);
            CohortCell::new("c");
        });
        let names: Vec<&str> = outer.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
        // Outside, nothing is collected.
        CohortCell::new("d");
        assert!(collecting(|| ()).1.is_empty());
    }

    #[test]
    fn membership_resolves_merged_ids_and_an_unloaded_cell_is_an_error() {
        let cell = CohortCell::new("c");
        let udf = InCohort {
            cell: Arc::clone(&cell),
            negate: false,
            signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
        };
        assert!(udf.test(Some(1)).is_err());
        // Person 7 merged into 3; 3 is a member.
        let persons = Arc::new(PersonMap::build([(7, 3)], std::iter::empty()));
        cell.fill([3u64].into_iter().collect(), persons);
        assert!(udf.test(Some(7)).unwrap());
        assert!(udf.test(Some(3)).unwrap());
        assert!(!udf.test(Some(4)).unwrap());
        assert!(!udf.test(None).unwrap());
        let outside = InCohort {
            negate: true,
            ..udf
        };
        assert!(outside.test(Some(4)).unwrap());
    }
}
