/*
** simd.c — the hosted platform's part in the choice of SIMD kernels, which
** the core makes (src/core/kernels_pick.c): it passes L4LM_SIMD from the
** environment (a variant, or none; how the tests compare them) and, on
** aarch64 and riscv64, the OS's AT_HWCAP bits in the run options, and prints once what
** the core says of a variant it did not take.
*/
#include <stdio.h>
#include <stdlib.h>
#include "posix.h"
#if defined(__aarch64__) || defined(__riscv)
#include <sys/auxv.h>
#endif

void l4lm_posix_simd(l4lm_run_opts *o)
{
    static int told; /* the message once per process, not once per session */
    o->simd = getenv("L4LM_SIMD");
#if defined(__aarch64__) || defined(__riscv)
    o->hwcap = getauxval(AT_HWCAP);
#endif
    l4lm_kernels_info k;
    l4lm_kernels_pick(o, &k);
    if (told++ || (!k.unknown && !k.unsupported))
        return;
    if (k.unsupported) {
        fprintf(stderr, "l4lm: L4LM_SIMD=%s: this CPU cannot run it; using %s\n", o->simd, k.best);
        return;
    }
    fprintf(stderr, "l4lm: L4LM_SIMD=%s is not one of", o->simd);
    for (int i = 0; i < L4LM_KERNELS_MAX && k.variants[i]; i++)
        fprintf(stderr, " %s", k.variants[i]);
    fprintf(stderr, "; using %s\n", k.best);
}
