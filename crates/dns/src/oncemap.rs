//! A map whose values are computed at most once: callers asking for a key
//! in flight wait for the same computation, and finished values stay
//! (without the machinery of a shared future) for the rest of the run, or,
//! in a long-lived process, until [`OnceMap::expire`] or
//! [`OnceMap::sweep`] drops them.

use std::future::Future;
use std::hash::BuildHasher;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
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
    /// A slot whose value was dropped ([`OnceMap::expire`],
    /// [`OnceMap::sweep`]), waiting to be used again; the index never
    /// points at one.
    Free,
}

/// Slots per chunk of [`Table::slots`].
const CHUNK: usize = 1024;

/// The slots, and a hash index of them by key.
///
/// The index holds slot numbers (4 bytes, plus hashbrown's control byte),
/// not the slots themselves: a hash table is at most 7/8 full and doubles
/// when it is, and while it doubles the old and the new table are both
/// held. With the slots in the table, a million domains cost about 150 MB
/// at the peak of the last doubling (48-byte slots in 2 million buckets,
/// plus the million before); with numbers in it, 10 MB, and the slots
/// themselves 48 MB in chunks that never move. Slots freed by expiry are
/// used again before a chunk is added.
struct Table<V> {
    index: HashTable<u32>,
    slots: Chunks<V>,
    free: Vec<u32>,
}

/// Slots in chunks of [`CHUNK`], allocated as needed and never moved.
struct Chunks<V> {
    chunks: Vec<Vec<Slot<V>>>,
}

impl<V> Chunks<V> {
    fn get(&self, i: u32) -> &Slot<V> {
        let i = i as usize;
        &self.chunks[i / CHUNK][i % CHUNK]
    }

    fn get_mut(&mut self, i: u32) -> &mut Slot<V> {
        let i = i as usize;
        &mut self.chunks[i / CHUNK][i % CHUNK]
    }

    /// Adds `slot` at the end; its number.
    fn push(&mut self, slot: Slot<V>) -> u32 {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let n = self.chunks.len() - 1;
        let chunk = self.chunks.last_mut().expect("just made sure");
        chunk.push(slot);
        u32::try_from(n * CHUNK + chunk.len() - 1).expect("fewer than 4 billion keys")
    }
}

impl<V> Table<V> {
    fn new() -> Self {
        Table {
            index: HashTable::new(),
            slots: Chunks { chunks: Vec::new() },
            free: Vec::new(),
        }
    }

    /// The slot of `key`, if any.
    fn find(&self, hash: u64, key: &str, key_of: impl Fn(&Slot<V>) -> &str) -> Option<&Slot<V>> {
        let slots = &self.slots;
        self.index
            .find(hash, |&i| key_of(slots.get(i)) == key)
            .map(|&i| slots.get(i))
    }

    /// Puts `slot` under `hash` (its key not there yet); its number.
    fn insert(&mut self, hash: u64, slot: Slot<V>, rehash: impl Fn(&Slot<V>) -> u64) -> u32 {
        let i = match self.free.pop() {
            Some(i) => {
                *self.slots.get_mut(i) = slot;
                i
            }
            None => self.slots.push(slot),
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, i, |&j| rehash(slots.get(j)));
        i
    }

    /// Frees slot `i` (already out of the index).
    fn release(slots: &mut Chunks<V>, free: &mut Vec<u32>, i: u32) {
        *slots.get_mut(i) = Slot::Free;
        free.push(i);
    }
}

struct Pending<V> {
    key: Box<str>,
    work: Work<V>,
}

/// How a pending value is being computed.
enum Work<V> {
    /// By whoever awaits it first ([`OnceMap::get_or_start`]).
    Shared(Shared<BoxFuture<'static, V>>),
    /// By a task of its own ([`OnceMap::get_or_spawn`]).
    Spawned(Arc<Promise<V>>),
}

/// The value a spawned computation will give, and who waits for it: what
/// a shared future and a join handle did, in one small allocation.
pub struct Promise<V> {
    /// `None`: the computation panicked.
    value: OnceLock<Option<V>>,
    waiters: Mutex<Vec<Waker>>,
}

impl<V> Promise<V> {
    fn new() -> Promise<V> {
        Promise {
            value: OnceLock::new(),
            waiters: Mutex::new(Vec::new()),
        }
    }

    /// Sets the value (once), then wakes every waiter.
    fn keep(&self, v: Option<V>) {
        let _ = self.value.set(v);
        // Taken after the value is set: a waiter that found no value
        // registered under this lock, and is woken here.
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|p| p.into_inner()));
        for w in waiters {
            w.wake();
        }
    }
}

impl<V: Clone> Promise<V> {
    fn get(&self) -> Option<V> {
        self.value.get().map(|v| match v {
            Some(v) => v.clone(),
            None => panic!("the computation of this value panicked (see its message above)"),
        })
    }
}

/// Awaits a [`Promise`].
struct Promised<V>(Arc<Promise<V>>);

impl<V: Clone> Future for Promised<V> {
    type Output = V;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<V> {
        if let Some(v) = self.0.get() {
            return Poll::Ready(v);
        }
        let mut waiters = self.0.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // Again under the lock: `keep` sets the value before taking it.
        if let Some(v) = self.0.get() {
            return Poll::Ready(v);
        }
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A value that is ready, or will be.
#[derive(Clone)]
pub enum Ticket<V: Clone> {
    /// Computed already.
    Ready(V),
    /// In flight; awaiting it gives the value.
    Pending(Shared<BoxFuture<'static, V>>),
    /// In flight in a task of its own.
    Spawned(Arc<Promise<V>>),
}

impl<V: Clone> Ticket<V> {
    /// The value, once computed.
    pub async fn wait(self) -> V {
        match self {
            Ticket::Ready(v) => v,
            Ticket::Pending(p) => p.await,
            Ticket::Spawned(p) => Promised(p).await,
        }
    }

    /// The value when it is computed already (a shared computation
    /// counts as computed only once awaited); else the ticket back.
    pub fn now(self) -> Result<V, Ticket<V>> {
        match self {
            Ticket::Ready(v) => Ok(v),
            Ticket::Spawned(p) => p.get().ok_or(Ticket::Spawned(p)),
            ticket => Err(ticket),
        }
    }
}

/// Keys to values computed once each.
pub struct OnceMap<V> {
    table: Mutex<Table<V>>,
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
            table: Mutex::new(Table::new()),
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
            Slot::Free => unreachable!("the index never points at a free slot"),
        }
    }

    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The slot finished at `at` for `key`.
    fn finished(&self, key: Box<str>, v: V, at: u32) -> Slot<V> {
        self.settled_slot(key, self.settle(v), at)
    }

    /// What a finished value is kept as (see the field `settle`).
    fn settle(&self, v: V) -> V {
        match &self.settle {
            Some(settle) => settle(&v).unwrap_or(v),
            None => v,
        }
    }

    /// The slot of an already settled value.
    fn settled_slot(&self, key: Box<str>, v: V, at: u32) -> Slot<V> {
        match self.key_of {
            Some(key_of) if key_of(&v) == &*key => Slot::Done(v, at),
            _ => Slot::Kept(Box::new((key, v)), at),
        }
    }
}

impl<V: Clone + Send + Sync + 'static> OnceMap<V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table<V>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The ticket of a slot in the index.
    fn ticket(slot: &Slot<V>) -> Ticket<V> {
        match slot {
            Slot::Pending(p) => match &p.work {
                Work::Shared(s) => Ticket::Pending(s.clone()),
                Work::Spawned(p) => Ticket::Spawned(p.clone()),
            },
            Slot::Done(v, _) => Ticket::Ready(v.clone()),
            Slot::Kept(kv, _) => Ticket::Ready(kv.1.clone()),
            Slot::Free => unreachable!("the index never points at a free slot"),
        }
    }

    /// The ticket for `key`, if it was started.
    pub fn get(&self, key: &str) -> Option<Ticket<V>> {
        let hash = self.hash(key);
        let table = self.lock();
        table
            .find(hash, key, |s| self.slot_key(s))
            .map(Self::ticket)
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
            Slot::Pending(_) | Slot::Free => false,
        }
    }

    /// Drops the finished value of `key` when it is older than `ttl(value)`
    /// (whole seconds, at least one), so that the next
    /// [`OnceMap::get_or_start`] computes it again. A computation in flight
    /// is never dropped. True when a value was dropped.
    pub fn expire(&self, key: &str, ttl: impl Fn(&V) -> Duration) -> bool {
        let now = self.stamp();
        let hash = self.hash(key);
        let mut table = self.lock();
        let Table { index, slots, free } = &mut *table;
        match index.find_entry(hash, |&i| self.slot_key(slots.get(i)) == key) {
            Ok(entry) if self.expired(slots.get(*entry.get()), &ttl, now) => {
                let (i, _) = entry.remove();
                Table::release(slots, free, i);
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
        let mut table = self.lock();
        let Table { index, slots, free } = &mut *table;
        let before = index.len();
        index.retain(|i| {
            let stale = self.expired(slots.get(*i), &ttl, now);
            if stale {
                Table::release(slots, free, *i);
            }
            !stale
        });
        index.shrink_to(0, |&i| self.hash(self.slot_key(slots.get(i))));
        before - index.len()
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
        let mut table = self.lock();
        if let Some(slot) = table.find(hash, key, |s| self.slot_key(s)) {
            return (Self::ticket(slot), false);
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
        table.insert(
            hash,
            Slot::Pending(Box::new(Pending {
                key: owned,
                work: Work::Shared(pending.clone()),
            })),
            |s| self.hash(self.slot_key(s)),
        );
        (Ticket::Pending(pending), true)
    }

    /// The ticket for `key`, spawning `compute()`'s future on the Tokio
    /// runtime when it was not started. It runs to its end whether or not
    /// anyone waits; its value goes to the slot and to every waiter, and
    /// its task is freed as it ends (no shared future, no join handle: the
    /// machinery was a tenth of a run's CPU above the DNS layer). A panic
    /// in it is a panic in every waiter. The boolean says whether this
    /// call started it.
    pub fn get_or_spawn<F>(
        self: &Arc<Self>,
        key: &str,
        compute: impl FnOnce() -> F,
    ) -> (Ticket<V>, bool)
    where
        F: Future<Output = V> + Send + 'static,
    {
        let hash = self.hash(key);
        let mut table = self.lock();
        if let Some(slot) = table.find(hash, key, |s| self.slot_key(s)) {
            return (Self::ticket(slot), false);
        }
        // Boxed at once: a future is moved whole (every byte of its largest
        // state) each time it is passed on, and spawning passes it on
        // several times.
        let work = Box::pin(compute());
        let promise = Arc::new(Promise::new());
        let slot = table.insert(
            hash,
            Slot::Pending(Box::new(Pending {
                key: key.into(),
                work: Work::Spawned(promise.clone()),
            })),
            |s| self.hash(self.slot_key(s)),
        );
        drop(table);
        let me = self.clone();
        let done = promise.clone();
        tokio::spawn(async move {
            match AssertUnwindSafe(work).catch_unwind().await {
                Ok(v) => {
                    me.finish_spawned(slot, &done, v.clone());
                    done.keep(Some(v));
                }
                Err(_) => done.keep(None),
            }
        });
        (Ticket::Spawned(promise), true)
    }

    /// Puts the finished value of the spawned computation `promise` in its
    /// slot, number `i`, with the key the pending slot held. Found by its
    /// number, not its key: slots never move, and nothing else removes or
    /// replaces a pending slot (looked up by key, the index's and the
    /// slot's cache misses were 1.6% of a run's CPU samples).
    fn finish_spawned(&self, i: u32, promise: &Arc<Promise<V>>, v: V) {
        let at = self.stamp();
        // Settled before the lock is taken: other keys' lookups need not
        // wait for it.
        let v = self.settle(v);
        let mut table = self.lock();
        let slot = table.slots.get_mut(i);
        let ours = matches!(slot, Slot::Pending(p)
            if matches!(&p.work, Work::Spawned(q) if Arc::ptr_eq(q, promise)));
        debug_assert!(ours, "a pending slot stays where it was put");
        if !ours {
            return;
        }
        let Slot::Pending(pending) = std::mem::replace(slot, Slot::Free) else {
            unreachable!("checked above")
        };
        *slot = self.settled_slot(pending.key, v, at);
    }

    /// Puts the finished value of `key` in its slot (pending until then:
    /// nothing else removes or replaces a pending slot).
    fn finish(&self, hash: u64, key: Box<str>, v: V) {
        let at = self.stamp();
        // Settled before the lock is taken: other keys' lookups need not
        // wait for it.
        let slot = self.finished(key, v, at);
        let mut table = self.lock();
        let key = self.slot_key(&slot);
        let found = {
            let slots = &table.slots;
            table
                .index
                .find(hash, |&i| self.slot_key(slots.get(i)) == key)
                .copied()
        };
        match found {
            Some(i) => *table.slots.get_mut(i) = slot,
            None => {
                table.insert(hash, slot, |s| self.hash(self.slot_key(s)));
            }
        }
    }

    /// How many keys were started.
    pub fn len(&self) -> usize {
        self.lock().index.len()
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
            let mut table = self.lock();
            let Table { index, slots, .. } = &mut *table;
            let i = *index
                .find(self.hash(key), |&i| self.slot_key(slots.get(i)) == key)
                .expect("just finished");
            match slots.get_mut(i) {
                Slot::Done(_, t) | Slot::Kept(_, t) => *t = at,
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
        let table = map.lock();
        let kinds: Vec<&str> = ["a.example", "b.example"]
            .iter()
            .map(|k| match table.find(map.hash(k), k, |s| map.slot_key(s)) {
                Some(Slot::Done(..)) => "done",
                Some(Slot::Kept(..)) => "kept",
                Some(Slot::Pending(_)) => "pending",
                Some(Slot::Free) => "free",
                None => "absent",
            })
            .collect();
        drop(table);
        assert_eq!(kinds, ["done", "kept"]);
        assert!(matches!(map.get("a.example"), Some(Ticket::Ready(v)) if &*v == "a.example"));
        assert!(matches!(map.get("b.example"), Some(Ticket::Ready(v)) if &*v == "other"));
        assert!(map.get("other").is_none());
        // A slot of a thin value (an `Arc<T>`) is 16 bytes.
        assert_eq!(std::mem::size_of::<Slot<Arc<u64>>>(), 16);
    }

    #[tokio::test]
    async fn keys_past_many_chunks_and_freed_slots_used_again() {
        let map = Arc::new(OnceMap::<u32> {
            epoch: Instant::now() - Duration::from_secs(10),
            ..OnceMap::default()
        });
        let n = 3 * CHUNK as u32 + 7;
        for k in 0..n {
            let (t, started) = map.get_or_start(&k.to_string(), move || async move { k }.boxed());
            assert!(started);
            assert_eq!(t.wait().await, k);
        }
        assert_eq!(map.len(), n as usize);
        for k in 0..n {
            assert!(
                matches!(map.get(&k.to_string()), Some(Ticket::Ready(v)) if v == k),
                "{k}"
            );
        }
        let chunks = || map.lock().slots.chunks.len();
        assert_eq!(chunks(), 4);
        // Half of them stale: dropped, their slots free.
        for k in (0..n).step_by(2) {
            map.put(&k.to_string(), k, 0);
        }
        assert_eq!(
            map.sweep(|_| Duration::from_secs(5)),
            (n as usize).div_ceil(2)
        );
        let left = map.len();
        assert!(map.get("0").is_none() && matches!(map.get("3"), Some(Ticket::Ready(3))));
        // New keys take the free slots: no chunk added.
        for k in n..n + (n / 2) {
            let (t, _) = map.get_or_start(&k.to_string(), move || async move { k }.boxed());
            assert_eq!(t.wait().await, k);
        }
        assert_eq!(map.len(), left + (n / 2) as usize);
        assert_eq!(chunks(), 4);
        for k in (1..n).step_by(2).chain(n..n + n / 2) {
            assert!(
                matches!(map.get(&k.to_string()), Some(Ticket::Ready(v)) if v == k),
                "{k}"
            );
        }
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

    /// A spawned computation runs once, without anyone awaiting it, and
    /// every ticket (taken before or after it ended) gets its value; the
    /// slot then holds the value itself, its key not copied.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawned_values_run_once_and_reach_every_ticket() {
        let map = Arc::new(OnceMap::<Arc<str>>::keyed(|v| v));
        let runs = Arc::new(AtomicUsize::new(0));
        let (gate_tx, gate_rx) = tokio::sync::oneshot::channel::<()>();
        let counted = runs.clone();
        let (first, started) = map.get_or_spawn("a.example", move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = gate_rx.await;
            Arc::<str>::from("a.example")
        });
        assert!(started);
        let (second, started) = map.get_or_spawn("a.example", || async { unreachable!() });
        assert!(!started);
        // Not finished: `now` gives the ticket back, and so does `get`.
        let first = first.now().expect_err("still running");
        assert!(matches!(map.get("a.example"), Some(Ticket::Spawned(_))));
        let waiters: Vec<_> = [first.clone(), second]
            .into_iter()
            .map(|t| tokio::spawn(t.wait()))
            .collect();
        gate_tx.send(()).unwrap();
        for w in waiters {
            assert_eq!(&*w.await.unwrap(), "a.example");
        }
        // Finished: the ticket taken before has it now, and the map holds
        // it as a plain value.
        assert_eq!(&*first.now().ok().expect("finished"), "a.example");
        assert!(matches!(map.get("a.example"), Some(Ticket::Ready(v)) if &*v == "a.example"));
        let table = map.lock();
        let slot = table.find(map.hash("a.example"), "a.example", |s| map.slot_key(s));
        assert!(matches!(slot, Some(Slot::Done(..))));
        drop(table);
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(map.len(), 1);
    }

    /// A spawned computation that panics makes its waiters panic, never
    /// wait for ever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_spawned_panic_reaches_the_waiters() {
        let map = Arc::new(OnceMap::<u32>::default());
        let (ticket, _) = map.get_or_spawn("boom", || async {
            tokio::task::yield_now().await;
            panic!("on purpose")
        });
        let waited = tokio::spawn(ticket.wait()).await;
        assert!(waited.expect_err("panicked").is_panic());
        // And one that comes later.
        let (late, started) = map.get_or_spawn("boom", || async { 1 });
        assert!(!started);
        assert!(tokio::spawn(late.wait())
            .await
            .expect_err("panicked")
            .is_panic());
    }
}
