// libFuzzer's driver entry point (compiler-rt, FuzzerInterface.h). SwiftPM gives each
// executable its own entry symbol (<Module>_main), so the fuzz targets cannot use libFuzzer's
// main(); their top-level code calls the driver instead.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
