//! A map whose values are computed at most once: callers asking for a key
//! in flight wait for the same computation, and finished values stay
//! (without the machinery of a shared future) for the rest of the run, or,
//! in a long-lived process, until [`OnceMap::expire`] or
//! [`OnceMap::sweep`] drops them.

use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use hashbrown::{DefaultHashBuilder, HashTable};

/// One key's slot (16 bytes for an `Arc` value). A run keeps a slot for
/// every distinct key (a million domains: a million slots), so the key is
/// not stored twice: the finished value names its own key when the map was
/// given a `key_of`.
enum Slot<V> {
    Pending(Box<Pending<V>>),
    /// The value, and when it was finished (whole seconds since the map's
    /// epoch: fits in the enum's padding); its key is `key_of(value)`.
    Done(V, u32),
    /// A finished value that does not name its key (no `key_of`, or it
    /// names another).
    Kept(Box<(Box<str>, V)>, u32),
}

struct Pending<V> {
    key: Box<str>,
    work: Shared<BoxFuture<'static, V>>,
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
    slots: Mutex<HashTable<Slot<V>>>,
    hasher: DefaultHashBuilder,
    /// The key a finished value is stored under, when the value names it
    /// (then the key is not kept beside it).
    key_of: Option<fn(&V) -> &str>,
    /// What a finished value is kept as, when not as computed (a smaller
    /// form the map's user can open again; the computation's waiters get
    /// the value as computed).
    settle: Option<Settle<V>>,
    epoch: Instant,
}

type Settle<V> = Box<dyn Fn(&V) -> Option<V> + Send + Sync>;

impl<V> Default for OnceMap<V> {
    fn default() -> Self {
        OnceMap {
            slots: Mutex::new(HashTable::new()),
            hasher: DefaultHashBuilder::default(),
            key_of: None,
            settle: None,
            epoch: Instant::now(),
        }
    }
}

impl<V> OnceMap<V> {
    /// A map whose finished values name their own key (`key_of(value)` is
    /// the key it was computed for), so that the key is kept once.
    pub fn keyed(key_of: fn(&V) -> &str) -> Self {
        OnceMap {
            key_of: Some(key_of),
            ..OnceMap::default()
        }
    }

    /// Keeps each finished value as `settle(value)` when that says
    /// `Some` (see the field).
    pub fn settled(self, settle: impl Fn(&V) -> Option<V> + Send + Sync + 'static) -> Self {
        OnceMap {
            settle: Some(Box::new(settle)),
            ..self
        }
    }

    fn slot_key<'a>(&self, slot: &'a Slot<V>) -> &'a str {
        match slot {
            Slot::Pending(p) => &p.key,
            Slot::Done(v, _) => match self.key_of {
                Some(key_of) => key_of(v),
                None => unreachable!("a value without its key is kept with it"),
            },
            Slot::Kept(kv, _) => &kv.0,
        }
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The slot finished at `at` for `key`.
    fn finished(&self, key: Box<str>, v: V, at: u32) -> Slot<V> {
        let v = match &self.settle {
            Some(settle) => settle(&v).unwrap_or(v),
            None => v,
        };
        match self.key_of {
            Some(key_of) if key_of(&v) == &*key => Slot::Done(v, at),
            _ => Slot::Kept(Box::new((key, v)), at),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> OnceMap<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashTable<Slot<V>>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ticket for `key`, if it was started.
    pub fn get(&self, key: &str) -> Option<Ticket<V>> {
        let hash = self.hash(key);
        let slots = self.lock();
        slots
            .find(hash, |s| self.slot_key(s) == key)
            .map(|slot| match slot {
                Slot::Pending(p) => Ticket::Pending(p.work.clone()),
                Slot::Done(v, _) => Ticket::Ready(v.clone()),
                Slot::Kept(kv, _) => Ticket::Ready(kv.1.clone()),
            })
    }

    fn stamp(&self) -> u32 {
        self.epoch.elapsed().as_secs().min(u64::from(u32::MAX)) as u32
    }

    /// Whether a value finished at `stamp` is older than `ttl` now.
    fn stale(&self, stamp: u32, ttl: Duration, now: u32) -> bool {
        u64::from(now.saturating_sub(stamp)) >= ttl.as_secs().max(1)
    }

    /// Whether `slot` holds a finished value older than `ttl(value)`.
    fn expired(&self, slot: &Slot<V>, ttl: &impl Fn(&V) -> Duration, now: u32) -> bool {
        match slot {
            Slot::Done(v, at) => self.stale(*at, ttl(v), now),
            Slot::Kept(kv, at) => self.stale(*at, ttl(&kv.1), now),
            Slot::Pending(_) => false,
        }
    }

    /// Drops the finished value of `key` when it is older than `ttl(value)`
    /// (whole seconds, at least one), so that the next
    /// [`OnceMap::get_or_start`] computes it again. A computation in flight
    /// is never dropped. True when a value was dropped.
    pub fn expire(&self, key: &str, ttl: impl Fn(&V) -> Duration) -> bool {
        let now = self.stamp();
        let hash = self.hash(key);
        let mut slots = self.lock();
        match slots.find_entry(hash, |s| self.slot_key(s) == key) {
            Ok(entry) if self.expired(entry.get(), &ttl, now) => {
                entry.remove();
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
        slots.retain(|slot| !self.expired(slot, &ttl, now));
        slots.shrink_to(0, |s| self.hash(self.slot_key(s)));
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
        let hash = self.hash(key);
        let mut slots = self.lock();
        match slots.find(hash, |s| self.slot_key(s) == key) {
            Some(Slot::Pending(p)) => return (Ticket::Pending(p.work.clone()), false),
            Some(Slot::Done(v, _)) => return (Ticket::Ready(v.clone()), false),
            Some(Slot::Kept(kv, _)) => return (Ticket::Ready(kv.1.clone()), false),
            None => {}
        }
        let work = compute();
        let me = self.clone();
        let owned: Box<str> = key.into();
        let finish_key = owned.clone();
        let pending = async move {
            let v = work.await;
            me.finish(hash, finish_key, v.clone());
            v
        }
        .boxed()
        .shared();
        slots.insert_unique(
            hash,
            Slot::Pending(Box::new(Pending {
                key: owned,
                work: pending.clone(),
            })),
            |s| self.hash(self.slot_key(s)),
        );
        (Ticket::Pending(pending), true)
    }

    /// Puts the finished value of `key` in its slot (pending until then:
    /// nothing else removes or replaces a pending slot).
    fn finish(&self, hash: u64, key: Box<str>, v: V) {
        let at = self.stamp();
        // Settled before the lock is taken: other keys' lookups need not
        // wait for it.
        let slot = self.finished(key, v, at);
        let mut slots = self.lock();
        match slots.find_entry(hash, |s| self.slot_key(s) == self.slot_key(&slot)) {
            Ok(mut entry) => *entry.get_mut() = slot,
            Err(absent) => {
                absent
                    .into_table()
                    .insert_unique(hash, slot, |s| self.hash(self.slot_key(s)));
            }
        }
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

    impl<V: Clone + Send + Sync + 'static> OnceMap<V> {
        /// Sets `key`'s finished value, as if finished at `at`.
        fn put(&self, key: &str, v: V, at: u32) {
            self.finish(self.hash(key), key.into(), v);
            let mut slots = self.lock();
            match slots.find_mut(self.hash(key), |s| self.slot_key(s) == key) {
                Some(Slot::Done(_, t) | Slot::Kept(_, t)) => *t = at,
                _ => unreachable!("just finished"),
            }
        }
    }

    #[tokio::test]
    async fn values_that_name_their_key_are_kept_without_a_copy_of_it() {
        let map = Arc::new(OnceMap::<Arc<str>>::keyed(|v| v));
        let (a, _) = map.get_or_start("a.example", || async { Arc::from("a.example") }.boxed());
        // A value naming another key is kept with its own key.
        let (b, _) = map.get_or_start("b.example", || async { Arc::from("other") }.boxed());
        assert_eq!(&*a.wait().await, "a.example");
        assert_eq!(&*b.wait().await, "other");
        let slots = map.lock();
        let kinds: Vec<&str> = ["a.example", "b.example"]
            .iter()
            .map(
                |k| match slots.find(map.hash(k), |s| map.slot_key(s) == *k) {
                    Some(Slot::Done(..)) => "done",
                    Some(Slot::Kept(..)) => "kept",
                    Some(Slot::Pending(_)) => "pending",
                    None => "absent",
                },
            )
            .collect();
        drop(slots);
        assert_eq!(kinds, ["done", "kept"]);
        assert!(matches!(map.get("a.example"), Some(Ticket::Ready(v)) if &*v == "a.example"));
        assert!(matches!(map.get("b.example"), Some(Ticket::Ready(v)) if &*v == "other"));
        assert!(map.get("other").is_none());
        // A slot of a thin value (an `Arc<T>`) is 16 bytes.
        assert_eq!(std::mem::size_of::<Slot<Arc<u64>>>(), 16);
    }

    #[tokio::test]
    async fn a_settled_value_is_kept_and_waiters_get_the_computed_one() {
        let map = Arc::new(OnceMap::<u32>::default().settled(|v| (*v > 9).then_some(*v / 10)));
        let (big, _) = map.get_or_start("big", || async { 70 }.boxed());
        let (small, _) = map.get_or_start("small", || async { 7 }.boxed());
        assert_eq!((big.wait().await, small.wait().await), (70, 7));
        assert!(matches!(map.get("big"), Some(Ticket::Ready(7))));
        assert!(matches!(map.get("small"), Some(Ticket::Ready(7))));
    }

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
            epoch: Instant::now() - Duration::from_secs(10),
            ..OnceMap::default()
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
        map.put("k", 0, 5);
        assert!(!map.expire("k", |_| Duration::from_secs(6)));
        assert!(map.expire("k", |_| Duration::from_secs(5)));
        assert!(map.get("k").is_none());
        let (again, started) = start(&map);
        assert!(started);
        assert_eq!(again.wait().await, 1);
        // The ttl may depend on the value; sweep drops only the stale ones.
        map.put("short", 1, 5);
        map.put("long", 2, 5);
        let ttl = |v: &u32| Duration::from_secs(if *v == 1 { 2 } else { 3600 });
        assert_eq!(map.sweep(ttl), 1);
        assert!(map.get("short").is_none());
        assert!(map.get("long").is_some() && map.get("k").is_some());
    }
}
