//! A map whose values are computed at most once: callers asking for a key
//! in flight wait for the same computation, and finished values stay
//! (without the machinery of a shared future) for the rest of the run, or,
//! in a long-lived process, until [`OnceMap::expire`] or
//! [`OnceMap::sweep`] drops them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};

enum Slot<V> {
    Pending(Shared<BoxFuture<'static, V>>),
    /// The value, and when it was finished (whole seconds since the map's
    /// epoch: fits in the enum's padding, so a run of millions of keys pays
    /// nothing for it).
    Done(V, u32),
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
    epoch: Instant,
}

impl<V> Default for OnceMap<V> {
    fn default() -> Self {
        OnceMap {
            slots: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
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
            Slot::Done(v, _) => Ticket::Ready(v.clone()),
        })
    }

    fn stamp(&self) -> u32 {
        self.epoch.elapsed().as_secs().min(u64::from(u32::MAX)) as u32
    }

    /// Whether a value finished at `stamp` is older than `ttl` now.
    fn stale(&self, stamp: u32, ttl: Duration, now: u32) -> bool {
        u64::from(now.saturating_sub(stamp)) >= ttl.as_secs().max(1)
    }

    /// Drops the finished value of `key` when it is older than `ttl(value)`
    /// (whole seconds, at least one), so that the next
    /// [`OnceMap::get_or_start`] computes it again. A computation in flight
    /// is never dropped. True when a value was dropped.
    pub fn expire(&self, key: &str, ttl: impl Fn(&V) -> Duration) -> bool {
        let now = self.stamp();
        let mut slots = self.lock();
        match slots.get(key) {
            Some(Slot::Done(v, at)) if self.stale(*at, ttl(v), now) => {
                slots.remove(key);
                true
            }
            _ => false,
        }
    }

    /// Drops every finished value older than `ttl(value)`; returns how many
    /// (a long-lived process calls it now and then, so that the map holds
    /// what is fresh, not every key ever asked).
    pub fn sweep(&self, ttl: impl Fn(&V) -> Duration) -> usize {
        let now = self.stamp();
        let mut slots = self.lock();
        let before = slots.len();
        slots.retain(|_, slot| match slot {
            Slot::Done(v, at) => !self.stale(*at, ttl(v), now),
            Slot::Pending(_) => true,
        });
        before - slots.len()
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
            Some(Slot::Done(v, _)) => return (Ticket::Ready(v.clone()), false),
            None => {}
        }
        let work = compute();
        let me = self.clone();
        let owned: Box<str> = key.into();
        let finish_key = owned.clone();
        let pending = async move {
            let v = work.await;
            let at = me.stamp();
            me.lock().insert(finish_key, Slot::Done(v.clone(), at));
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

    #[tokio::test]
    async fn expired_values_are_computed_again_and_pending_ones_never_dropped() {
        // A map ten seconds old, so stamps in the past can be written.
        let map = Arc::new(OnceMap::<u32> {
            slots: Mutex::new(HashMap::new()),
            epoch: Instant::now() - Duration::from_secs(10),
        });
        let runs = Arc::new(AtomicUsize::new(0));
        let start = |map: &Arc<OnceMap<u32>>| {
            let runs = runs.clone();
            map.get_or_start("k", move || {
                async move { runs.fetch_add(1, Ordering::SeqCst) as u32 }.boxed()
            })
        };
        let (pending, _) = start(&map);
        // In flight: neither expire nor sweep may drop it, whatever the ttl.
        assert!(!map.expire("k", |_| Duration::ZERO));
        assert_eq!(map.sweep(|_| Duration::ZERO), 0);
        assert_eq!(pending.wait().await, 0);
        // Just finished: younger than any ttl (a ttl is at least a second).
        assert!(!map.expire("k", |_| Duration::ZERO));
        assert_eq!(map.sweep(|_| Duration::from_secs(60)), 0);
        // Finished five seconds ago: stale under a 5 s ttl, fresh under 6 s.
        map.lock().insert("k".into(), Slot::Done(0, 5));
        assert!(!map.expire("k", |_| Duration::from_secs(6)));
        assert!(map.expire("k", |_| Duration::from_secs(5)));
        assert!(map.get("k").is_none());
        let (again, started) = start(&map);
        assert!(started);
        assert_eq!(again.wait().await, 1);
        // The ttl may depend on the value; sweep drops only the stale ones.
        map.lock().insert("short".into(), Slot::Done(1, 5));
        map.lock().insert("long".into(), Slot::Done(2, 5));
        let ttl = |v: &u32| Duration::from_secs(if *v == 1 { 2 } else { 3600 });
        assert_eq!(map.sweep(ttl), 1);
        assert!(map.get("short").is_none());
        assert!(map.get("long").is_some() && map.get("k").is_some());
    }
}
