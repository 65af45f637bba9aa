//! The allocator, and its settings for a batch command.
//!
//! The allocator is mimalloc, called through its C functions: for the
//! alignments that every mimalloc block has anyway (a word: block sizes are
//! multiples of 8 bytes from 16-byte aligned page starts), its plain
//! `mi_malloc`; only larger alignments take `mi_malloc_aligned`, whose
//! checks (and, above 1 KiB, its generic path) cost about 30 instructions
//! an allocation more. Nearly every allocation of a run is word-aligned.
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

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys::{
    mi_free, mi_malloc, mi_malloc_aligned, mi_option_set, mi_option_t, mi_realloc,
    mi_realloc_aligned, mi_zalloc, mi_zalloc_aligned,
};

/// The alignment every mimalloc block has (a word).
const WORD: usize = std::mem::size_of::<usize>();

/// mimalloc as the global allocator (see the module's text).
pub struct Allocator;

// SAFETY: every function hands the layout's size and alignment to the
// matching mimalloc function, which returns null or a block of at least
// that size with at least that alignment (a word for the plain ones); all
// blocks are freed with mi_free, which takes blocks of either kind.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: see the impl.
            unsafe { mi_malloc(layout.size()).cast() }
        } else {
            // SAFETY: see the impl.
            unsafe { mi_malloc_aligned(layout.size(), layout.align()).cast() }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: see the impl.
            unsafe { mi_zalloc(layout.size()).cast() }
        } else {
            // SAFETY: see the impl.
            unsafe { mi_zalloc_aligned(layout.size(), layout.align()).cast() }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract).
        unsafe { mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: see the impl and `dealloc`.
            unsafe { mi_realloc(ptr.cast::<c_void>(), new_size).cast() }
        } else {
            // SAFETY: see the impl and `dealloc`.
            unsafe { mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast() }
        }
    }
}

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

    /// Every layout a run uses gets its alignment and keeps its bytes
    /// through growth, from either path (this test binary allocates
    /// through [`Allocator`] too, as the global allocator).
    #[test]
    fn blocks_have_their_alignment_and_keep_their_bytes() {
        let a = Allocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 128, 4096] {
            for size in [1, 3, 8, 15, 16, 24, 40, 100, 1000, 1025, 5000, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is freed once, with
                // its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    for i in 0..size {
                        *p.add(i) = i as u8;
                    }
                    let q = a.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "grown: size {size} align {align}");
                    for i in 0..size {
                        assert_eq!(*q.add(i), i as u8);
                    }
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    a.dealloc(z, layout);
                }
            }
        }
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
