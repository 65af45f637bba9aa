//! A map whose values are computed at most once: callers asking for a key
//! in flight wait for the same computation, and finished values stay
//! (without the machinery of a shared future) for the rest of the run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};

enum Slot<V> {
    Pending(Shared<BoxFuture<'static, V>>),
    Done(V),
}

/// A value that is ready, or will be.
#[derive(Clone)]
pub enum Ticket<V: Clone> {
    /// Computed already.
    Ready(V),
    /// In flight; awaiting it gives the value.
    Pending(Shared<BoxFuture<'static, V>>),
}

impl<V: Clone> Ticket<V> {
    /// The value, once computed.
    pub async fn wait(self) -> V {
        match self {
            Ticket::Ready(v) => v,
            Ticket::Pending(p) => p.await,
        }
    }
}

/// Keys to values computed once each.
pub struct OnceMap<V> {
    slots: Mutex<HashMap<Box<str>, Slot<V>>>,
}

impl<V> Default for OnceMap<V> {
    fn default() -> Self {
        OnceMap {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> OnceMap<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Slot<V>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ticket for `key`, if it was started.
    pub fn get(&self, key: &str) -> Option<Ticket<V>> {
        self.lock().get(key).map(|slot| match slot {
            Slot::Pending(p) => Ticket::Pending(p.clone()),
            Slot::Done(v) => Ticket::Ready(v.clone()),
        })
    }

    /// The ticket for `key`, starting `compute` when it was not started
    /// (the future runs when the ticket is first awaited, unless `compute`
    /// spawns it). The boolean says whether this call started it.
    pub fn get_or_start(
        self: &Arc<Self>,
        key: &str,
        compute: impl FnOnce() -> BoxFuture<'static, V>,
    ) -> (Ticket<V>, bool) {
        let mut slots = self.lock();
        match slots.get(key) {
            Some(Slot::Pending(p)) => return (Ticket::Pending(p.clone()), false),
            Some(Slot::Done(v)) => return (Ticket::Ready(v.clone()), false),
            None => {}
        }
        let work = compute();
        let me = self.clone();
        let owned: Box<str> = key.into();
        let finish_key = owned.clone();
        let pending = async move {
            let v = work.await;
            me.lock().insert(finish_key, Slot::Done(v.clone()));
            v
        }
        .boxed()
        .shared();
        slots.insert(owned, Slot::Pending(pending.clone()));
        (Ticket::Pending(pending), true)
    }

    /// How many keys were started.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none was.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn computes_once_and_keeps_the_value() {
        let map = Arc::new(OnceMap::<u32>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let start = |map: &Arc<OnceMap<u32>>| {
            let runs = runs.clone();
            map.get_or_start("k", move || {
                async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    7
                }
                .boxed()
            })
        };
        let (a, first) = start(&map);
        let (b, second) = start(&map);
        assert!(first && !second);
        assert_eq!(futures_util::future::join(a.wait(), b.wait()).await, (7, 7));
        assert!(matches!(map.get("k"), Some(Ticket::Ready(7))));
        let (c, third) = start(&map);
        assert!(!third);
        assert_eq!(c.wait().await, 7);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(map.len(), 1);
    }
}
