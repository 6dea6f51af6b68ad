// glibc's malloc tuning (mallopt), which the Glibc module does not export. Used by the runtime's
// HeapTuning only.
#pragma once
#include <malloc.h>
