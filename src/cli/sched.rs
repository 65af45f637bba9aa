//! Batch commands run as a batch job in the kernel's scheduler.
//!
//! `check`, `recheck`, `audit` and `domain` work through a list as fast as
//! the resolver answers. The resolver is usually on the same machine (a
//! local Unbound, as the README advises), and a bulk run wakes its threads
//! thousands of times a second, each time a reply arrives. Under Linux's
//! default policy a thread that wakes may take the processor from the one
//! running, so the run kept preempting the very resolver it was waiting
//! for: in the benchmark, knot was preempted 2,700 times in a 1.6-second
//! run, and the processors sat idle 16% of it while each side waited on
//! the other.
//!
//! `SCHED_BATCH` is Linux's policy for this kind of work: same share of the
//! processor (the nice value is unchanged), but a waking thread does not
//! preempt the running one. The resolver, an MTA and anything interactive
//! on the machine keep their turn; the run itself went 0.91x the wall time
//! (median of 11 pairs). The long-lived faces (`serve`, `policy`) answer
//! requests as they come and keep the default policy.
//!
//! Only a process still under the default policy is changed: one started
//! under another (`chrt --idle`, a real-time policy) keeps it.

/// Puts the calling thread, and every thread it starts from now on, under
/// `SCHED_BATCH` when it is under the default policy (see the module's
/// text). Best effort: elsewhere than on Linux, or if the kernel refuses,
/// the run is only slower.
pub fn run_as_batch() {
    #[cfg(target_os = "linux")]
    // SAFETY: both calls take the calling thread (0) and plain integers or
    // a struct that lives across the call; they touch no other memory.
    unsafe {
        if libc::sched_getscheduler(0) == libc::SCHED_OTHER {
            let param = libc::sched_param { sched_priority: 0 };
            libc::sched_setscheduler(0, libc::SCHED_BATCH, &param);
        }
    }
}
