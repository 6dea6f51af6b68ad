#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver, from libclang_rt.fuzzer_no_main (LLVM's FuzzerInterface.h): runs the
// fuzzer with the given arguments and callback. orbit-fuzz has its own `main` (SwiftPM links
// executables that way), so it calls this instead of linking libFuzzer's `main`.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *Data, size_t Size));
