/* LD_PRELOAD heap-allocation counter: counts malloc, calloc, realloc,
 * posix_memalign, aligned_alloc and memalign calls and bytes requested, and
 * hands them out through bench_malloc_snapshot(). Forwards to glibc's
 * __libc_* entry points, so no dlsym bootstrapping is needed. */
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static unsigned long calls, bytes;

void bench_malloc_snapshot(unsigned long *c, unsigned long *b)
{
    *c = __atomic_load_n(&calls, __ATOMIC_RELAXED);
    *b = __atomic_load_n(&bytes, __ATOMIC_RELAXED);
}

static void count(size_t n)
{
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&bytes, n, __ATOMIC_RELAXED);
}

void *malloc(size_t n) { count(n); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { count(a * b); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { count(n); return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t al, size_t n) { count(n); return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { count(n); return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n)
{
    count(n);
    void *p = __libc_memalign(al, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}
