// See glibc_compat.h. Linked into the addon only.
#include "core/glibc_compat.h"

#if defined(__GLIBC__) && defined(__x86_64__) && !defined(INSEQ_NO_GLIBC_COMPAT)
// 0 = "the process may have several threads": libstdc++ then always uses atomic reference counts.
extern "C" {
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;
}
#endif
