/* The IronClaw host ABI for WASI preview1 core modules: import module "ironclaw".
 * See docs/abi.md for the ops and their JSON shapes.
 *
 * ic_call asks the host gate to do `op` with the JSON object `args` (UTF-8, not NUL-terminated).
 *   r >= 0: ok, the result is r bytes of JSON.
 *   r <  0: refused or failed, the error {code, message, hint} is (-r - 1) bytes of JSON.
 *   When those bytes fit in out_cap they are already in `out`; otherwise nothing was copied
 *   and the host keeps them for ic_take (the op is not run again).
 * ic_take copies the kept bytes into `out` and returns their length, or -1 when there are
 *   none or out_cap is too small.
 * ic_log writes one line to the run's record; level 0 debug, 1 info, 2 warn, 3 error.
 * Out-of-bounds pointers and strings that are not UTF-8 trap. */
#ifndef IRONCLAW_H
#define IRONCLAW_H
#include <stdint.h>

#define IRONCLAW_IMPORT(name) __attribute__((import_module("ironclaw"), import_name(name)))

IRONCLAW_IMPORT("call")
int32_t ic_call(const char *op, int32_t op_len, const char *args, int32_t args_len, char *out, int32_t out_cap);

IRONCLAW_IMPORT("take")
int32_t ic_take(char *out, int32_t out_cap);

IRONCLAW_IMPORT("log")
void ic_log(int32_t level, const char *msg, int32_t msg_len);

#endif
