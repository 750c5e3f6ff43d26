#ifndef CONVKIT_SPIN_PAUSE_H
#define CONVKIT_SPIN_PAUSE_H

/// The CPU's spin-wait hint (x86 `pause`), for WorkerPool.swift's busy waits: it frees the
/// core's resources for a hyperthread sibling and saves power while a worker waits for work.
static inline void convkit_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
