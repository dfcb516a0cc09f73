// Keeps the prebuilt addon loadable on glibc 2.28 (the floor of PyPI's manylinux_2_28 torch wheel) although it
// is built on a newer one. Force-included into every translation unit of the addon (CMakeLists.txt):
//  - dl* and pthread_once moved into libc in glibc 2.34 under a new symbol version; bind to the original
//    GLIBC_2.2.5 versions, which libc.so.6 still exports for compatibility (and libdl / libpthread on older
//    glibc, which the addon lists as NEEDED);
//  - file status goes through statx (GLIBC_2.28) instead of stat (exported only since 2.33): core/files.cc;
//  - exp, log, pow, exp2, log2 got new GLIBC_2.29 versions in libm (no SVID error handling); bind to the
//    GLIBC_2.2.5 ones (same results; only the errno / matherr path differs);
//  - libstdc++ reads glibc's __libc_single_threaded (2.32) to skip atomics; glibc_compat.cc defines a private
//    one set to 0, so reference counts always use atomics (correct everywhere, the pre-2.32 behaviour).
// tests/test_glibc_floor in test/boundary checks the prebuild's symbol versions.
#pragma once

#if __has_include(<features.h>)
#include <features.h>  // defines __GLIBC__; this header is included before anything else
#endif

#if defined(__GLIBC__) && defined(__x86_64__) && !defined(INSEQ_NO_GLIBC_COMPAT)
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dlerror,dlerror@GLIBC_2.2.5");
__asm__(".symver dladdr,dladdr@GLIBC_2.2.5");
__asm__(".symver pthread_once,pthread_once@GLIBC_2.2.5");
__asm__(".symver exp,exp@GLIBC_2.2.5");
__asm__(".symver log,log@GLIBC_2.2.5");
__asm__(".symver pow,pow@GLIBC_2.2.5");
__asm__(".symver exp2,exp2@GLIBC_2.2.5");
__asm__(".symver log2,log2@GLIBC_2.2.5");
#endif
