//! The run-time pieces std would provide, for `panic = "abort"` builds (the
//! crate is `#![no_std]`): the global allocator and the panic handler.

use ::core::alloc::{GlobalAlloc, Layout};
use ::core::fmt::Write;
use ::core::panic::PanicInfo;
use ::core::ptr;
use ::core::sync::atomic::{AtomicBool, Ordering};
use daemon3143_core::asbuf::AsBuf;

/// The C library's allocator: what the library allocates shows up in the
/// program's own malloc statistics, hooks and leak checkers.
struct Malloc;

/// The alignment `malloc` guarantees on the platforms the library builds for
/// (glibc and musl: 16 bytes on 64-bit, 8 on 32-bit).
const MALLOC_ALIGN: usize = 2 * ::core::mem::size_of::<usize>();

// SAFETY: each method follows GlobalAlloc's contract: `alloc` returns memory
// of at least `layout.size()` bytes aligned to `layout.align()` (malloc's
// alignment suffices up to MALLOC_ALIGN, posix_memalign beyond), or NULL;
// `dealloc`/`realloc` get only pointers this allocator returned.
unsafe impl GlobalAlloc for Malloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN && layout.align() <= layout.size() {
            // SAFETY: malloc has no preconditions.
            unsafe { libc::malloc(layout.size()) as *mut u8 }
        } else {
            let mut out = ptr::null_mut();
            let align = layout.align().max(::core::mem::size_of::<usize>());
            // SAFETY: `align` is a power of two and a multiple of
            // sizeof(void *), as posix_memalign requires.
            match unsafe { libc::posix_memalign(&mut out, align, layout.size()) } {
                0 => out as *mut u8,
                _ => ptr::null_mut(),
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN && layout.align() <= layout.size() {
            // SAFETY: calloc has no preconditions.
            unsafe { libc::calloc(layout.size(), 1) as *mut u8 }
        } else {
            // SAFETY: forwarded with the caller's layout.
            let p = unsafe { self.alloc(layout) };
            if !p.is_null() {
                // SAFETY: `p` points to `layout.size()` writable bytes.
                unsafe { ptr::write_bytes(p, 0, layout.size()) };
            }
            p
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, _layout: Layout) {
        // SAFETY: `p` came from malloc, calloc, realloc or posix_memalign.
        unsafe { libc::free(p as *mut libc::c_void) }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MALLOC_ALIGN && layout.align() <= new_size {
            // SAFETY: `p` came from this allocator with malloc's alignment.
            unsafe { libc::realloc(p as *mut libc::c_void, new_size) as *mut u8 }
        } else {
            // SAFETY: the layout is valid (GlobalAlloc's contract for realloc).
            let new = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: forwarded; the copy covers the smaller of both sizes.
            unsafe {
                let q = self.alloc(new);
                if !q.is_null() {
                    ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                    self.dealloc(p, layout);
                }
                q
            }
        }
    }
}

#[global_allocator]
static ALLOCATOR: Malloc = Malloc;

/// A panic is a bug in the library: one line on stderr, then `abort()` (no
/// allocation, so it works whatever state the heap is in). A panic while
/// that line is formatted aborts at once.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    static PANICKING: AtomicBool = AtomicBool::new(false);
    if !PANICKING.swap(true, Ordering::Relaxed) {
        let mut line = AsBuf::<512>::new();
        line.push(b"libdaemon3143: internal error (a bug: please report it): ");
        let _ = write!(line, "{}", info.message());
        if let Some(at) = info.location() {
            let _ = write!(line, " at {at}");
        }
        line.push(b"\n");
        // SAFETY: write(2) of a buffer valid for its length.
        unsafe { libc::write(2, line.as_bytes().as_ptr().cast(), line.as_bytes().len()) };
    }
    // SAFETY: abort(3) has no preconditions.
    unsafe { libc::abort() }
}

// The precompiled `core` and `alloc` contain unwinding cleanup code naming
// Rust's personality routine, which only std provides. Nothing unwinds in
// this build (a panic aborts; the entry points hold thread cancellation off,
// see `NoCancel`), so any personality routine that handles cleanups will do:
// `rust_eh_personality` is a hidden (never exported) tail call to libgcc's C
// one (from the statically linked libgcc_eh), defined here so that builds
// without LTO link too (their alloc/core objects name it). On other
// architectures an assembler alias covers the LTO build (the release
// profile), where every reference is in this crate's one object; it is
// checked on x86_64 only.
#[cfg(target_arch = "x86_64")]
::core::arch::global_asm!(
    ".pushsection .text.rust_eh_personality,\"ax\",@progbits",
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,@function",
    "rust_eh_personality:",
    "    jmp {personality}@PLT",
    ".size rust_eh_personality, . - rust_eh_personality",
    ".popsection",
    personality = sym __gcc_personality_v0,
);

#[cfg(target_arch = "aarch64")]
::core::arch::global_asm!(
    ".pushsection .text.rust_eh_personality,\"ax\",%progbits",
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".type rust_eh_personality,%function",
    "rust_eh_personality:",
    "    b {personality}",
    ".size rust_eh_personality, . - rust_eh_personality",
    ".popsection",
    personality = sym __gcc_personality_v0,
);

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
::core::arch::global_asm!(
    ".globl rust_eh_personality",
    ".hidden rust_eh_personality",
    ".set rust_eh_personality, __gcc_personality_v0",
);

extern "C" {
    /// libgcc's personality routine for C code (unwind-c.c), from libgcc_eh.
    fn __gcc_personality_v0();
}
