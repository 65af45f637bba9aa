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
//!
//! A batch command also takes its memory in small pages, not transparent
//! huge pages. mimalloc asks for huge pages (`MADV_HUGEPAGE`), so each
//! first touch of 2 MiB faults in and zeroes the whole 2 MiB; on the
//! benchmark's virtual machine that zeroing was a tenth of the CPU of a
//! 100,000-domain run (`clear_page_erms`, `perf record -a`), and with small
//! pages it is under one percent. The run's memory is touched once, as it
//! grows, so the fewer TLB misses of huge pages never paid that back; peak
//! memory falls too (no half-used huge pages).

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// `mi_option_purge_delay` of the vendored mimalloc (v3, `mimalloc.h`: the
/// option after the deprecated `eager_commit_delay`, which the bindings
/// name 14; they have no name for this one). The test below checks that
/// this index has that option's documented default.
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// `mi_option_allow_thp` of the vendored mimalloc (`mimalloc.h`, the 44th
/// option; the bindings have no name for it). Checked by a test below.
const MI_OPTION_ALLOW_THP: mi_option_t = 43;

/// Keeps freed memory in the process instead of returning it to the
/// system (for batch commands; see the module's text).
pub fn keep_freed_memory() {
    // SAFETY: sets an integer option; mimalloc reads it on each purge.
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

/// Takes memory in small pages from now on (see the module's text): new
/// mappings are not marked for huge pages, and the process opts out of
/// them, which also covers the arena mimalloc reserved before `main`.
pub fn avoid_huge_pages() {
    // SAFETY: sets an integer option; mimalloc reads it on each mapping.
    unsafe { mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    // Best effort: on failure (an old kernel) the run is only slower.
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and touches no
    // memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
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

    #[test]
    fn the_index_is_allow_thp() {
        // SAFETY: reads integer options.
        let get = |o| unsafe { libmimalloc_sys::mi_option_get(o) };
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
            assert_eq!(get(MI_OPTION_ALLOW_THP), 1);
        }
        // Its neighbours' defaults (options.c): the cross-thread reclaim
        // limit before it is 32, the same-theap one before that -1
        // (unlimited), and generic_collect, nine before, 10,000.
        assert_eq!(get(MI_OPTION_ALLOW_THP - 1), 32);
        assert_eq!(get(MI_OPTION_ALLOW_THP - 2), -1);
        assert_eq!(get(MI_OPTION_ALLOW_THP - 9), 10_000);
        avoid_huge_pages();
        assert_eq!(get(MI_OPTION_ALLOW_THP), 0);
        // SAFETY: reads the process's flag.
        let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert!(disabled == 1 || disabled == -1, "{disabled}");
    }
}
