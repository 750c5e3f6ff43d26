#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver, for a main that SwiftPM names <module>_main (libclang_rt.fuzzer).
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
