/* A WASI preview1 agent in C: counts the words of every file in /docs (a
 * read-only preopen), writes the counts to /out/counts.txt (a writable one),
 * and prints a summary on stdout, which becomes the run's output. It asks the
 * host gate for the file list (one gate call); the files themselves are read
 * through WASI. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../abi/ironclaw.h"

static char reply[65536];

static int gate(const char *op, const char *args) {
  int32_t r = ic_call(op, (int32_t)strlen(op), args, (int32_t)strlen(args), reply, sizeof reply - 1);
  int32_t n = r >= 0 ? r : -r - 1;
  if (n > (int32_t)sizeof reply - 1) return -1; /* would need ic_take: not for this small agent */
  reply[n] = 0;
  return r >= 0 ? 0 : -1;
}

static long count_words(FILE *f) {
  long words = 0;
  int in_word = 0, c;
  while ((c = fgetc(f)) != EOF) {
    if (isspace(c)) in_word = 0;
    else if (!in_word) { in_word = 1; words++; }
  }
  return words;
}

int main(int argc, char **argv) {
  const char *task = argc > 1 ? argv[1] : "";
  ic_log(1, task, (int32_t)strlen(task));
  if (gate("fs.list", "{\"path\":\"docs\"}") != 0) {
    fprintf(stderr, "cannot list docs: %s\n", reply);
    return 1;
  }
  FILE *out = fopen("/out/counts.txt", "w");
  if (!out) { perror("/out/counts.txt"); return 1; }
  long total = 0;
  int files = 0;
  /* The reply is {"entries":[{"name":"a.txt","kind":"file","size":12},...]}: walk the names. */
  for (char *p = strstr(reply, "\"name\":\""); p; p = strstr(p, "\"name\":\"")) {
    p += 8;
    char *end = strchr(p, '"');
    if (!end) break;
    char name[256], path[300];
    size_t len = (size_t)(end - p) < sizeof name - 1 ? (size_t)(end - p) : sizeof name - 1;
    memcpy(name, p, len);
    name[len] = 0;
    snprintf(path, sizeof path, "/docs/%s", name);
    FILE *f = fopen(path, "r");
    if (!f) continue; /* a folder, or a link the sandbox refuses */
    long words = count_words(f);
    fclose(f);
    fprintf(out, "%s %ld\n", name, words);
    total += words;
    files++;
    p = end;
  }
  fclose(out);
  printf("%d files, %ld words; counts in out/counts.txt\n", files, total);
  return 0;
}
