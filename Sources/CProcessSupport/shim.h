// Process-wide settings Swift 6 cannot reach without touching C globals from concurrent code.
#include <signal.h>
#include <stdio.h>

// Line-buffer stdout, so progress and figures appear as they are printed even through a pipe.
static inline void lipsync_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

// Writing to a subprocess that died must fail with EPIPE, not kill the process.
static inline void lipsync_ignore_sigpipe(void) { signal(SIGPIPE, SIG_IGN); }
