// The declaration is all this target provides; libFuzzer itself is linked by -sanitize=fuzzer.
