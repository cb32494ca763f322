//! A counting global allocator: allocations and bytes per request, and the bytes live now.
//!
//! `unsafe` is unavoidable here (`GlobalAlloc` is an `unsafe trait`); every call is forwarded
//! unchanged to the system allocator. The library crates `forbid(unsafe_code)`.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// The allocator.
pub(crate) struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to `System`, which upholds the `GlobalAlloc` contract; counting has no
// effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: same layout, same contract.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            LIVE.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        let block = unsafe { System.realloc(ptr, layout, new_size) };
        // A failed realloc leaves the old block allocated.
        if !block.is_null() {
            LIVE.fetch_add(new_size as u64, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        }
        block
    }
}

/// Allocations and bytes allocated while `f` runs (single-threaded use).
pub(crate) fn measure(f: impl FnOnce()) -> (u64, u64) {
    let (count, bytes) = (
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed),
    );
    f();
    (
        ALLOCATIONS.load(Ordering::Relaxed) - count,
        BYTES.load(Ordering::Relaxed) - bytes,
    )
}

/// Bytes requested and not yet freed, by every thread: what a structure holds, whatever the
/// allocator keeps resident (the allocator's own rounding, e.g. a 24-byte request taking a
/// 32-byte chunk, is not in it).
pub(crate) fn live_bytes() -> u64 {
    LIVE.load(Ordering::Relaxed)
}
