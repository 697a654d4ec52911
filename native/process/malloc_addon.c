// Process-wide malloc settings for a node that stores large values in LMDB (src/chain/mallocTuning.ts).
//
// LMDB copies each value larger than a page into "overflow pages" that it mallocs for the write transaction
// and frees after the commit: 16 MiB for a 16 MiB expert. glibc serves such a request with mmap, or from a
// heap it trims back to the kernel once the top is free, so every payload written lands in fresh pages and
// pays a page fault per 4 KiB. On small VMs that costs more than the copy itself (docs/sync-protocol.md §11).
// Raising the mmap and trim thresholds keeps those buffers in the heap, reused from one commit to the next.
#include <node_api.h>
#include <stdint.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

static napi_value tune_malloc(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_value result;
  int64_t mmap_threshold = 0, trim_threshold = 0;
  int ok = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int64(env, argv[0], &mmap_threshold) != napi_ok ||
      napi_get_value_int64(env, argv[1], &trim_threshold) != napi_ok || mmap_threshold <= 0 || trim_threshold <= 0 ||
      mmap_threshold > INT32_MAX || trim_threshold > INT32_MAX) {
    napi_throw_range_error(env, NULL, "tuneMalloc(mmapThreshold, trimThreshold): two positive byte counts below 2^31");
    return NULL;
  }
#if defined(__GLIBC__)
  ok = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, (int)trim_threshold) == 1;
#endif
  napi_get_boolean(env, ok, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "tuneMalloc", NAPI_AUTO_LENGTH, tune_malloc, NULL, &fn);
  napi_set_named_property(env, exports, "tuneMalloc", fn);
  return exports;
}
