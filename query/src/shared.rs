//! [`Shared`]: a large value a query's functions read, compared by identity.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// A value shared by a query's user-defined functions (the identity merge map). A function's
/// parameters must be comparable and hashable, and formatting them must stay cheap, so the
/// value is compared and hashed by its address and formatted as that address: two queries
/// never share one.
pub(crate) struct Shared<T>(pub(crate) Arc<T>);

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared({:p})", Arc::as_ptr(&self.0))
    }
}

impl<T> PartialEq for Shared<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Eq for Shared<T> {}

impl<T> Hash for Shared<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_only_to_itself_and_its_clones() {
        let a = Shared(Arc::new(vec![1, 2]));
        let b = Shared(Arc::new(vec![1, 2]));
        assert_eq!(a, a.clone());
        assert_ne!(a, b);
        assert_eq!(a.len(), 2);
        assert!(format!("{a:?}").starts_with("Shared(0x"));
    }
}
