/*
 * bin/berth-runtime: the launcher of the berth-runtime CLI. It records the
 * RLIMIT_NOFILE the caller gave us before Node raises it (the container
 * inherits the caller's limit, as with runc), drops NODE_EXTRA_CA_CERTS (it
 * costs Node 50-80 ms at start and a runtime never needs it), and execs Node on
 * the bundled CLI next to this binary. A shell script did this with three forks.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void fmt_limit(char *buf, size_t len, rlim_t v) {
  if (v == RLIM_INFINITY)
    snprintf(buf, len, "unlimited");
  else
    snprintf(buf, len, "%llu", (unsigned long long)v);
}

int main(int argc, char **argv) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    char soft[32], hard[32], both[72];
    fmt_limit(soft, sizeof soft, rl.rlim_cur);
    fmt_limit(hard, sizeof hard, rl.rlim_max);
    snprintf(both, sizeof both, "%s:%s", soft, hard);
    setenv("BERTH_CALLER_NOFILE", both, 1);
  }
  unsetenv("NODE_EXTRA_CA_CERTS");

  /* <root>/build/Release/berth-runtime -> <root>/dist/berth-runtime.cjs */
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) {
    perror("berth-runtime: readlink /proc/self/exe");
    return 1;
  }
  exe[n] = 0;
  char *slash = strrchr(exe, '/');
  if (slash) *slash = 0;
  char bundle[PATH_MAX + 64];
  snprintf(bundle, sizeof bundle, "%s/../../dist/berth-runtime.cjs", exe);

  char **args = calloc((size_t)argc + 3, sizeof *args);
  if (!args) return 1;
  int k = 0;
  args[k++] = "node";
  args[k++] = bundle;
  for (int i = 1; i < argc; i++) args[k++] = argv[i];
  args[k] = NULL;
  const char *node = getenv("BERTH_NODE");
  if (node && *node)
    execv(node, args);
  else
    execvp("node", args);
  fprintf(stderr, "berth-runtime: cannot run node: %m\n");
  return 127;
}
