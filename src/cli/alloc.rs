//! The allocator's settings for a batch command.
//!
//! mimalloc returns freed memory to the system after a delay and faults it
//! back in (zeroed) when the next wave of domains needs it. A `check` run
//! frees and reuses memory in such waves all the time: on the 100,000
//! domain benchmark the faults cost about a tenth of the run's CPU, and
//! keeping the memory cut them from about 4,000 to 350. A batch command
//! gives everything back when it exits, so it keeps what it freed; the
//! long-lived faces (`serve`, `policy`) keep mimalloc's default and return
//! what their expired entries held.

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// `mi_option_purge_delay` of the vendored mimalloc (v3, `mimalloc.h`: the
/// option after the deprecated `eager_commit_delay`, which the bindings
/// name 14; they have no name for this one). The test below checks that
/// this index has that option's documented default.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// Keeps freed memory in the process instead of returning it to the
/// system (for batch commands; see the module's text).
pub fn keep_freed_memory() {
    // SAFETY: sets an integer option; mimalloc reads it on each purge.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// The purge delay in force, in milliseconds (-1: never).
#[cfg(test)]
fn purge_delay() -> std::ffi::c_long {
    // SAFETY: reads an integer option.
    unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_the_purge_delay() {
        // mimalloc v3's default purge delay (options.c) unless the
        // environment sets one; its neighbours' defaults differ (the NUMA
        // node count is 0, the deprecated option 0 or 1).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay(), 1000);
        }
        keep_freed_memory();
        assert_eq!(purge_delay(), -1);
    }
}
