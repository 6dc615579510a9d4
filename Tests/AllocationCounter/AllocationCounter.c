// Test-only allocation counter: the test executable defines malloc and friends, so every call
// from the Swift runtime, Foundation, Dispatch and our code resolves here first (ELF symbol
// interposition); each increments a counter and forwards to glibc's own implementation
// (__libc_malloc, ...), so the heap and free() are glibc's unchanged. Used by the kernel tests to
// assert that a steady-state training step makes no allocation at all, transient ones included
// (glibc's mallinfo2 only sees bytes still in use, not an allocation freed within the step).
#include "AllocationCounter.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
// A sanitizer brings its own malloc (its interceptors track every block); defining malloc here
// would take blocks past them. Under `swift test --sanitize=...` the counter is not installed.
#define ALLOCATION_COUNTER_UNDER_SANITIZER 1
#endif
#endif

#if defined(__linux__) && defined(__GLIBC__) && !defined(ALLOCATION_COUNTER_UNDER_SANITIZER)
#include <errno.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static uint64_t counter;
// This thread's own count: what a step run entirely on the calling thread allocated, whatever
// the tests running beside it allocate meanwhile. Initial-exec TLS in the executable, so reading
// it never allocates (a dynamic TLS block would, from inside malloc).
static __thread uint64_t thread_counter __attribute__((tls_model("initial-exec")));

static inline void count_one(void) {
    __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
    thread_counter++;
}

void *malloc(size_t size) { count_one(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { count_one(); return __libc_calloc(count, size); }
void *realloc(void *pointer, size_t size) { count_one(); return __libc_realloc(pointer, size); }
void *memalign(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count_one(); return __libc_memalign(alignment, size); }

int posix_memalign(void **result, size_t alignment, size_t size) {
    count_one();
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) return ENOMEM;
    *result = pointer;
    return 0;
}

uint64_t allocation_count(void) { return __atomic_load_n(&counter, __ATOMIC_RELAXED); }
uint64_t allocation_count_on_this_thread(void) { return thread_counter; }
int allocation_counter_installed(void) { return 1; }
#else
uint64_t allocation_count(void) { return 0; }
uint64_t allocation_count_on_this_thread(void) { return 0; }
int allocation_counter_installed(void) { return 0; }
#endif
