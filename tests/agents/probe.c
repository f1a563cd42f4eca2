/* A WASI preview1 test agent that does what its task says, one command a line:
 *   read PATH | write PATH | mkdir PATH | unlink PATH | list PATH | symlink TARGET LINK
 *   call OP JSON | grow MIB | loop | spew BYTES
 * and, each answering "OK ..." or "ERRNO <n> <path>" (the WASI errno, so tests need no errno texts):
 *   create PATH (O_CREAT, no O_TRUNC) | trunc PATH (O_TRUNC) | append PATH | cat PATH | stat PATH
 *   lstat PATH | opendir PATH | waitfor PATH (until PATH exists, at most about a minute)
 * Each command prints one line: "OK ..." or "ERR <errno text>". */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../../abi/ironclaw.h"

static char buf[1 << 16];

static void report(int ok, const char *what) {
  if (ok) printf("OK %s\n", what);
  else printf("ERR %s: %s\n", what, strerror(errno));
}

static void errnum(const char *path) { printf("ERRNO %d %s\n", errno, path); }

/* Opens PATH with FLAGS and writes TEXT to it (when TEXT is not NULL). */
static void open_write(const char *path, int flags, const char *text) {
  int fd = open(path, flags, 0644);
  if (fd < 0) { errnum(path); return; }
  ssize_t n = write(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  if (n < 0) errnum(path);
  else printf("OK %s\n", path);
}

/* The commands that report the WASI errno; 0 when CMD is not one of them. */
static int errno_command(const char *cmd, const char *a) {
  struct stat st;
  if (!strcmp(cmd, "create")) open_write(a, O_WRONLY | O_CREAT, "created by the probe\n");
  else if (!strcmp(cmd, "trunc")) open_write(a, O_WRONLY | O_TRUNC, "truncated by the probe\n");
  else if (!strcmp(cmd, "append")) open_write(a, O_WRONLY | O_APPEND, "appended by the probe\n");
  else if (!strcmp(cmd, "cat")) {
    int fd = open(a, O_RDONLY);
    if (fd < 0) { errnum(a); return 1; }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int saved = errno;
    close(fd);
    errno = saved;
    if (n < 0) { errnum(a); return 1; }
    buf[n] = 0;
    printf("OK %s %s\n", a, buf);
  } else if (!strcmp(cmd, "stat") || !strcmp(cmd, "lstat")) {
    int r = !strcmp(cmd, "stat") ? stat(a, &st) : lstat(a, &st);
    if (r != 0) errnum(a);
    else printf("OK %s size %lld\n", a, (long long)st.st_size);
  } else if (!strcmp(cmd, "opendir")) {
    DIR *d = opendir(a);
    if (!d) { errnum(a); return 1; }
    closedir(d);
    printf("OK %s\n", a);
  } else if (!strcmp(cmd, "waitfor")) {
    struct timespec tick = {0, 20 * 1000 * 1000};
    int i = 0;
    for (; i < 3000 && stat(a, &st) != 0; i++) nanosleep(&tick, NULL);
    printf("%s waitfor %s\n", i < 3000 ? "OK" : "ERR", a);
  } else return 0;
  return 1;
}

static void command(char *line) {
  char *cmd = strtok(line, " ");
  char *a = strtok(NULL, " ");
  char *b = strtok(NULL, "");
  if (!cmd) return;
  if (a && errno_command(cmd, a)) {
  } else if (!strcmp(cmd, "read") && a) {
    FILE *f = fopen(a, "r");
    if (!f) { report(0, a); return; }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    printf("OK %s %s\n", a, buf);
  } else if (!strcmp(cmd, "write") && a) {
    FILE *f = fopen(a, "w");
    if (!f) { report(0, a); return; }
    int ok = fputs("written by the probe\n", f) >= 0;
    ok = (fclose(f) == 0) && ok;
    report(ok, a);
  } else if (!strcmp(cmd, "mkdir") && a) {
    report(mkdir(a, 0755) == 0, a);
  } else if (!strcmp(cmd, "unlink") && a) {
    report(unlink(a) == 0, a);
  } else if (!strcmp(cmd, "symlink") && a && b) {
    report(symlink(a, b) == 0, b);
  } else if (!strcmp(cmd, "list") && a) {
    DIR *d = opendir(a);
    if (!d) { report(0, a); return; }
    printf("OK %s", a);
    for (struct dirent *e; (e = readdir(d));) printf(" %s", e->d_name);
    printf("\n");
    closedir(d);
  } else if (!strcmp(cmd, "call") && a) {
    const char *args = b ? b : "{}";
    int32_t r = ic_call(a, (int32_t)strlen(a), args, (int32_t)strlen(args), buf, sizeof buf - 1);
    int32_t n = r >= 0 ? r : -r - 1;
    if (n >= (int32_t)sizeof buf) n = ic_take(buf, sizeof buf - 1) < 0 ? 0 : n;
    buf[n < (int32_t)sizeof buf ? n : 0] = 0;
    printf("%s %s %s\n", r >= 0 ? "OK" : "ERR", a, buf);
  } else if (!strcmp(cmd, "grow") && a) {
    long want = atol(a), got = 0;
    void **keep = NULL;
    for (; got < want; got++) {
      void **block = malloc(1 << 20);
      if (!block) break;
      memset(block, 1, 1 << 20);
      block[0] = keep;
      keep = block;
    }
    printf("%s grew %ld MiB\n", got == want ? "OK" : "ERR", got);
    fflush(stdout);
    if (got < want) abort();
  } else if (!strcmp(cmd, "loop")) {
    for (volatile int i = 0;; i++) {}
  } else if (!strcmp(cmd, "spew") && a) {
    long n = atol(a);
    memset(buf, 'z', sizeof buf);
    while (n > 0) {
      size_t chunk = n < (long)sizeof buf ? (size_t)n : sizeof buf;
      fwrite(buf, 1, chunk, stdout);
      n -= (long)chunk;
    }
    printf("\nOK spew\n");
  } else {
    printf("ERR unknown command %s\n", cmd);
  }
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  char *task = argv[1];
  while (*task) {
    char *end = strchr(task, '\n');
    size_t len = end ? (size_t)(end - task) : strlen(task);
    char line[4096];
    if (len >= sizeof line) len = sizeof line - 1;
    memcpy(line, task, len);
    line[len] = 0;
    command(line);
    task += end ? (size_t)(end - task) + 1 : strlen(task);
  }
  return 0;
}
