//! [`Latest`]: the most recent value of something the simulation computes (a risk layer,
//! today's disruption), shared with whoever serves it. The simulation thread replaces it;
//! readers take an `Arc` of it without blocking the writer for longer than a pointer swap.

use std::sync::{Arc, RwLock};

/// The latest value of `T`, or nothing before the first one; cheap to clone (one shared slot).
#[derive(Debug)]
pub struct Latest<T>(Arc<RwLock<Option<Arc<T>>>>);

impl<T> Clone for Latest<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Default for Latest<T> {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(None)))
    }
}

impl<T> Latest<T> {
    /// Replaces the value.
    pub fn set(&self, value: impl Into<Arc<T>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(value.into());
    }

    /// The value, or `None` before the first [`Latest::set`].
    pub fn get(&self) -> Option<Arc<T>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clone_sees_the_value_set_through_another_clone() {
        let a: Latest<i32> = Latest::default();
        let b = a.clone();
        assert_eq!(b.get(), None);
        a.set(7);
        assert_eq!(b.get().as_deref(), Some(&7));
        b.set(8);
        assert_eq!(a.get().as_deref(), Some(&8));
    }
}
