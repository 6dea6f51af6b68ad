// jemalloc (Debian's libjemalloc-dev): Orbit's memory allocator. Linking it is what puts it in
// place of glibc's malloc for the whole process (Swift runtime and librdkafka included); the
// header gives the runtime `mallctl` for statistics and purging. See OrbitRuntime's Allocator.
#pragma once
#include <jemalloc/jemalloc.h>
