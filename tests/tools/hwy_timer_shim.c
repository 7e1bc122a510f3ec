/* hwy_timer_shim.c: a test-only LD_PRELOAD for running FFmpeg-linked binaries under valgrind.
 * libavcodec loads libjxl, which loads libhwy; libhwy's constructor calibrates a timer with
 * rdtscp, and valgrind 3.19 (Debian 12) refuses that instruction on CPUs whose cpuid does not
 * advertise it, so every process dies with SIGILL before main. This replaces the calibration
 * (hwy::platform::TimerResolution, called through the PLT) with a constant; nothing fakescope
 * does uses libhwy's timers. Never linked into fakescope itself. */
#include <stdint.h>

uint64_t _ZN3hwy8platform15TimerResolutionEv(void);
uint64_t _ZN3hwy8platform15TimerResolutionEv(void) { return 1; }
