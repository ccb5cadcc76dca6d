//! Work in flight by key, done once however many ask for it at the same time: a thousand
//! pods of one new image pull and unpack (or compile) it once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::runtime::NotStarted;

/// Work in flight by key (a fetch and compile, a pull): every caller that asks while it
/// runs awaits the same cell and gets its result.
pub struct SingleFlight<T> {
    cells: Mutex<HashMap<String, Cell<T>>>,
}

/// One piece of work's result, once it has one.
type Cell<T> = Arc<OnceCell<Result<T, NotStarted>>>;

impl<T> Default for SingleFlight<T> {
    fn default() -> Self {
        SingleFlight {
            cells: Mutex::default(),
        }
    }
}

impl<T: Clone> SingleFlight<T> {
    pub async fn run(
        &self,
        key: &str,
        work: impl Future<Output = Result<T, NotStarted>>,
    ) -> Result<T, NotStarted> {
        let cell = self
            .cells
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .clone();
        let result = cell.get_or_init(|| work).await.clone();
        // Done (or failed: the next caller tries again): later callers find the result
        // in the cache.
        self.cells
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        result
    }
}
