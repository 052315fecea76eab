// The least of WASI preview1 that wcfiles.wasm, translated to C by wasm2c,
// needs to count standard input: arguments, clocks, stdio, random bytes,
// sleeps and exit; no file system (every fd past 2 is EBADF). It is a
// measuring harness (run.sh), not a sandbox: it trusts the module.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include "wcfiles.h"

struct Z_wasi_snapshot_preview1_instance_t { Z_wcfiles_instance_t* wc; };
typedef struct Z_wasi_snapshot_preview1_instance_t W;
static u8* mem(W* w) { return w->wc->w2c_memory.data; }
static void put32(u8* m, u32 at, u32 v) { memcpy(m + at, &v, 4); }
static void put64(u8* m, u32 at, u64 v) { memcpy(m + at, &v, 8); }
static u32 get32(u8* m, u32 at) { u32 v; memcpy(&v, m + at, 4); return v; }
static u64 get64(u8* m, u32 at) { u64 v; memcpy(&v, m + at, 8); return v; }


// argv is {"wcfiles", "-"}: count standard input.
static const char args[] = "wcfiles\0-";
u32 Z_wasi_snapshot_preview1Z_args_sizes_get(W* w, u32 argc, u32 size) { put32(mem(w), argc, 2); put32(mem(w), size, sizeof args); return 0; }
u32 Z_wasi_snapshot_preview1Z_args_get(W* w, u32 argv, u32 buf) {
  put32(mem(w), argv, buf); put32(mem(w), argv + 4, buf + 8); memcpy(mem(w) + buf, args, sizeof args); return 0; }
u32 Z_wasi_snapshot_preview1Z_environ_sizes_get(W* w, u32 n, u32 size) { put32(mem(w), n, 0); put32(mem(w), size, 0); return 0; }
u32 Z_wasi_snapshot_preview1Z_environ_get(W* w, u32 a, u32 b) { return 0; }
u32 Z_wasi_snapshot_preview1Z_clock_time_get(W* w, u32 id, u64 prec, u32 out) {
  struct timespec ts; clock_gettime(id == 0 ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
  put64(mem(w), out, (u64)ts.tv_sec * 1000000000ull + ts.tv_nsec); return 0; }
u32 Z_wasi_snapshot_preview1Z_fd_close(W* w, u32 fd) { return 0; }
u32 Z_wasi_snapshot_preview1Z_fd_fdstat_get(W* w, u32 fd, u32 out) {
  if (fd > 2) return 8;
  memset(mem(w) + out, 0, 24); mem(w)[out] = 2; put64(mem(w), out + 8, ~0ull); put64(mem(w), out + 16, ~0ull); return 0; }
u32 Z_wasi_snapshot_preview1Z_fd_fdstat_set_flags(W* w, u32 fd, u32 f) { return 0; }
u32 Z_wasi_snapshot_preview1Z_fd_prestat_get(W* w, u32 fd, u32 out) { return 8; }
u32 Z_wasi_snapshot_preview1Z_fd_prestat_dir_name(W* w, u32 fd, u32 p, u32 n) { return 8; }
u32 Z_wasi_snapshot_preview1Z_fd_filestat_get(W* w, u32 fd, u32 out) { return 8; }
u32 Z_wasi_snapshot_preview1Z_fd_readdir(W* w, u32 fd, u32 buf, u32 len, u64 cookie, u32 out) { return 8; }
u32 Z_wasi_snapshot_preview1Z_path_filestat_get(W* w, u32 fd, u32 flags, u32 p, u32 n, u32 out) { return 8; }
u32 Z_wasi_snapshot_preview1Z_path_open(W* w, u32 fd, u32 df, u32 p, u32 n, u32 of, u64 rb, u64 ri, u32 ff, u32 out) { return 8; }
static u32 rw(W* w, u32 fd, u32 iovs, u32 n, u32 out, int wr) {
  u8* m = mem(w); u32 total = 0;
  for (u32 i = 0; i < n; i++) {
    u32 buf = get32(m, iovs + 8 * i), len = get32(m, iovs + 8 * i + 4);
    ssize_t r = wr ? write(fd, m + buf, len) : read(fd, m + buf, len);
    if (r < 0) return 29;
    total += r;
    if ((u32)r < len) break;
  }
  put32(m, out, total); return 0; }
u32 Z_wasi_snapshot_preview1Z_fd_read(W* w, u32 fd, u32 iovs, u32 n, u32 out) { return rw(w, fd, iovs, n, out, 0); }
u32 Z_wasi_snapshot_preview1Z_fd_write(W* w, u32 fd, u32 iovs, u32 n, u32 out) { return rw(w, fd, iovs, n, out, 1); }
u32 Z_wasi_snapshot_preview1Z_poll_oneoff(W* w, u32 in, u32 out, u32 n, u32 nout) {
  u8* m = mem(w); u32 k = 0;
  for (u32 i = 0; i < n; i++) {
    u32 s = in + 48 * i;
    if (m[s + 8] != 0) continue;
    u64 t = get64(m, s + 24); struct timespec ts = {t / 1000000000ull, t % 1000000000ull}; nanosleep(&ts, 0);
    u32 e = out + 32 * k++; memset(m + e, 0, 32); put64(m, e, get64(m, s));
  }
  put32(m, nout, k); return 0; }
void Z_wasi_snapshot_preview1Z_proc_exit(W* w, u32 code) { exit(code); }
u32 Z_wasi_snapshot_preview1Z_random_get(W* w, u32 buf, u32 len) { getrandom(mem(w) + buf, len, 0); return 0; }
u32 Z_wasi_snapshot_preview1Z_sched_yield(W* w) { return 0; }

int main(void) {
  static Z_wcfiles_instance_t inst; static W wasi = {&inst};
  wasm_rt_init(); Z_wcfiles_init_module(); Z_wcfiles_instantiate(&inst, &wasi); Z_wcfilesZ__start(&inst);
  return 0;
}
