// inseq-loader: a tiny addon with no LibTorch dependency. lib/native/load.ts finds LibTorch at run time and
// calls open() on libc10.so and libtorch_cpu.so before it requires the real addon, whose NEEDED entries the
// dynamic loader then satisfies by SONAME from those already-loaded libraries: no LD_LIBRARY_PATH, no RPATH
// to the build machine. Libraries are opened RTLD_LOCAL and never closed.
#include <dlfcn.h>
#include <node_api.h>

#include <string>

namespace {

napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  size_t len = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], nullptr, 0, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_OPTION", "Expected a library path");
    return nullptr;
  }
  std::string path(len, '\0');
  napi_get_value_string_utf8(env, argv[0], path.data(), len + 1, &len);
  dlerror();
  napi_value result;
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL)) {
    napi_get_null(env, &result);
  } else {
    const char* err = dlerror();
    const std::string msg = err ? err : "unknown dlopen error";
    napi_create_string_utf8(env, msg.c_str(), msg.size(), &result);
  }
  return result;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "open", NAPI_AUTO_LENGTH, Open, nullptr, &fn);
  napi_set_named_property(env, exports, "open", fn);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
