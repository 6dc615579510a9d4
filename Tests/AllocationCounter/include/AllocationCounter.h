#ifndef ALLOCATION_COUNTER_H
#define ALLOCATION_COUNTER_H
#include <stdint.h>

/// Heap allocations (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) made by
/// any thread of this process since it started. Counts only where the interposition works
/// (Linux/glibc); elsewhere it stays 0 and allocation_counter_installed() returns 0.
uint64_t allocation_count(void);

/// The same, made by the calling thread only.
uint64_t allocation_count_on_this_thread(void);

/// 1 when this build counts allocations (Linux/glibc), else 0.
int allocation_counter_installed(void);

#endif
