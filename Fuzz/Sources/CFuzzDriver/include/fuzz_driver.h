#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for programs that keep their own main (compiler-rt's FuzzerDriver.cpp).
/// SwiftPM gives every executable target its own main, so the harnesses call this instead of
/// defining LLVMFuzzerTestOneInput for libFuzzer's main.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
